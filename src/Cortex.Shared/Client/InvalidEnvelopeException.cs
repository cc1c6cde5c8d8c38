using Cortex.Shared.Contract;

namespace Cortex.Shared.Client;

/// <summary>Thrown by <see cref="CortexClient"/> when an envelope breaks the contract; nothing of the call was enqueued.</summary>
public sealed class InvalidEnvelopeException : Exception
{
    public InvalidEnvelopeException()
    {
    }

    public InvalidEnvelopeException(string message)
        : base(message)
    {
    }

    public InvalidEnvelopeException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    public InvalidEnvelopeException(EnvelopeError error, int index, string? messageId)
        : base(index < 0 ? $"invalid envelope {messageId}: {error}" : $"invalid envelope at index {index} ({messageId}): {error}")
    {
        Error = error;
        Index = index;
    }

    public EnvelopeError? Error { get; }

    /// <summary>Position in the batch, or -1 for a single enqueue.</summary>
    public int Index { get; } = -1;
}
