using System.Text.Json.Serialization;

namespace Cortex.Sender.Gateways;

// Wire shapes of the two HTTP gateways (Evolution API v2, WhatsApp Cloud API). Source-generated so the hot path
// neither reflects nor builds converters at run time; nulls are omitted as both APIs expect.

/// <summary>Evolution API v2 sendText body.</summary>
internal sealed class EvolutionTextRequest
{
    public required string Number { get; init; }

    public required string Text { get; init; }
}

/// <summary>Evolution API v2 sendTemplate body (Cloud-API-channel instances only).</summary>
internal sealed class EvolutionTemplateRequest
{
    public required string Number { get; init; }

    public required string Name { get; init; }

    public required string Language { get; init; }

    public IReadOnlyList<TemplateComponent>? Components { get; init; }
}

/// <summary>A Meta template component; Cortex fills only the body's text parameters.</summary>
internal sealed class TemplateComponent
{
    public string Type { get; init; } = "body";

    public required IReadOnlyList<TemplateParameter> Parameters { get; init; }

    /// <summary>
    /// The language code as WhatsApp names its templates' languages: <c>pt_BR</c>, never <c>pt-BR</c>. The envelope takes
    /// either (a producer writing BCP 47 tags); sent with a hyphen, every such template failed as not found (132001).
    /// </summary>
    public static string LanguageCode(string language) => language.Replace('-', '_');

    /// <summary>The body component for these parameters, or null when there are none (Meta rejects an empty list).</summary>
    public static IReadOnlyList<TemplateComponent>? BodyFor(IReadOnlyList<string> parameters)
    {
        if (parameters.Count == 0)
        {
            return null;
        }

        var items = new TemplateParameter[parameters.Count];
        for (var i = 0; i < items.Length; i++)
        {
            items[i] = new TemplateParameter { Text = parameters[i] };
        }

        return [new TemplateComponent { Parameters = items }];
    }
}

internal sealed class TemplateParameter
{
    public string Type { get; init; } = "text";

    public required string Text { get; init; }
}

/// <summary>WhatsApp Cloud API POST /messages body.</summary>
internal sealed class CloudMessageRequest
{
    public string MessagingProduct { get; init; } = "whatsapp";

    public required string To { get; init; }

    public required string Type { get; init; }

    public CloudText? Text { get; init; }

    public CloudTemplate? Template { get; init; }
}

internal sealed class CloudText
{
    public required string Body { get; init; }
}

internal sealed class CloudTemplate
{
    public required string Name { get; init; }

    public required CloudLanguage Language { get; init; }

    public IReadOnlyList<TemplateComponent>? Components { get; init; }
}

internal sealed class CloudLanguage
{
    public required string Code { get; init; }
}

/// <summary>A Graph API error object; also what Evolution's Cloud-API channel passes through in a 2xx body.</summary>
internal sealed class MetaError
{
    public int? Code { get; init; }

    public int? ErrorSubcode { get; init; }

    public string? Message { get; init; }

    public string? Type { get; init; }

    public bool? IsTransient { get; init; }

    public MetaErrorData? ErrorData { get; init; }
}

internal sealed class MetaErrorData
{
    public string? Details { get; init; }
}

[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(EvolutionTextRequest))]
[JsonSerializable(typeof(EvolutionTemplateRequest))]
[JsonSerializable(typeof(CloudMessageRequest))]
internal sealed partial class GatewayJsonContext : JsonSerializerContext;
