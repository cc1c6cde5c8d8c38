using System.Globalization;
using System.Text;
using Cortex.Shared.Contract;

namespace Cortex.Scheduler.Templates;

/// <summary>
/// Renders one template with a message's variables: the body as WhatsApp text, or, when the template names an
/// approved WhatsApp template, that template with the listed variables as its parameters.
/// Placeholders are {variable}; an unknown one is left as written so a typo is visible, not silently blank.
/// </summary>
public sealed class MessageRenderer
{
    private readonly TemplateDefinition _definition;

    internal MessageRenderer(TemplateDefinition definition) => _definition = definition;

    /// <summary>True when the message goes out as an approved WhatsApp template (allowed outside the 24-hour window).</summary>
    public bool IsWhatsAppTemplate => _definition.WhatsAppName is not null;

    public string Key => _definition.Key;

    /// <summary>Fills the text or template fields of <paramref name="envelope"/>.</summary>
    public Envelope Apply(Envelope envelope, Func<string, string?> variables)
    {
        ArgumentNullException.ThrowIfNull(envelope);
        ArgumentNullException.ThrowIfNull(variables);
        if (_definition.WhatsAppName is { } name)
        {
            var parameters = new string[_definition.WhatsAppParameters.Count];
            for (var i = 0; i < parameters.Length; i++)
            {
                parameters[i] = variables(_definition.WhatsAppParameters[i]) ?? string.Empty;
            }

            return envelope with { Text = null, Template = new MessageTemplate(name, _definition.WhatsAppLanguage!, parameters) };
        }

        return envelope with { Text = Render(_definition.Body, variables), Template = null };
    }

    /// <summary>Replaces each {variable} in <paramref name="body"/>.</summary>
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
