using System.Globalization;
using System.Text;
using Cortex.Shared.Contract;

namespace Cortex.Scheduler.Templates;

/// <summary>
/// Renders one template with a message's variables: the body as WhatsApp text, or, when the template names an
/// approved WhatsApp template, that template with the listed variables as its parameters.
/// Placeholders are {variable} or {variable|fallback}; the fallback stands in for a value the row lacks or has blank
/// (a customer without a name: "Olá {name|cliente}"). Without one, a message whose template needs a variable its row
/// lacks is refused, never sent with the placeholder in it; a blank value renders blank in a text, and is refused as
/// a WhatsApp template parameter, which WhatsApp would refuse.
/// </summary>
public sealed class MessageRenderer
{
    private readonly TemplateDefinition _definition;

    internal MessageRenderer(TemplateDefinition definition) => _definition = definition;

    /// <summary>True when the message goes out as an approved WhatsApp template (allowed outside the 24-hour window).</summary>
    public bool IsWhatsAppTemplate => _definition.WhatsAppName is not null;

    public string Key => _definition.Key;

    /// <summary>The row's tenant: the message's own, or the empty name of the default tenant when it has no row of its own.</summary>
    internal string Tenant => _definition.Tenant;

    /// <summary>
    /// Fills the text or template fields of <paramref name="envelope"/>. Throws <see cref="UnrenderableMessageException"/>
    /// when the template needs a variable this row does not have: a half-filled message is never sent.
    /// </summary>
    public Envelope Apply(Envelope envelope, Func<string, string?> variables)
    {
        ArgumentNullException.ThrowIfNull(envelope);
        ArgumentNullException.ThrowIfNull(variables);
        if (_definition.WhatsAppName is { } name)
        {
            var parameters = new string[_definition.WhatsAppParameters.Count];
            for (var i = 0; i < parameters.Length; i++)
            {
                // A NULL element of wa_parameters ('{name,NULL}') is the template's fault, not a bug of ours: its rows are
                // skipped and logged, the other templates' rows go out.
                var placeholder = _definition.WhatsAppParameters[i]
                    ?? throw new TemplateException($"template '{Key}' has NULL as WhatsApp parameter {i + 1} in cortex.message_templates.wa_parameters: write the variable's name there");
                var (variable, fallback) = Placeholder(placeholder);
                var value = Value(variables, variable, fallback) ?? throw new UnrenderableMessageException(Key, variable);
                parameters[i] = !string.IsNullOrWhiteSpace(value) ? value : throw new UnrenderableMessageException(Key, variable, blank: true);
            }

            return envelope with { Text = null, Template = new MessageTemplate(name, _definition.WhatsAppLanguage!, parameters) };
        }

        string? missing = null;
        var text = Render(_definition.Body, placeholder =>
        {
            var (variable, fallback) = Placeholder(placeholder);
            var value = Value(variables, variable, fallback);
            missing ??= value is null ? variable : null;
            return value;
        });
        return missing is null ? envelope with { Text = text, Template = null } : throw new UnrenderableMessageException(Key, missing);
    }

    // "name|cliente" → ("name", "cliente"); "name" → ("name", null).
    private static (string Variable, string? Fallback) Placeholder(string placeholder) =>
        placeholder.IndexOf('|', StringComparison.Ordinal) is var bar and >= 0 ? (placeholder[..bar], placeholder[(bar + 1)..]) : (placeholder, null);

    private static string? Value(Func<string, string?> variables, string variable, string? fallback) =>
        variables(variable) is var value && string.IsNullOrWhiteSpace(value) && fallback is not null ? fallback : value;

    /// <summary>Replaces each {variable} in <paramref name="body"/>; one <paramref name="variables"/> does not know is left as written.</summary>
    public static string Render(string body, Func<string, string?> variables)
    {
        ArgumentNullException.ThrowIfNull(body);
        ArgumentNullException.ThrowIfNull(variables);
        var text = new StringBuilder(body.Length + 32);
        var i = 0;
        while (i < body.Length)
        {
            var open = body.IndexOf('{', i);
            var close = open < 0 ? -1 : body.IndexOf('}', open + 1);
            if (close < 0)
            {
                text.Append(body, i, body.Length - i);
                break;
            }

            text.Append(body, i, open - i);
            var name = body.Substring(open + 1, close - open - 1);
            if (variables(name) is { } value)
            {
                text.Append(value);
            }
            else
            {
                text.Append(body, open, close - open + 1);
            }

            i = close + 1;
        }

        return text.ToString();
    }
}

/// <summary>A row's message cannot be built from its template; the row is skipped and logged, never sent half-right.</summary>
public class TemplateException(string message) : InvalidOperationException(message);

/// <summary>A template needs a variable the row does not have, or has blank where WhatsApp refuses a blank.</summary>
public sealed class UnrenderableMessageException(string templateKey, string variable, bool blank = false)
    : TemplateException(blank
        ? $"template '{templateKey}' needs {{{variable}}} as a WhatsApp parameter, which this row has blank and WhatsApp refuses blank: give it a fallback in wa_parameters ('{variable}|...')"
        : $"template '{templateKey}' needs {{{variable}}}, which this row does not have")
{
    /// <summary>The variable the template needs.</summary>
    public string Variable { get; } = variable;

    /// <summary>True when the row has the variable, but blank.</summary>
    public bool Blank { get; } = blank;
}

/// <summary>Brazilian formats by hand: the process runs with invariant globalization, so there is no pt-BR culture to ask.</summary>
public static class PtBr
{
    private static readonly NumberFormatInfo s_number = new() { NumberDecimalSeparator = ",", NumberGroupSeparator = ".", NumberGroupSizes = [3] };

    /// <summary>1234.5 → "R$ 1.234,50".</summary>
    public static string Currency(decimal amount) =>
        (amount < 0 ? "-R$ " : "R$ ") + Math.Abs(amount).ToString("N2", s_number);

    /// <summary>2026-11-25 → "25/11/2026".</summary>
    public static string Date(DateOnly date) => date.ToString("dd'/'MM'/'yyyy", CultureInfo.InvariantCulture);
}
