using System.Globalization;
using System.Text;

namespace Cortex.Shared.Contract;

/// <summary>Free text read from Redis (a pause reason set by hand with redis-cli) shown on one line, as JSON would escape it.</summary>
public static class ControlCharacters
{
    /// <summary>
    /// <paramref name="text"/> with each control character escaped (<c>\n</c>, <c>\r</c>, <c>\t</c>, <c>\u001B</c>): an
    /// escape sequence would drive a terminal (a title, the clipboard, a cleared screen), a line break would split a log
    /// line in two. With <paramref name="keepLineBreaks"/>, a line feed stays one: for text shown as lines (a payload).
    /// </summary>
    public static string? Escape(string? text, bool keepLineBreaks = false)
    {
        if (text is null || !text.Any(c => char.IsControl(c) && !(keepLineBreaks && c == '\n')))
        {
            return text;
        }

        var shown = new StringBuilder(text.Length + 16);
        foreach (var c in text)
        {
            var escape = c switch
            {
                '\n' when keepLineBreaks => null,
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
