using Cortex.Shared.Contract;

namespace Cortex.Sender.Gateways;

/// <summary>One WhatsApp gateway instance (Evolution API, WhatsApp Cloud API, or the built-in fake).</summary>
public interface IWhatsAppGateway
{
    /// <summary>Short, stable name of this gateway instance ("evolution:main"); keys the global rate limit and labels metrics.</summary>
    string Name { get; }

    /// <summary>
    /// Sends one message and classifies the answer. Network faults and unreadable error bodies come back as
    /// <see cref="GatewayOutcome.Retryable"/>; cancellation is never swallowed. Error texts never hold keys,
    /// tokens or full phone numbers.
    /// </summary>
    Task<GatewayResult> SendAsync(Envelope message, CancellationToken cancellationToken);
}
