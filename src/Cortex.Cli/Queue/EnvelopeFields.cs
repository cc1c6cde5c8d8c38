using System.Globalization;
using Cortex.Shared.Contract;

namespace Cortex.Cli.Queue;

/// <summary>
/// An envelope as an operator types it (options, or a CSV row): plain strings, checked with the sender's own rules.
/// Errors read as "field: reason", the field named as the operator wrote it.
/// </summary>
internal sealed record EnvelopeFields
{
    public string? Id { get; init; }

    public string? To { get; init; }

    public string? Text { get; init; }

    public string? Template { get; init; }

    public string? Language { get; init; }

    public IReadOnlyList<string> Parameters { get; init; } = [];

    public string? Kind { get; init; }

    public string? Tenant { get; init; }

    public string? Priority { get; init; }

    public string? NotBefore { get; init; }

    public string? ExpiresAt { get; init; }

    public string? QuietHours { get; init; }

    public string? TraceId { get; init; }

    public const string DefaultLanguage = "pt_BR";

    /// <summary>The validated envelope (phone normalised to +E.164), or the first error.</summary>
    public (Envelope? Envelope, string? Error) Build(FieldNames names)
    {
        if (string.IsNullOrEmpty(Id))
        {
            return (null, $"{names.Id}: is required (the idempotency key: the same id is sent once)");
        }

        if (string.IsNullOrEmpty(To))
        {
            return (null, $"{names.To}: is required (E.164 phone number, e.g. +5511999999999)");
        }

        if (Template is null && Parameters.Count > 0)
        {
            return (null, $"{names.Parameters}: template parameters need a template");
        }

        if (!TryParsePriority(Priority, out var priority))
        {
            return (null, $"{names.Priority}: must be one of high, normal, low");
        }

        if (NotBefore is not null && !Input.TryParseInstant(NotBefore, out _))
        {
            return (null, $"{names.NotBefore}: must be an ISO-8601 instant with an offset, e.g. 2026-11-23T09:00:00-03:00");
        }

        if (ExpiresAt is not null && !Input.TryParseInstant(ExpiresAt, out _))
        {
            return (null, $"{names.ExpiresAt}: must be an ISO-8601 instant with an offset, e.g. 2026-11-23T12:00:00-03:00");
        }

        QuietHoursWindow? quietHours = null;
        if (QuietHours is not null && !QuietHoursWindow.TryParse(QuietHours, out quietHours, out var quietError))
        {
            return (null, $"{names.QuietHours}: {quietError}");
        }

        var envelope = new Envelope
        {
            Id = Id,
            To = To,
            Text = Text,
            Template = Template is null ? null : new MessageTemplate(Template, Language ?? DefaultLanguage, Parameters),
            Kind = Kind,
            Tenant = Tenant,
            Priority = priority,
            NotBefore = Input.TryParseInstant(NotBefore, out var nb) ? nb : null,
            ExpiresAt = Input.TryParseInstant(ExpiresAt, out var ea) ? ea : null,
            QuietHours = quietHours,
            TraceId = TraceId,
        };

        // Round trip through the wire format: the exact checks the sender makes, and the normalised phone.
        var parsed = EnvelopeCodec.Parse(EnvelopeCodec.Serialize(envelope));
        return parsed.Envelope is { } valid ? (valid, null) : (null, names.Rename(parsed.Error!).ToString());
    }

    /// <summary>
    /// Why <paramref name="envelope"/> is not worth enqueueing at <paramref name="now"/>: its expiry has come, and the sender
    /// would dead-letter it as expired within seconds, unsent. Null when it has no expiry or one still ahead.
    /// </summary>
    public static string? Expired(Envelope envelope, DateTimeOffset now, string field) =>
        envelope.ExpiresAt is { } expiresAt && expiresAt <= now
            ? $"{field}: {expiresAt.ToString("yyyy-MM-dd'T'HH:mm:ssK", CultureInfo.InvariantCulture)} has already passed (it is {now.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture)}): it would be dead-lettered as expired, unsent"
            : null;

    private static bool TryParsePriority(string? value, out Priority priority)
    {
        switch (value)
        {
            case null or "" or "normal":
                priority = Shared.Contract.Priority.Normal;
                return true;
            case "high":
                priority = Shared.Contract.Priority.High;
                return true;
            case "low":
                priority = Shared.Contract.Priority.Low;
                return true;
            default:
                priority = Shared.Contract.Priority.Normal;
                return false;
        }
    }
}

/// <summary>How the operator's input names each envelope field: options (--not-before) or CSV columns (not_before).</summary>
internal sealed record FieldNames(string Id, string To, string Text, string Template, string Language, string Parameters, string Kind, string Tenant, string Priority, string NotBefore, string ExpiresAt, string QuietHours, string TraceId)
{
    public static FieldNames Options { get; } = new("--id", "--to", "--text", "--template", "--language", "--param", "--kind", "--tenant", "--priority", "--not-before", "--expires-at", "--quiet-hours", "--trace-id");

    public static FieldNames Csv { get; } = new("id", "to", "text", "template", "language", "param1..", "kind", "tenant", "priority", "not_before", "expires_at", "quiet_hours", "trace_id");

    /// <summary>An envelope error with its wire field (notBefore, template.name) renamed to what the operator wrote.</summary>
    public EnvelopeError Rename(EnvelopeError error)
    {
        ArgumentNullException.ThrowIfNull(error);
        var field = error.Field switch
        {
            "id" => Id,
            "to" => To,
            "text" => Text,
            "template" or "template.name" => Template,
            "template.language" => Language,
            var f when f.StartsWith("template.parameters", StringComparison.Ordinal) => Parameters,
            "kind" => Kind,
            "tenant" => Tenant,
            "priority" => Priority,
            "notBefore" => NotBefore,
            "expiresAt" => ExpiresAt,
            "quietHours" => QuietHours,
            "traceId" => TraceId,
            var f => f,
        };
        return error with { Field = field };
    }
}
