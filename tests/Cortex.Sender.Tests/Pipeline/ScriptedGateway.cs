using System.Collections.Concurrent;
using Cortex.Sender.Gateways;
using Cortex.Shared.Contract;

namespace Cortex.Sender.Tests.Pipeline;

/// <summary>A gateway whose every answer the test scripts, asynchronously; records each call in order.</summary>
internal sealed class ScriptedGateway(Func<Envelope, int, CancellationToken, Task<GatewayResult>> answer) : IWhatsAppGateway
{
    private readonly ConcurrentDictionary<string, int> _calls = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, int> _accepted = new(StringComparer.Ordinal);
    private readonly ConcurrentQueue<(string Id, DateTimeOffset At, int Attempt)> _log = new();

    public ScriptedGateway(Func<Envelope, GatewayResult> answer)
        : this((e, _, _) => Task.FromResult(answer(e)))
    {
    }

    public string Name => "scripted";

    public TimeProvider Clock { get; set; } = TimeProvider.System;

    public int CallsFor(string id) => _calls.TryGetValue(id, out var n) ? n : 0;

    public int AcceptedFor(string id) => _accepted.TryGetValue(id, out var n) ? n : 0;

    public int TotalCalls => _calls.Values.Sum();

    public int TotalAccepted => _accepted.Values.Sum();

    public IReadOnlyCollection<(string Id, DateTimeOffset At, int Attempt)> Log => _log;

    public async Task<GatewayResult> SendAsync(Envelope message, CancellationToken cancellationToken)
    {
        var call = _calls.AddOrUpdate(message.Id, 1, (_, n) => n + 1);
        _log.Enqueue((message.Id, Clock.GetUtcNow(), message.Attempt));
        var result = await answer(message, call, cancellationToken);
        if (result.Outcome == GatewayOutcome.Accepted)
        {
            _accepted.AddOrUpdate(message.Id, 1, (_, n) => n + 1);
        }

        return result;
    }
}
