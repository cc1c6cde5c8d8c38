using Cortex.Shared.Contract;

namespace Cortex.Scheduler.Outbox;

/// <summary>A decision to send: one row of cortex.dispatch_ledger, keyed by its deterministic idempotency key (also the message id).</summary>
public sealed record LedgerEntry(string Key, string Kind, string Tenant, Priority Priority, DateTimeOffset? NotBefore, string Payload);
