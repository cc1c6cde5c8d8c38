using Cortex.Shared.Contract;
using Cortex.Shared.Queue;

namespace Cortex.Sender.Pipeline;

/// <summary>
/// A leased, validated message waiting for a worker. <paramref name="LeasedAtMs"/> is the Unix ms the lease call was
/// issued, no later than the heartbeat that call wrote.
/// </summary>
internal sealed record WorkItem(LeasedMessage Lease, Envelope Envelope, long LeasedAtMs);
