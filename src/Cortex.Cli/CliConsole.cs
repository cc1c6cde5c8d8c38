namespace Cortex.Cli;

/// <summary>Where the CLI reads and writes, whether each stream is a terminal, its clock and its environment.</summary>
public sealed class CliConsole
{
    public required TextWriter Out { get; init; }

    public required TextWriter Error { get; init; }

    public TextReader In { get; init; } = TextReader.Null;

    /// <summary>Standard output is a terminal: tables are sized to it and drawn with colour.</summary>
    public bool IsOutputTerminal { get; init; }

    /// <summary>Standard error is a terminal: long operations show a progress bar there.</summary>
    public bool IsErrorTerminal { get; init; }

    /// <summary>Standard input is a terminal: destructive verbs may ask for confirmation.</summary>
    public bool IsInputTerminal { get; init; }

    /// <summary>This machine's clock.</summary>
    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;

    /// <summary>
    /// Verbs that use Redis date by Redis's clock, read once at their start over <see cref="TimeProvider"/>, as the senders
    /// do: live consumers, the oldest ready message's age and <c>--older-than</c> compare with what senders dated in Redis,
    /// whatever this machine's clock says. Off where a test drives the clock.
    /// </summary>
    public bool DateByRedis { get; init; } = true;

    /// <summary>Environment variables to read configuration from (Cortex__Redis__Configuration=...); null reads the process's own.</summary>
    public IReadOnlyDictionary<string, string>? Environment { get; init; }

    /// <summary>The process's console.</summary>
    public static CliConsole System() => new()
    {
        Out = Console.Out,
        Error = Console.Error,
        In = Console.In,
        IsOutputTerminal = !Console.IsOutputRedirected,
        IsErrorTerminal = !Console.IsErrorRedirected,
        IsInputTerminal = !Console.IsInputRedirected,
    };

    /// <summary>Plain writers, no terminal: what a script or a test sees.</summary>
    public static CliConsole Redirected(TextWriter output, TextWriter error) => new() { Out = output, Error = error };
}
