using System.Globalization;
using System.Text.Json;

namespace Cortex.Sender.Gateways.Cloud;

/// <summary>
/// Graph API error codes to outcomes, per Meta's error-code reference. Used by the Cloud API adapter and by the Evolution
/// adapter, whose Cloud-API channel passes Meta's error object through.
/// </summary>
internal static class MetaErrors
{
    // The pair rate limit allows about one message every 6 s to the same recipient.
    private static readonly TimeSpan PairRateInterval = TimeSpan.FromSeconds(6);

    public static GatewayResult Classify(MetaError error, int httpStatus, string? secret)
    {
        var code = error.Code ?? 0;
        var detail = GatewayText.Clean(error.ErrorData?.Details ?? error.Message, secret);
        var why = detail.Length == 0 ? $"(code {code})" : $"(code {code}: {detail})";
        return code switch
        {
            130429 => GatewayResult.Throttled($"throughput limit reached {why}"),
            131056 => GatewayResult.RecipientThrottled($"pair rate limit: too many messages to this recipient {why}", PairRateInterval),
            // The app's or the business account's call rate (Meta: "wait and retry"), for every send alike. As retryable
            // answers they took the short retries at 200 and 400 ms, spent an attempt each and counted toward the outage
            // breaker: a limit lasting the long schedule dead-lettered the queue. Slowed as under 130429 and 613 instead.
            4 or 80007 => GatewayResult.Throttled($"app or account call rate limit {why}"),

            // "Calls to this api have exceeded the rate limit": Meta answers it under a 429, where it slowed the whole
            // sender, and Evolution's Cloud-API channel passes it under a 201, where as an unknown code it was dead-lettered.
            613 => GatewayResult.Throttled($"API call rate limit {why}"),
            131057 or 131016 or 131000 or 2 => GatewayResult.Retryable($"provider unavailable {why}"),
            131048 => GatewayResult.ConfigurationError($"spam rate limit: stop sending and alert {why}"),
            368 => GatewayResult.Permanent($"policy block: needs a person {why}"),
            131026 => GatewayResult.Permanent($"undeliverable: not on WhatsApp {why}"),
            131047 => GatewayResult.Permanent($"outside the 24 h window: send a template {why}"),
            190 or 10 or 3 => GatewayResult.ConfigurationError($"access token rejected or lacks permission {why}"),

            // Refusals of the business account, not of the message (Meta's error reference): every send gets them until a
            // person acts in Business Manager. As unknown codes they were Permanent and dead-lettered the whole queue.
            131031 => GatewayResult.ConfigurationError($"business account locked {why}"),
            131042 => GatewayResult.ConfigurationError($"business account payment problem {why}"),
            133010 => GatewayResult.ConfigurationError($"business phone number not registered {why}"),

            // "Object with ID ... does not exist, cannot be loaded due to missing permissions": the phone number id, not the
            // message. Every send gets it, so as Permanent it dead-lettered the whole queue at full speed.
            100 when error.ErrorSubcode == 33 => GatewayResult.ConfigurationError($"phone number id unknown or not open to this token {why}"),
            100 => GatewayResult.Permanent($"invalid parameter {why}"),
            >= 132000 and <= 132999 => GatewayResult.Permanent($"template mismatch {why}"),

            // Meta says so in the error itself; through Evolution's Cloud-API channel the HTTP status (201) says nothing.
            _ when error.IsTransient == true => GatewayResult.Retryable($"transient provider error {why}"),
            _ => Unknown(httpStatus, why),
        };
    }

    /// <summary>
    /// A Graph API error object read field by field; null without a numeric <c>code</c>. A typed parse failed on one field
    /// of a type the docs do not give (<c>error_subcode</c> as a string, <c>error_data</c> as a string), and Meta's refusal
    /// of one recipient then read as "not the API's JSON": a configuration pause with a misleading alert.
    /// </summary>
    public static MetaError? Read(JsonElement error)
    {
        if (error.ValueKind != JsonValueKind.Object || Int(error, "code") is not { } code)
        {
            return null;
        }

        return new MetaError
        {
            Code = code,
            ErrorSubcode = Int(error, "error_subcode"),
            Message = Text(error, "message"),
            Type = Text(error, "type"),
            IsTransient = error.TryGetProperty("is_transient", out var transient) && transient.ValueKind == JsonValueKind.True ? true : null,
            ErrorData = error.TryGetProperty("error_data", out var data) && Text(data, "details") is { } details ? new MetaErrorData { Details = details } : null,
        };

        static string? Text(JsonElement e, string name) =>
            e.ValueKind == JsonValueKind.Object && e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

        static int? Int(JsonElement e, string name) =>
            !e.TryGetProperty(name, out var v) ? null
            : v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out var n) ? n
            : v.ValueKind == JsonValueKind.String && int.TryParse(v.GetString(), NumberStyles.None, CultureInfo.InvariantCulture, out var s) ? s
            : null;
    }

    private static GatewayResult Unknown(int httpStatus, string why) => httpStatus switch
    {
        429 => GatewayResult.Throttled($"HTTP 429 {why}"),
        401 or 403 => GatewayResult.ConfigurationError($"HTTP {httpStatus}: credentials rejected {why}"),
        408 or >= 500 => GatewayResult.Retryable($"HTTP {httpStatus} {why}"),

        // A readable refusal with a code Cortex does not know: the request was judged and rejected, so do not burn retries on it.
        _ => GatewayResult.Permanent($"provider error {why}"),
    };
}
