using System.Globalization;
using Cortex.Shared.Client;
using Cortex.Shared.Contract;
using Cortex.Shared.Queue;

namespace Cortex.Sender.Tests.Pipeline;

/// <summary>For tests with real Cortex.Sender processes: a backlog of billing reminders, and the environment of one pod.</summary>
internal static class SenderPods
{
    /// <summary>Pushes <paramref name="count"/> reminders, one per number, as other systems push them; returns the numbers.</summary>
    public static async Task<List<string>> EnqueueRemindersAsync(RedisMessageQueue queue, string idPrefix, int count)
    {
        var numbers = Enumerable.Range(0, count).Select(i => "55119" + i.ToString("D8", CultureInfo.InvariantCulture)).ToList();
        await new CortexClient(queue, TimeProvider.System).EnqueueBatchAsync(numbers.Select(n => new Envelope
        {
            Id = idPrefix + n,
            To = "+" + n,
            Text = "Olá, sua fatura vence amanhã",
            Kind = "billing_reminder",
        }));
        return numbers;
    }

    /// <summary>
    /// One pod's environment: a small buffer, the Evolution adapter against <paramref name="gatewayUrl"/> with the pod's
    /// name as the instance (so the gateway tells which process sent each message), and single-line logs with the
    /// pipeline's events.
    /// </summary>
    public static Dictionary<string, string> Environment(string pod, string redisConfiguration, string queueName, int workers, string gatewayName, Uri gatewayUrl) => new()
    {
        ["Cortex__Redis__Configuration"] = redisConfiguration,
        ["Cortex__Queue__Name"] = queueName,
        ["Cortex__Sender__ConsumerId"] = pod,
        ["Cortex__Sender__Workers"] = workers.ToString(CultureInfo.InvariantCulture),
        ["Cortex__Sender__Prefetch"] = "32",
        ["Cortex__Sender__LeaseBatchSize"] = "16",
        ["Cortex__Gateway__Type"] = "Evolution",
        ["Cortex__Gateway__Name"] = gatewayName,
        ["Cortex__Gateway__Evolution__BaseUrl"] = gatewayUrl.ToString(),
        ["Cortex__Gateway__Evolution__Instance"] = pod,
        ["Cortex__Gateway__Evolution__ApiKey"] = "pod-key",
        ["Logging__Console__FormatterName"] = "simple",
        ["Logging__Console__FormatterOptions__SingleLine"] = "true",
        ["Logging__LogLevel__Default"] = "Warning",
        ["Logging__LogLevel__Cortex.Sender.Pipeline"] = "Information",
    };

    /// <summary>
    /// <see cref="Environment"/> for tests of a pod that goes unheard: consumer timeout 3 s and heartbeats every second,
    /// so another pod takes its leases quickly, a 5 s stop budget, and the test's own dead-connection timeout.
    /// </summary>
    public static Dictionary<string, string> FastRecovery(string pod, string redisConfiguration, string queueName, int workers, CountingGateway gateway, string deadConnectionTimeout)
    {
        var environment = Environment(pod, redisConfiguration, queueName, workers, "g" + queueName, gateway.BaseUrl);
        environment["Cortex__Redis__DeadConnectionTimeout"] = deadConnectionTimeout;
        environment["Cortex__Queue__ConsumerTimeout"] = "00:00:03";
        environment["Cortex__Queue__HeartbeatInterval"] = "00:00:01";
        environment["Cortex__Sender__ShutdownTimeout"] = "00:00:05";
        return environment;
    }
}
