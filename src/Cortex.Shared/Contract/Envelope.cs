namespace Cortex.Shared.Contract;

/// <summary>
/// A validated outbound WhatsApp message: version 1 of the public envelope, or version 2, which is version 1 with
/// <see cref="QuietHours"/>.
/// </summary>
public sealed record Envelope
{
    /// <summary>The version every producer may write, and Cortex writes for a message without quiet hours.</summary>
    public const int FirstVersion = 1;

    /// <summary>Version 1 plus <c>quietHours</c>: what Cortex writes for a message that carries them.</summary>
    public const int QuietHoursVersion = 2;

    /// <summary>Idempotency key: a message id already sent is not sent again.</summary>
    public required string Id { get; init; }

    /// <summary>Recipient in E.164 with the leading '+', e.g. +5511999999999.</summary>
    public required string To { get; init; }

    public string? Text { get; init; }

    public MessageTemplate? Template { get; init; }

    public string? Kind { get; init; }

    public string? Tenant { get; init; }

    public Priority Priority { get; init; } = Priority.Normal;

    public DateTimeOffset? NotBefore { get; init; }

    public DateTimeOffset? ExpiresAt { get; init; }

    /// <summary>
    /// Hours this message must not be sent in: one still unsent when they begin waits for their end, whenever it was
    /// decided (a campaign draining past 21:00, a retry due at night).
    /// </summary>
    public QuietHoursWindow? QuietHours { get; init; }

    public string? TraceId { get; init; }

    public IReadOnlyDictionary<string, string>? Attributes { get; init; }

    /// <summary>Engine-owned: failed send attempts so far (0 on first delivery).</summary>
    public int Attempt { get; init; }

    /// <summary>Engine-owned: when the message first entered Cortex; the start of end-to-end latency.</summary>
    public DateTimeOffset? EnqueuedAt { get; init; }

    /// <summary>Engine-owned: the last error that caused a retry.</summary>
    public string? LastError { get; init; }

    /// <summary>The recipient as digits only, the form gateways want.</summary>
    public string ToDigits => To[1..];
}
