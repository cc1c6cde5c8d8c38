using System.Text.RegularExpressions;

namespace Cortex.Shared.Contract;

/// <summary>
/// Why a timestamp the reader refused is refused, for the ways producers' languages write one that ISO-8601 as Cortex
/// reads it is not: Python's <c>strftime("%z")</c> writes <c>-0300</c>, <c>str(datetime)</c> and SQL a space for the
/// <c>T</c>, Ruby and Go a space before the offset. Only the wording of a refusal: what is accepted is the reader's.
/// </summary>
internal static partial class TimestampMistakes
{
    /// <summary>What a timestamp must be, in words; the detail ends with it whatever was found wrong.</summary>
    public const string Rule = "must be an ISO-8601 timestamp with offset, e.g. 2026-11-22T09:00:00-03:00";

    /// <summary>The detail for a number where a timestamp goes: a Unix time, as many languages' clocks give one.</summary>
    public const string Number = "is a number (a Unix time?): write the instant as a string; " + Rule;

    /// <summary>The detail for a refused timestamp string: what is wrong with it when that is recognised, then <see cref="Rule"/>.</summary>
    public static string Describe(string value)
    {
        var match = Shape().Match(value);
        if (!match.Success)
        {
            return Rule;
        }

        var mistakes = new List<string>(4);
        if (match.Groups["separator"].Value == " ")
        {
            mistakes.Add("a space where the 'T' between date and time goes");
        }

        if (match.Groups["gap"].Length > 0)
        {
            mistakes.Add("a space before its offset");
        }

        var offset = match.Groups["offset"].Value;
        if (offset.Length == 5)
        {
            // Four digits and a sign, so nothing from the payload but an offset is quoted.
            mistakes.Add($"its offset {offset} without a colon (write {offset[..3]}:{offset[3..]})");
        }

        // No offset is accepted (read in the sender's time zone), so it is no reason on its own: in this shape without the
        // mistakes above, what is refused is a date or time that does not exist (2026-02-30), and only the rule is said.
        if (mistakes.Count == 0)
        {
            return Rule;
        }

        if (offset.Length == 0)
        {
            mistakes.Add("no offset (without one it is read in the sender's time zone)");
        }

        var listed = mistakes.Count == 1
            ? mistakes[0]
            : string.Join(", ", mistakes.Take(mistakes.Count - 1)) + " and " + mistakes[^1];
        return $"has {listed}; {Rule}";
    }

    // Date and time as ISO-8601 has them, but for a space instead of the 'T', a space before the offset and an offset
    // without its colon. \z, not $: a trailing line break is not a timestamp either.
    [GeneratedRegex(@"^[0-9]{4}-[0-9]{2}-[0-9]{2}(?<separator>[T ])[0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]+)?)?(?:(?<gap> ?)(?<offset>Z|[+-][0-9]{2}(?::?[0-9]{2})?))?\z", RegexOptions.CultureInvariant)]
    private static partial Regex Shape();
}
