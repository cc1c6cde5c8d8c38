namespace Cortex.Cli;

/// <summary>The cortex exit codes (documented in --help and the README).</summary>
public static class ExitCodes
{
    /// <summary>Everything asked for was done.</summary>
    public const int Success = 0;

    /// <summary>Done in part or not at all, for a reason stated on stderr: rejected lines (skip mode), a message id with no dead letter, a refused change.</summary>
    public const int Partial = 1;

    /// <summary>Usage error: a bad option or argument, an invalid message, a destructive verb without --yes off a terminal.</summary>
    public const int Usage = 2;

    /// <summary>Stopped on bad input (enqueue --on-error stop, campaign recipients, a file refused whole): nothing from the bad line on was written.</summary>
    public const int StoppedOnBadInput = 3;

    /// <summary>EX_UNAVAILABLE: Redis or PostgreSQL could not be reached.</summary>
    public const int Unavailable = 69;

    /// <summary>EX_CONFIG: bad configuration; the message names the key.</summary>
    public const int Configuration = 78;

    /// <summary>Interrupted with Ctrl+C.</summary>
    public const int Cancelled = 130;

    public const string HelpText = """
        Exit codes:
          0   done
          1   done in part or not at all (lines rejected in skip mode, no dead letter of the message id given,
              a change refused, a campaign whose commit PostgreSQL could not be asked about); see stderr.
              Filters or --all that match no dead letter exit 0: there was nothing to do
          2   usage error (bad option or argument, invalid message, purge off a terminal without --yes, unknown job)
          3   stopped on bad input (enqueue --on-error stop, campaign recipients, a file refused whole: not UTF-8
              text, too large, empty, a bad CSV header; a file that cannot be read part way): nothing from the
              bad line on was written
          69  Redis or PostgreSQL unreachable, or Redis refusing writes (full under noeviction, a replica, a disk
              it cannot write, still loading)
          78  bad configuration (the message names the key)
          130 interrupted (Ctrl+C)
        """;
}
