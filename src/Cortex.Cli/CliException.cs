namespace Cortex.Cli;

/// <summary>Ends a verb with a message on stderr and an exit code; thrown where going on makes no sense.</summary>
public sealed class CliException : Exception
{
    public CliException()
    {
    }

    public CliException(string message)
        : base(message)
    {
    }

    public CliException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    public CliException(int exitCode, string message)
        : base(message)
    {
        ExitCode = exitCode;
    }

    public int ExitCode { get; } = ExitCodes.Partial;

    public static CliException Usage(string message) => new(ExitCodes.Usage, message);

    public static CliException Unavailable(string message) => new(ExitCodes.Unavailable, message);
}
