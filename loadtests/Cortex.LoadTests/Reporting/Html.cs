using System.Text;

namespace Cortex.LoadTests.Reporting;

/// <summary>Text escaping for HTML and inline SVG alike: every entity it writes is valid XML too.</summary>
internal static class Html
{
    public static string Escape(string? text)
    {
        if (string.IsNullOrEmpty(text))
        {
            return string.Empty;
        }

        var escaped = new StringBuilder(text.Length + 16);
        foreach (var c in text)
        {
            switch (c)
            {
                case '&': escaped.Append("&amp;"); break;
                case '<': escaped.Append("&lt;"); break;
                case '>': escaped.Append("&gt;"); break;
                case '"': escaped.Append("&quot;"); break;
                case '\'': escaped.Append("&#39;"); break;

                // Control characters are not allowed in XML even as references; an SVG holding one would not parse.
                case < ' ' and not ('\t' or '\n' or '\r'): escaped.Append('\uFFFD'); break;
                default: escaped.Append(c); break;
            }
        }

        return escaped.ToString();
    }
}
