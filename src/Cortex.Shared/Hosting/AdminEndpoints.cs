using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Cortex.Shared.Contract;
using Cortex.Shared.Queue;
using Cortex.Shared.Redis;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Cortex.Shared.Hosting;

/// <summary>
/// The mutating operations endpoints: POST only, each behind the bearer token Cortex:Observability:AdminToken. Without a
/// token configured they answer 403 and do nothing; the GET endpoints stay open.
/// </summary>
public static partial class AdminEndpoints
{
    private const string Realm = "Bearer realm=\"cortex-admin\"";

    // What ?reason= may be: the reasons a dead letter is written with, and unreadable for an entry that cannot be read.
    private static readonly string[] s_reasons =
    [
        DeadLetterReasons.InvalidEnvelope, DeadLetterReasons.Expired, DeadLetterReasons.Permanent,
        DeadLetterReasons.RetriesExhausted, DeadLetterReasons.Poison, "unreadable",
    ];

    /// <summary>Maps POST <paramref name="pattern"/> to <paramref name="handler"/>, run only for a request with the admin token.</summary>
    public static IEndpointConventionBuilder MapCortexAdmin(this IEndpointRouteBuilder endpoints, string pattern, RequestDelegate handler)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        ArgumentNullException.ThrowIfNull(handler);
        return endpoints.MapPost(pattern, async context =>
        {
            if (!await AuthorizeAsync(context))
            {
                return;
            }

            try
            {
                await handler(context);
            }
            catch (Exception ex) when (ex is RedisException or TimeoutException && !context.Response.HasStarted)
            {
                // An answer the operator can act on, not a bare 500. A connection error's message can carry the endpoint
                // and its password, so only a refusal's own text is shown.
                var path = context.Request.Path.Value ?? string.Empty;
                Log.RedisFailed(Logger(context), path, ex.GetType().Name);
                if (RedisAcl.IsRefusal(ex))
                {
                    await WriteErrorAsync(context, StatusCodes.Status500InternalServerError, $"Redis refused it: {ex.Message}. The Redis user Cortex authenticates as lacks a permission this endpoint needs (see k8s/redis/users.acl)");
                }
                else if (QueueScripts.IsMistypedKey(ex))
                {
                    await WriteErrorAsync(context, StatusCodes.Status409Conflict, $"Redis refused it: {ex.Message}. Something other than Cortex wrote that key; rename it aside as a Redis admin user, not as Cortex's (docs/operations.md, CortexQueueMetricsAbsent)");
                }
                else if (RedisReply.ErrorOf(ex) is { } reply)
                {
                    // OOM, READONLY (a replica), MISCONF, LOADING: Redis answered, and its reason is what the operator needs.
                    await WriteErrorAsync(context, StatusCodes.Status503ServiceUnavailable, $"Redis answered with an error: {reply}. The change may be made in part or not at all; retrying is safe once Redis takes it");
                }
                else
                {
                    await WriteErrorAsync(context, StatusCodes.Status503ServiceUnavailable, $"Redis did not answer ({ex.GetType().Name}); the change may be made in part or not at all. Retrying is safe: pause and resume set a state, requeue and purge act on what is still dead-lettered");
                }
            }
        });
    }

    /// <summary>
    /// POST /admin/dead-letters/requeue and /admin/dead-letters/purge, with the selection of `cortex dlq`; POST
    /// /admin/pause[?reason=] and /admin/resume for every consumer of the queue.
    /// </summary>
    internal static IEndpointRouteBuilder MapAdminEndpoints(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapCortexAdmin("/admin/dead-letters/requeue", RequeueAsync);
        endpoints.MapCortexAdmin("/admin/dead-letters/purge", PurgeAsync);
        endpoints.MapCortexAdmin("/admin/pause", PauseAsync);
        endpoints.MapCortexAdmin("/admin/resume", ResumeAsync);
        return endpoints;
    }

    /// <summary>The longest pause reason kept: it is shown on every scrape of the state and in the log.</summary>
    public const int MaxPauseReasonLength = 200;

    // Every sender of the queue, on every pod, stops leasing within its idle poll; sends in flight finish. Producers and
    // the scheduler keep enqueueing: the backlog waits in Redis, visible on the queue depth.
    private static async Task PauseAsync(HttpContext context)
    {
        // An empty reason takes the default: a runbook's unset $REASON must not stop a pause in an incident.
        if (!await OnlyAsync(context, mayBeEmpty: "reason", "reason"))
        {
            return;
        }

        var reason = Single(context.Request.Query, "reason") ?? "paused by an operator";
        if (reason.Length > MaxPauseReasonLength || reason.Any(char.IsControl))
        {
            await WriteErrorAsync(context, StatusCodes.Status400BadRequest, $"reason: at most {MaxPauseReasonLength} characters, no control characters");
            return;
        }

        var queue = context.RequestServices.GetRequiredService<IMessageQueue>();
        await queue.SetPausedAsync(reason);
        // Free text an operator typed, which may quote a customer's number: masked in the log, as everywhere else.
        Log.Paused(Logger(context), queue.Keys.Name, Privacy.PhoneMask.MaskNumbersIn(reason)!);
        await WritePauseAsync(context, reason);
    }

    private static async Task ResumeAsync(HttpContext context)
    {
        if (!await OnlyAsync(context, mayBeEmpty: null))
        {
            return;
        }

        var queue = context.RequestServices.GetRequiredService<IMessageQueue>();
        await queue.SetPausedAsync(null);
        Log.Resumed(Logger(context), queue.Keys.Name);
        await WritePauseAsync(context, null);
    }

    private static async Task WritePauseAsync(HttpContext context, string? reason)
    {
        context.Response.ContentType = "application/json; charset=utf-8";
        await using var writer = new Utf8JsonWriter(context.Response.Body);
        writer.WriteStartObject();
        writer.WriteBoolean("paused", reason is not null);
        if (reason is not null)
        {
            writer.WriteString("reason", reason);
        }

        writer.WriteEndObject();
        await writer.FlushAsync(context.RequestAborted);
    }

    private static async Task<bool> AuthorizeAsync(HttpContext context)
    {
        var token = context.RequestServices.GetRequiredService<IOptions<ObservabilityOptions>>().Value.AdminToken;
        var logger = Logger(context);
        if (token.Length == 0)
        {
            Log.Disabled(logger, context.Request.Path.Value ?? string.Empty);
            await WriteErrorAsync(context, StatusCodes.Status403Forbidden, "admin endpoints are disabled: set Cortex:Observability:AdminToken");
            return false;
        }

        var (sent, valid) = Check(context.Request.Headers.Authorization.ToString(), token);
        if (!valid)
        {
            // Whether a token was sent, never any part of it.
            Log.Refused(logger, context.Request.Path.Value ?? string.Empty, sent ? "wrong token" : "no bearer token");
            context.Response.Headers.WWWAuthenticate = sent ? Realm + ", error=\"invalid_token\"" : Realm;
            await WriteErrorAsync(
                context,
                StatusCodes.Status401Unauthorized,
                sent
                    ? "wrong token: the bearer token is not this pod's Cortex:Observability:AdminToken (a pod reads it at start: rotated since?)"
                    : "a bearer token is required: Authorization: Bearer <Cortex:Observability:AdminToken>");
            return false;
        }

        return true;
    }

    private static (bool Sent, bool Valid) Check(string header, string token)
    {
        var given = header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) ? header.AsSpan(7).Trim() : [];
        return given.IsEmpty ? (false, false) : (true, TokenEquals(given, token));
    }

    // Hashing first makes the comparison independent of the lengths too: FixedTimeEquals returns at once on a length
    // mismatch, which would tell a caller how long the token is.
    private static bool TokenEquals(ReadOnlySpan<char> given, string expected) =>
        CryptographicOperations.FixedTimeEquals(SHA256.HashData(Encoding.UTF8.GetBytes(given.ToArray())), SHA256.HashData(Encoding.UTF8.GetBytes(expected)));

    private static async Task RequeueAsync(HttpContext context)
    {
        if (await SelectAsync(context) is not { } match)
        {
            return;
        }

        var admin = context.RequestServices.GetRequiredService<DeadLetterAdmin>();
        var (matched, requeued) = await admin.ActOldestFirstAsync(match, admin.RequeueAsync, cancellationToken: context.RequestAborted);
        Log.Requeued(Logger(context), requeued, matched);
        await WriteResultAsync(context, "requeued", matched, requeued);
    }

    private static async Task PurgeAsync(HttpContext context)
    {
        if (await SelectAsync(context) is not { } match)
        {
            return;
        }

        var admin = context.RequestServices.GetRequiredService<DeadLetterAdmin>();
        var (matched, purged) = await admin.ActOldestFirstAsync(match, admin.PurgeAsync, cancellationToken: context.RequestAborted);
        Log.Purged(Logger(context), purged, matched);
        await WriteResultAsync(context, "purged", matched, purged);
    }

    // As `cortex dlq requeue|purge`: exactly one of ?messageId=, ?all=true, or filters (?reason=, ?kind=), so an empty
    // POST never acts on the whole list by accident.
    private static async Task<Func<DeadLetterRecord, bool>?> SelectAsync(HttpContext context)
    {
        if (!await OnlyAsync(context, mayBeEmpty: null, "messageId", "reason", "kind", "all"))
        {
            return null;
        }

        var query = context.Request.Query;
        var id = Single(query, "messageId");
        var reason = Single(query, "reason");
        var kind = Single(query, "kind");
        var all = string.Equals(Single(query, "all"), "true", StringComparison.OrdinalIgnoreCase);
        var filtered = reason is not null || kind is not null;
        if ((id is not null ? 1 : 0) + (all ? 1 : 0) + (filtered ? 1 : 0) != 1)
        {
            await WriteErrorAsync(context, StatusCodes.Status400BadRequest, "say which dead letters: ?messageId=, ?all=true, or filters (?reason=, ?kind=), and only one of these");
            return null;
        }

        // A misspelt reason (?reason=retries_exhaused, ?reason=Poison) would match nothing and answer 200: read as
        // "nothing to requeue" in an incident. `cortex dlq --reason` refuses it too.
        if (reason is not null && !s_reasons.Contains(reason, StringComparer.Ordinal))
        {
            await WriteErrorAsync(context, StatusCodes.Status400BadRequest, $"reason '{Shown(reason)}' is not a dead-letter reason: one of {string.Join(", ", s_reasons)}. Nothing was changed");
            return null;
        }

        Func<DeadLetterRecord, bool> match = id is not null
            ? r => string.Equals(r.Entry?.MessageId, id, StringComparison.Ordinal)
            : all
                ? _ => true
                : r => (reason is null || string.Equals(r.Entry?.Reason ?? "unreadable", reason, StringComparison.Ordinal))
                    && (kind is null || string.Equals(r.Entry?.Kind, kind, StringComparison.Ordinal));
        return match;
    }

    // A parameter this endpoint does not read, one given twice, or one given empty is refused before anything changes:
    // ignored, the cortex dlq habits ?olderThan=7d or ?dryRun=true would purge or requeue more than was asked, for good,
    // and so would a runbook's ?reason=poison&kind=$KIND with $KIND unset (every kind's poison purged).
    private static async Task<bool> OnlyAsync(HttpContext context, string? mayBeEmpty, params string[] known)
    {
        foreach (var (key, values) in context.Request.Query)
        {
            var error = !known.Contains(key, StringComparer.Ordinal)
                ? $"unknown parameter '{Shown(key)}': this endpoint takes {(known.Length == 0 ? "none" : string.Join(", ", known))}; nothing was changed"
                : values.Count > 1 ? $"parameter '{key}' is given {values.Count} times; give it once. Nothing was changed"
                : string.IsNullOrWhiteSpace(values[0]) && key != mayBeEmpty ? $"parameter '{key}' is empty: give it a value or leave it out. Nothing was changed" : null;
            if (error is not null)
            {
                await WriteErrorAsync(context, StatusCodes.Status400BadRequest, error);
                return false;
            }
        }

        return true;
    }

    // A parameter name as the answer shows it: bounded, and without control characters.
    private static string Shown(string key) =>
        new([.. ShownName.Cut(key).Select(c => char.IsControl(c) ? '?' : c)]);

    private static string? Single(IQueryCollection query, string key) =>
        query.TryGetValue(key, out var values) && values.Count > 0 && !string.IsNullOrEmpty(values[0]) ? values[0] : null;

    private static async Task WriteResultAsync(HttpContext context, string action, int matched, int done)
    {
        context.Response.ContentType = "application/json; charset=utf-8";
        await using var writer = new Utf8JsonWriter(context.Response.Body);
        writer.WriteStartObject();
        writer.WriteNumber("matched", matched);
        writer.WriteNumber(action, done);

        // Requeued or purged by someone else meanwhile, or (requeue) an unreadable entry without a payload.
        writer.WriteNumber("skipped", matched - done);
        writer.WriteEndObject();
        await writer.FlushAsync(context.RequestAborted);
    }

    private static async Task WriteErrorAsync(HttpContext context, int status, string error)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json; charset=utf-8";
        await using var writer = new Utf8JsonWriter(context.Response.Body);
        writer.WriteStartObject();
        writer.WriteString("error", error);
        writer.WriteEndObject();
        await writer.FlushAsync(context.RequestAborted);
    }

    private static ILogger Logger(HttpContext context) =>
        context.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(AdminEndpoints).FullName!);

    private static partial class Log
    {
        [LoggerMessage(3107, LogLevel.Error, "Admin request to {Path} failed on Redis ({Error}); answered with the error")]
        public static partial void RedisFailed(ILogger logger, string path, string error);

        [LoggerMessage(3101, LogLevel.Warning, "Admin request to {Path} refused: {Reason}")]
        public static partial void Refused(ILogger logger, string path, string reason);

        [LoggerMessage(3102, LogLevel.Warning, "Admin request to {Path} refused: admin endpoints are disabled (Cortex:Observability:AdminToken is empty)")]
        public static partial void Disabled(ILogger logger, string path);

        [LoggerMessage(3103, LogLevel.Information, "Requeued {Requeued} of {Matched} matching dead letters through the admin endpoint")]
        public static partial void Requeued(ILogger logger, int requeued, int matched);

        [LoggerMessage(3104, LogLevel.Information, "Purged {Purged} of {Matched} matching dead letters through the admin endpoint")]
        public static partial void Purged(ILogger logger, int purged, int matched);

        [LoggerMessage(3105, LogLevel.Warning, "Queue {Queue} paused through the admin endpoint: {Reason}; no consumer leases until POST /admin/resume")]
        public static partial void Paused(ILogger logger, string queue, string reason);

        [LoggerMessage(3106, LogLevel.Information, "Queue {Queue} resumed through the admin endpoint")]
        public static partial void Resumed(ILogger logger, string queue);
    }
}
