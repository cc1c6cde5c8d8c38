namespace Cortex.Sender.Gateways;

/// <summary>How the gateway answered, which decides what happens to the message.</summary>
public enum GatewayOutcome
{
    /// <summary>Accepted by the provider: ack.</summary>
    Accepted,

    /// <summary>Transient fault (5xx, disconnected instance, timeout, overload): retry, first in process, then on the long schedule.</summary>
    Retryable,

    /// <summary>The provider asked us to slow down (429, 130429, rate-overlimit): pause the gateway, resend without counting an attempt.</summary>
    Throttled,

    /// <summary>
    /// The provider limits messages to this one recipient (Meta 131056, the pair rate limit): park the message for
    /// RetryAfter without counting an attempt. Not a fault of the gateway, and no reason to slow the other recipients.
    /// </summary>
    RecipientThrottled,

    /// <summary>Will never succeed for this message (not on WhatsApp, bad template, policy block): dead-letter now.</summary>
    Permanent,

    /// <summary>Our configuration is wrong (401, 404 unknown instance, auth token): stop sending and alert; the message waits.</summary>
    ConfigurationError,
}

/// <summary>
/// The classified answer of a gateway; <see cref="Error"/> is a short text safe to log and to store in the DLQ.
/// <see cref="Unanswered"/> marks a retryable failure after the request may have reached the gateway (the connection
/// dropped before the answer): the message may have been delivered, so a resend may duplicate it.
/// </summary>
public readonly record struct GatewayResult(
    GatewayOutcome Outcome,
    string? ProviderMessageId = null,
    string? Error = null,
    TimeSpan? RetryAfter = null,
    bool Unanswered = false)
{
    public static GatewayResult Accepted(string? providerMessageId) => new(GatewayOutcome.Accepted, providerMessageId);

    public static GatewayResult Retryable(string error, TimeSpan? retryAfter = null) => new(GatewayOutcome.Retryable, null, error, retryAfter);

    /// <summary>Retryable, but the request may have reached the gateway before the exchange broke off.</summary>
    public static GatewayResult NoAnswer(string error) => new(GatewayOutcome.Retryable, null, error, null, Unanswered: true);

    public static GatewayResult Throttled(string error, TimeSpan? retryAfter = null) => new(GatewayOutcome.Throttled, null, error, retryAfter);

    public static GatewayResult RecipientThrottled(string error, TimeSpan retryAfter) => new(GatewayOutcome.RecipientThrottled, null, error, retryAfter);

    public static GatewayResult Permanent(string error) => new(GatewayOutcome.Permanent, null, error);

    public static GatewayResult ConfigurationError(string error) => new(GatewayOutcome.ConfigurationError, null, error);
}
