using System.Text.Json;
using System.Text.Json.Serialization;

namespace Cortex.Shared.Contract;

// The wire shape: every field optional so that validation, not the deserializer, names what is wrong.
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
    public string? TraceId { get; set; }
    public Dictionary<string, string>? Attributes { get; set; }
    public int? Attempt { get; set; }
    public DateTimeOffset? EnqueuedAt { get; set; }
    public string? LastError { get; set; }

    [JsonExtensionData]
    public Dictionary<string, JsonElement>? Unknown { get; set; }
}

internal sealed class TemplateDocument
{
    public string? Name { get; set; }
    public string? Language { get; set; }
    public List<string>? Parameters { get; set; }

    [JsonExtensionData]
    public Dictionary<string, JsonElement>? Unknown { get; set; }
}

[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    AllowDuplicateProperties = false,
    MaxDepth = EnvelopeLimits.MaxJsonDepth)]
[JsonSerializable(typeof(EnvelopeDocument))]
internal sealed partial class EnvelopeJsonContext : JsonSerializerContext;
