using System.Diagnostics.CodeAnalysis;
using Cortex.Scheduler.Templates;
using Cortex.Shared.Client;
using Cortex.Shared.Contract;

namespace Cortex.Scheduler.Outbox;

/// <summary>How every job turns a source row into a ledger row, or skips it with the reason logged.</summary>
internal static class RowPreparation
{
    /// <summary>
    /// Builds the row's message and validates it by the sender's rules. A row that cannot make a valid message (a template
    /// it lacks a variable for, a missing template, a bad phone in a view) is skipped and logged with its key, never sent
    /// half-right.
    /// </summary>
    public static bool TryPrepare(this DispatchLedger ledger, ILogger logger, string key, Func<Envelope> build, [NotNullWhen(true)] out LedgerEntry? entry) =>
        TryPrepare(logger, key, () => ledger.Prepare(build()), out entry);

    /// <inheritdoc cref="TryPrepare(DispatchLedger, ILogger, string, Func{Envelope}, out LedgerEntry?)"/>
    public static bool TryPrepare<T>(ILogger logger, string key, Func<T> prepare, [NotNullWhen(true)] out T? result)
        where T : class
    {
        try
        {
            result = prepare();
            return true;
        }
        catch (Exception ex) when (ex is TemplateException or InvalidEnvelopeException)
        {
            Log.InvalidRow(logger, key, ex is InvalidEnvelopeException { Error: { } error } ? error.ToString() : ex.Message);
            result = null;
            return false;
        }
    }
}
