using Cortex.Shared.Contract;
using Cortex.Shared.Queue;

namespace Cortex.Sender.Pipeline;

/// <summary>A leased, validated message waiting for a worker.</summary>
internal sealed record WorkItem(LeasedMessage Lease, Envelope Envelope);
