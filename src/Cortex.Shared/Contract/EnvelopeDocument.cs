using System.Text.Json.Serialization;

namespace Cortex.Shared.Contract;

// The wire shape: every field optional so that validation, not the reader, names what is wrong. EnvelopeReader fills
// it from the wire; the source-generated serializer writes it.
internal sealed class EnvelopeDocument
{
    public int? Version { get; set; }
    public string? Id { get; set; }
    public string? To { get; set; }
    public string? Text { get; set; }
    public TemplateDocument? Template { get; set; }
    public string? Kind { get; set; }
    public string? Tenant { get; set; }
    public string? Priority { get; set; }
    public DateTimeOffset? NotBefore { get; set; }
    public DateTimeOffset? ExpiresAt { get; set; }
    public string? QuietHours { get; set; }
    public string? TraceId { get; set; }
    public Dictionary<string, string>? Attributes { get; set; }
    public int? Attempt { get; set; }
    public DateTimeOffset? EnqueuedAt { get; set; }
    public string? LastError { get; set; }

    // The first member the contract does not know, reported after the rest reads without error; never written.
    [JsonIgnore]
    public string? UnknownField { get; set; }
}

internal sealed class TemplateDocument
{
    public string? Name { get; set; }
    public string? Language { get; set; }
    public List<string>? Parameters { get; set; }

    [JsonIgnore]
    public string? UnknownField { get; set; }
}

// Writing only: reading is EnvelopeReader's, which enforces the duplicate and depth rules itself.
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(EnvelopeDocument))]
internal sealed partial class EnvelopeJsonContext : JsonSerializerContext;
