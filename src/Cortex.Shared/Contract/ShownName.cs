namespace Cortex.Shared.Contract;

/// <summary>
/// A name that came from outside (an envelope's unknown field or attribute key, an admin endpoint's query parameter) as
/// an error message shows it: its first <see cref="MaxLength"/> characters, then "…". A producer's 60,000-character field
/// name made a 60,000-character dead-letter detail, written to Redis and to a log line per message.
/// </summary>
internal static class ShownName
{
    public const int MaxLength = 64;

    public static string Cut(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (name.Length <= MaxLength)
        {
            return name;
        }

        // Never half of a surrogate pair: the text must stay valid UTF-16 to be written as JSON.
        var length = char.IsHighSurrogate(name[MaxLength - 1]) ? MaxLength - 1 : MaxLength;
        return string.Concat(name.AsSpan(0, length), "…");
    }
}
