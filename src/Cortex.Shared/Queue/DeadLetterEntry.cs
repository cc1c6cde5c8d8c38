using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;

namespace Cortex.Shared.Queue;

/// <summary>Dead-letter reasons: a small fixed set, safe as metric labels.</summary>
public static class DeadLetterReasons
{
    public const string InvalidEnvelope = "invalid_envelope";
    public const string Expired = "expired";
    public const string Permanent = "permanent_failure";
    public const string RetriesExhausted = "retries_exhausted";
    public const string Poison = "poison";
}

/// <summary>One dead letter: why, how many tries, the last error, when, and the original payload untouched.</summary>
public sealed record DeadLetterEntry
{
    public required string Reason { get; init; }

    public required string Detail { get; init; }

    public string? MessageId { get; init; }

    public string? Kind { get; init; }

    public int Attempts { get; init; }

    public int Deliveries { get; init; }

    public string? LastError { get; init; }

    public DateTimeOffset DeadAt { get; init; }

    /// <summary>The payload exactly as it was received, when it is valid UTF-8.</summary>
    public string? Payload { get; init; }

    /// <summary>The payload's bytes when they are not valid UTF-8, so nothing is lost.</summary>
    public string? PayloadBase64 { get; init; }

    /// <summary>Builds an entry keeping the payload byte-exact.</summary>
    public static DeadLetterEntry Create(string reason, string detail, ReadOnlySpan<byte> payload, DateTimeOffset deadAt) =>
        TryDecode(payload, out var text)
            ? new DeadLetterEntry { Reason = reason, Detail = detail, DeadAt = deadAt, Payload = text }
            : new DeadLetterEntry { Reason = reason, Detail = detail, DeadAt = deadAt, PayloadBase64 = Convert.ToBase64String(payload) };

    /// <summary>The original payload bytes, for requeue.</summary>
    public byte[] PayloadBytes() =>
        PayloadBase64 is not null ? Convert.FromBase64String(PayloadBase64) : Encoding.UTF8.GetBytes(Payload ?? string.Empty);

    public byte[] ToJson() => JsonSerializer.SerializeToUtf8Bytes(this, s_writer);

    /// <summary>
    /// The entry as Cortex stores it in the dead-letter list: this entry's JSON on one line, without a payload, a newline,
    /// then <paramref name="payload"/>'s bytes as they are. Nothing is decoded, escaped or base64-encoded, so the entry
    /// costs the payload's size plus a small header whatever the payload holds; in the JSON form a payload of control
    /// characters took six times its size (<c>\u0001</c>) and one that is not UTF-8 a third more. <see cref="FromJson"/>
    /// reads both forms.
    /// </summary>
    public byte[] ToStored(ReadOnlySpan<byte> payload)
    {
        var header = JsonSerializer.SerializeToUtf8Bytes(this with { Payload = null, PayloadBase64 = null }, s_writer);
        var stored = new byte[header.Length + 1 + payload.Length];
        header.CopyTo(stored, 0);
        stored[header.Length] = (byte)'\n';
        payload.CopyTo(stored.AsSpan(header.Length + 1));
        return stored;
    }

    // Readable in redis-cli: the payload inside is JSON too, and escaping every quote as \u0022 makes it unreadable.
    private static readonly JsonTypeInfo<DeadLetterEntry> s_writer = (JsonTypeInfo<DeadLetterEntry>)new JsonSerializerOptions(DeadLetterJsonContext.Default.Options)
    {
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    }.GetTypeInfo(typeof(DeadLetterEntry));

    /// <summary>
    /// Reads a stored entry: a JSON object without the payload, a newline, then the payload's raw bytes (the form
    /// <see cref="ToStored"/>, the lease's oversized dead letters and the recovery's poison ones write), or one JSON object
    /// with the payload inside (the form of entries written before, and of <see cref="ToJson"/>). Cortex writes JSON on one
    /// line, so the first newline can only be that separator. Null when the stored value is neither.
    /// </summary>
    public static DeadLetterEntry? FromJson(ReadOnlySpan<byte> stored)
    {
        var newline = stored.IndexOf((byte)'\n');
        if (newline > 0 && Deserialize(stored[..newline]) is { Payload: null, PayloadBase64: null } header)
        {
            var payload = stored[(newline + 1)..];
            return TryDecode(payload, out var text) ? header with { Payload = text } : header with { PayloadBase64 = Convert.ToBase64String(payload) };
        }

        return Deserialize(stored);
    }

    private static DeadLetterEntry? Deserialize(ReadOnlySpan<byte> json)
    {
        try
        {
            return JsonSerializer.Deserialize(json, DeadLetterJsonContext.Default.DeadLetterEntry);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    // Checked before decoding: a payload that is not UTF-8 is common in bad input, and a decoder exception costs more than the check.
    private static bool TryDecode(ReadOnlySpan<byte> bytes, out string text)
    {
        if (!System.Text.Unicode.Utf8.IsValid(bytes))
        {
            text = string.Empty;
            return false;
        }

        text = Encoding.UTF8.GetString(bytes);
        return true;
    }
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(DeadLetterEntry))]
internal sealed partial class DeadLetterJsonContext : JsonSerializerContext;
