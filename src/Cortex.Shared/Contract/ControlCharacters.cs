using System.Globalization;
using System.Text;

namespace Cortex.Shared.Contract;

/// <summary>Free text read from Redis (a pause reason set by hand with redis-cli) shown on one line, as JSON would escape it.</summary>
public static class ControlCharacters
{
    /// <summary>
    /// <paramref name="text"/> with each control character escaped (<c>\n</c>, <c>\r</c>, <c>\t</c>, <c>\u001B</c>): an
    /// escape sequence would reach a terminal, a line break would split a log line in two.
    /// </summary>
    public static string? Escape(string? text)
    {
        if (text is null || !text.Any(char.IsControl))
        {
            return text;
        }

        var shown = new StringBuilder(text.Length + 16);
        foreach (var c in text)
        {
            var escape = c switch
            {
                '\n' => "\\n",
                '\r' => "\\r",
                '\t' => "\\t",
                _ when char.IsControl(c) => string.Create(CultureInfo.InvariantCulture, $"\\u{(int)c:X4}"),
                _ => null,
            };
            _ = escape is null ? shown.Append(c) : shown.Append(escape);
        }

        return shown.ToString();
    }
}
