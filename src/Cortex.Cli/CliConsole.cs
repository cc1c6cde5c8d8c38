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

    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;

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
