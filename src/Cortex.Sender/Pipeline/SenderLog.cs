using Cortex.Shared.Queue;
using Cortex.Shared.Redis;

namespace Cortex.Sender.Pipeline;

// Stable EventIds 1000-1099. Phone numbers are masked by the caller; keys and tokens never reach these.
// A message's traceId is optional: each event that names the trace has a traced and an untraced template under the same
// id, and a public method that picks one, so that no line reads "(trace (null))" and TraceId is a structured field
// whenever there is a trace. The generator cannot leave a clause out of a template, and a trace passed pre-formatted
// (" (trace 4bf92f35)") would no longer be the plain id log queries match on.
internal static partial class SenderLog
{
    [LoggerMessage(1000, LogLevel.Information, "Sender {ConsumerId} started: {Workers} workers, prefetch {Prefetch}, gateway {Gateway}, queue {Queue}")]
    public static partial void Started(ILogger logger, string consumerId, int workers, int prefetch, string gateway, string queue);

    [LoggerMessage(1001, LogLevel.Information, "Sender {ConsumerId} stopping: finishing in-flight sends within {Budget}")]
    public static partial void Stopping(ILogger logger, string consumerId, TimeSpan budget);

    [LoggerMessage(1002, LogLevel.Information, "Sender {ConsumerId} stopped: {Returned} unsent messages returned to ready, {Cancelled} sends cancelled at the deadline")]
    public static partial void Stopped(ILogger logger, string consumerId, int returned, int cancelled);

    [LoggerMessage(1003, LogLevel.Warning, "Redis unavailable during {Operation}; retrying in {Delay}")]
    public static partial void RedisUnavailable(ILogger logger, string operation, TimeSpan delay, Exception exception);

    [LoggerMessage(1016, LogLevel.Error, "Redis refused {Operation}: {Refusal}. The Redis user Cortex authenticates as lacks a permission the sender needs (see k8s/redis/users.acl); retrying in {Delay}")]
    public static partial void RedisRefused(ILogger logger, string operation, string refusal, TimeSpan delay);

    [LoggerMessage(1017, LogLevel.Error, "Redis refused {Operation}: {Refusal}. The Redis user Cortex authenticates as lacks a permission the sender needs (see k8s/redis/users.acl); not retried: {Consequence}")]
    public static partial void RedisRefusedNotRetried(ILogger logger, string operation, string refusal, string consequence);

    [LoggerMessage(1020, LogLevel.Warning, "Sender {ConsumerId} stopping on a dead Redis connection: it writes nothing more to Redis. Acks not yet written and leases it holds are left for another consumer to recover after the consumer timeout; those messages may be sent again")]
    public static partial void StopOnDeadConnection(ILogger logger, string consumerId);

    [LoggerMessage(1019, LogLevel.Warning, "Redis answered a heartbeat after {AnsweredIn}: it was silent, so other consumers' heartbeats are as late; no leases are recovered for {Wait}")]
    public static partial void RedisAnsweredLate(ILogger logger, TimeSpan answeredIn, TimeSpan wait);

    [LoggerMessage(1027, LogLevel.Error, "Redis refused {Operation}: {Refusal}. Something other than Cortex wrote a queue key with another command; nothing moved. Rename that key aside as a Redis admin user, not as Cortex's (its ACL has no RENAME; docs/operations.md, CortexQueueMetricsAbsent); retrying in {Delay}")]
    public static partial void QueueKeyMistyped(ILogger logger, string operation, string refusal, TimeSpan delay);

    /// <summary>
    /// A Redis call that failed and is retried in <paramref name="delay"/>: an ACL refusal (the ACL changed after the
    /// start checked it) or a queue key of the wrong type named as such, anything else as an outage.
    /// </summary>
    public static void RedisFailed(ILogger logger, string operation, TimeSpan delay, Exception exception)
    {
        if (RedisAcl.IsRefusal(exception))
        {
            RedisRefused(logger, operation, exception.Message, delay);
        }
        else if (QueueScripts.IsMistypedKey(exception))
        {
            QueueKeyMistyped(logger, operation, exception.Message, delay);
        }
        else
        {
            RedisUnavailable(logger, operation, delay, exception);
        }
    }

    /// <summary>
    /// A dead letter (event 1004), the number already masked. A payload that is not a valid envelope has no trace or
    /// number read from it (<paramref name="to"/> empty), and its id only when that is a valid id; a message may come
    /// without a trace: the line leaves out what is unknown rather than reading "message (null) (trace (null)) to :".
    /// </summary>
    public static void DeadLettered(ILogger logger, string? messageId, string? traceId, string to, string reason, string detail)
    {
        if (messageId is null)
        {
            DeadLetteredUnread(logger, reason, detail);
        }
        else if (to.Length == 0)
        {
            DeadLetteredInvalid(logger, messageId, reason, detail);
        }
        else if (traceId is null)
        {
            DeadLetteredUntraced(logger, messageId, to, reason, detail);
        }
        else
        {
            DeadLetteredMessage(logger, messageId, traceId, to, reason, detail);
        }
    }

    [LoggerMessage(1004, LogLevel.Warning, "Dead-lettered message {MessageId} (trace {TraceId}) to {To}: {Reason}: {Detail}")]
    private static partial void DeadLetteredMessage(ILogger logger, string messageId, string traceId, string to, string reason, string detail);

    [LoggerMessage(1004, LogLevel.Warning, "Dead-lettered message {MessageId} to {To}: {Reason}: {Detail}")]
    private static partial void DeadLetteredUntraced(ILogger logger, string messageId, string to, string reason, string detail);

    [LoggerMessage(1004, LogLevel.Warning, "Dead-lettered a payload with no readable id (not a valid envelope: no trace or number to show either): {Reason}: {Detail}")]
    private static partial void DeadLetteredUnread(ILogger logger, string reason, string detail);

    [LoggerMessage(1004, LogLevel.Warning, "Dead-lettered payload {MessageId} (not a valid envelope: no trace or number to show): {Reason}: {Detail}")]
    private static partial void DeadLetteredInvalid(ILogger logger, string messageId, string reason, string detail);

    public static void RetryScheduled(ILogger logger, string messageId, string? traceId, int attempt, TimeSpan delay, string? error)
    {
        if (traceId is null)
        {
            RetryScheduledUntraced(logger, messageId, attempt, delay, error);
        }
        else
        {
            RetryScheduledTraced(logger, messageId, traceId, attempt, delay, error);
        }
    }

    [LoggerMessage(1005, LogLevel.Information, "Retrying message {MessageId} (trace {TraceId}) after attempt {Attempt} in {Delay}: {Error}")]
    private static partial void RetryScheduledTraced(ILogger logger, string messageId, string traceId, int attempt, TimeSpan delay, string? error);

    [LoggerMessage(1005, LogLevel.Information, "Retrying message {MessageId} after attempt {Attempt} in {Delay}: {Error}")]
    private static partial void RetryScheduledUntraced(ILogger logger, string messageId, int attempt, TimeSpan delay, string? error);

    [LoggerMessage(1006, LogLevel.Critical, "Gateway rejected our configuration: {Error}. Sending paused for {Pause}; messages wait in Redis")]
    public static partial void ConfigurationRejected(ILogger logger, string? error, TimeSpan pause);

    [LoggerMessage(1007, LogLevel.Warning, "Recovered {Recovered} leases of {Consumers} dead consumers; {Poisoned} dead-lettered as poison")]
    public static partial void LeasesRecovered(ILogger logger, int recovered, int consumers, int poisoned);

    [LoggerMessage(1029, LogLevel.Warning, "Consumer id {ConsumerId} held leases before this process started, left by one that stopped without returning them: {Recovered} returned to the queue, {Poisoned} dead-lettered as poison")]
    public static partial void PredecessorLeasesRecovered(ILogger logger, string consumerId, int recovered, int poisoned);

    [LoggerMessage(1008, LogLevel.Warning, "Gateway throttled us: pausing for {Pause}")]
    public static partial void Throttled(ILogger logger, TimeSpan pause);

    public static void UnexpectedSendError(ILogger logger, string messageId, string? traceId, Exception exception)
    {
        if (traceId is null)
        {
            UnexpectedSendErrorUntraced(logger, messageId, exception);
        }
        else
        {
            UnexpectedSendErrorTraced(logger, messageId, traceId, exception);
        }
    }

    [LoggerMessage(1009, LogLevel.Error, "Unexpected error sending message {MessageId} (trace {TraceId}); treated as a failed attempt")]
    private static partial void UnexpectedSendErrorTraced(ILogger logger, string messageId, string traceId, Exception exception);

    [LoggerMessage(1009, LogLevel.Error, "Unexpected error sending message {MessageId}; treated as a failed attempt")]
    private static partial void UnexpectedSendErrorUntraced(ILogger logger, string messageId, Exception exception);

    [LoggerMessage(1010, LogLevel.Warning, "Ack of {Count} messages found their leases already recovered by another consumer; those sends may repeat")]
    public static partial void LeasesLost(ILogger logger, int count);

    public static void DuplicateSkipped(ILogger logger, string messageId, string? traceId)
    {
        if (traceId is null)
        {
            DuplicateSkippedUntraced(logger, messageId);
        }
        else
        {
            DuplicateSkippedTraced(logger, messageId, traceId);
        }
    }

    [LoggerMessage(1011, LogLevel.Debug, "Message {MessageId} (trace {TraceId}) already sent; skipped")]
    private static partial void DuplicateSkippedTraced(ILogger logger, string messageId, string traceId);

    [LoggerMessage(1011, LogLevel.Debug, "Message {MessageId} already sent; skipped")]
    private static partial void DuplicateSkippedUntraced(ILogger logger, string messageId);

    public static void Accepted(ILogger logger, string messageId, string? traceId, string providerMessageId)
    {
        if (traceId is null)
        {
            AcceptedUntraced(logger, messageId, providerMessageId);
        }
        else
        {
            AcceptedTraced(logger, messageId, traceId, providerMessageId);
        }
    }

    [LoggerMessage(1033, LogLevel.Debug, "Message {MessageId} (trace {TraceId}) accepted by the gateway as {ProviderMessageId}")]
    private static partial void AcceptedTraced(ILogger logger, string messageId, string traceId, string providerMessageId);

    [LoggerMessage(1033, LogLevel.Debug, "Message {MessageId} accepted by the gateway as {ProviderMessageId}")]
    private static partial void AcceptedUntraced(ILogger logger, string messageId, string providerMessageId);

    [LoggerMessage(1031, LogLevel.Warning, "Queue {Queue} paused by an operator ({Reason}): this sender leases nothing and returns what it had leased to ready unsent; sends already under way finish")]
    public static partial void QueuePaused(ILogger logger, string queue, string reason);

    [LoggerMessage(1032, LogLevel.Information, "Queue {Queue} resumed: this sender leases and sends again")]
    public static partial void QueueResumed(ILogger logger, string queue);

    public static void WithdrawnSkipped(ILogger logger, string messageId, string? traceId)
    {
        if (traceId is null)
        {
            WithdrawnSkippedUntraced(logger, messageId);
        }
        else
        {
            WithdrawnSkippedTraced(logger, messageId, traceId);
        }
    }

    [LoggerMessage(1030, LogLevel.Information, "Message {MessageId} (trace {TraceId}) withdrawn by its producer before it was sent (the scheduler withdraws a message whose reason is gone); not sent")]
    private static partial void WithdrawnSkippedTraced(ILogger logger, string messageId, string traceId);

    [LoggerMessage(1030, LogLevel.Information, "Message {MessageId} withdrawn by its producer before it was sent (the scheduler withdraws a message whose reason is gone); not sent")]
    private static partial void WithdrawnSkippedUntraced(ILogger logger, string messageId);

    public static void Redelivered(ILogger logger, string messageId, string? traceId, int deliveries)
    {
        if (traceId is null)
        {
            RedeliveredUntraced(logger, messageId, deliveries);
        }
        else
        {
            RedeliveredTraced(logger, messageId, traceId, deliveries);
        }
    }

    [LoggerMessage(1018, LogLevel.Information, "Sending message {MessageId} (trace {TraceId}) again: the consumer that held it last died (deliveries before this one: {Deliveries}); had it sent the message, the customer gets it twice")]
    private static partial void RedeliveredTraced(ILogger logger, string messageId, string traceId, int deliveries);

    [LoggerMessage(1018, LogLevel.Information, "Sending message {MessageId} again: the consumer that held it last died (deliveries before this one: {Deliveries}); had it sent the message, the customer gets it twice")]
    private static partial void RedeliveredUntraced(ILogger logger, string messageId, int deliveries);

    public static void WorkerFault(ILogger logger, string messageId, string? traceId, Exception exception)
    {
        if (traceId is null)
        {
            WorkerFaultUntraced(logger, messageId, exception);
        }
        else
        {
            WorkerFaultTraced(logger, messageId, traceId, exception);
        }
    }

    [LoggerMessage(1013, LogLevel.Error, "Worker fault on message {MessageId} (trace {TraceId}); counted as a failed attempt, worker continues")]
    private static partial void WorkerFaultTraced(ILogger logger, string messageId, string traceId, Exception exception);

    [LoggerMessage(1013, LogLevel.Error, "Worker fault on message {MessageId}; counted as a failed attempt, worker continues")]
    private static partial void WorkerFaultUntraced(ILogger logger, string messageId, Exception exception);

    [LoggerMessage(1034, LogLevel.Warning, "Consumer {ConsumerId}: {Count} leases in Redis that this sender had already finished or never knew of (Redis came back without its last writes) returned to ready; they are sent again, and one whose send had been acked may reach its customer twice")]
    public static partial void ForgottenLeasesReturned(ILogger logger, string consumerId, int count);

    public static void FaultNotRecorded(ILogger logger, string messageId, string? traceId, Exception exception)
    {
        if (traceId is null)
        {
            FaultNotRecordedUntraced(logger, messageId, exception);
        }
        else
        {
            FaultNotRecordedTraced(logger, messageId, traceId, exception);
        }
    }

    [LoggerMessage(1028, LogLevel.Error, "Worker fault on message {MessageId} (trace {TraceId}) while recording its earlier fault; it stays leased until this sender stops and returns it, worker continues")]
    private static partial void FaultNotRecordedTraced(ILogger logger, string messageId, string traceId, Exception exception);

    [LoggerMessage(1028, LogLevel.Error, "Worker fault on message {MessageId} while recording its earlier fault; it stays leased until this sender stops and returns it, worker continues")]
    private static partial void FaultNotRecordedUntraced(ILogger logger, string messageId, Exception exception);

    public static void CircuitOpenReturned(ILogger logger, string messageId, string? traceId)
    {
        if (traceId is null)
        {
            CircuitOpenReturnedUntraced(logger, messageId);
        }
        else
        {
            CircuitOpenReturnedTraced(logger, messageId, traceId);
        }
    }

    [LoggerMessage(1012, LogLevel.Warning, "Circuit open: message {MessageId} (trace {TraceId}) returned to ready unsent")]
    private static partial void CircuitOpenReturnedTraced(ILogger logger, string messageId, string traceId);

    [LoggerMessage(1012, LogLevel.Warning, "Circuit open: message {MessageId} returned to ready unsent")]
    private static partial void CircuitOpenReturnedUntraced(ILogger logger, string messageId);

    public static void OutageReturned(ILogger logger, string messageId, string? traceId, string? error)
    {
        if (traceId is null)
        {
            OutageReturnedUntraced(logger, messageId, error);
        }
        else
        {
            OutageReturnedTraced(logger, messageId, traceId, error);
        }
    }

    [LoggerMessage(1024, LogLevel.Warning, "Message {MessageId} (trace {TraceId}) failed ({Error}) as the gateway's circuit opened, while it was open or during a configuration pause: returned to ready, no attempt spent")]
    private static partial void OutageReturnedTraced(ILogger logger, string messageId, string traceId, string? error);

    [LoggerMessage(1024, LogLevel.Warning, "Message {MessageId} failed ({Error}) as the gateway's circuit opened, while it was open or during a configuration pause: returned to ready, no attempt spent")]
    private static partial void OutageReturnedUntraced(ILogger logger, string messageId, string? error);

    public static void RecipientThrottled(ILogger logger, string messageId, string? traceId, TimeSpan delay)
    {
        if (traceId is null)
        {
            RecipientThrottledUntraced(logger, messageId, delay);
        }
        else
        {
            RecipientThrottledTraced(logger, messageId, traceId, delay);
        }
    }

    [LoggerMessage(1025, LogLevel.Information, "Message {MessageId} (trace {TraceId}) deferred {Delay}: the provider limits messages to its recipient; no attempt spent")]
    private static partial void RecipientThrottledTraced(ILogger logger, string messageId, string traceId, TimeSpan delay);

    [LoggerMessage(1025, LogLevel.Information, "Message {MessageId} deferred {Delay}: the provider limits messages to its recipient; no attempt spent")]
    private static partial void RecipientThrottledUntraced(ILogger logger, string messageId, TimeSpan delay);

    public static void MessageRefusedAsConfiguration(ILogger logger, string messageId, string? traceId, string? error, TimeSpan delay)
    {
        if (traceId is null)
        {
            MessageRefusedAsConfigurationUntraced(logger, messageId, error, delay);
        }
        else
        {
            MessageRefusedAsConfigurationTraced(logger, messageId, traceId, error, delay);
        }
    }

    [LoggerMessage(1026, LogLevel.Warning, "Message {MessageId} (trace {TraceId}) refused again as a configuration error ({Error}) though the gateway has taken other sends since its first refusal: this request is refused, not the key. It is tried again in {Delay}, no attempt spent, sending goes on")]
    private static partial void MessageRefusedAsConfigurationTraced(ILogger logger, string messageId, string traceId, string? error, TimeSpan delay);

    [LoggerMessage(1026, LogLevel.Warning, "Message {MessageId} refused again as a configuration error ({Error}) though the gateway has taken other sends since its first refusal: this request is refused, not the key. It is tried again in {Delay}, no attempt spent, sending goes on")]
    private static partial void MessageRefusedAsConfigurationUntraced(ILogger logger, string messageId, string? error, TimeSpan delay);

    [LoggerMessage(1014, LogLevel.Warning, "Lease {LeaseId} was delivered {Deliveries} times before, each time to a consumer that died: sending it alone, with nothing else leased or in flight")]
    public static partial void IsolatedRedelivery(ILogger logger, long leaseId, int deliveries);

    [LoggerMessage(1021, LogLevel.Warning, "Consumer {ConsumerId}: Redis has not answered this consumer's heartbeat or ack write, or has failed it, for {Silence}; holding sends until it answers one. Another pod takes this one's leases once its heartbeat is {ConsumerTimeout} old and sends them again, so a send now could reach its customer twice")]
    public static partial void SendsHeld(ILogger logger, string consumerId, TimeSpan silence, TimeSpan consumerTimeout);

    [LoggerMessage(1022, LogLevel.Information, "Consumer {ConsumerId}: Redis answers again; sends resume")]
    public static partial void SendsResumed(ILogger logger, string consumerId);

    public static void LeaseTakenBeforeSend(ILogger logger, string messageId, string? traceId, long leaseId)
    {
        if (traceId is null)
        {
            LeaseTakenBeforeSendUntraced(logger, messageId, leaseId);
        }
        else
        {
            LeaseTakenBeforeSendTraced(logger, messageId, traceId, leaseId);
        }
    }

    [LoggerMessage(1023, LogLevel.Warning, "Message {MessageId} (trace {TraceId}) not sent here: Redis did not hear from this consumer for longer than the consumer timeout allows, and another consumer recovered lease {LeaseId} meanwhile and sends the message itself")]
    private static partial void LeaseTakenBeforeSendTraced(ILogger logger, string messageId, string traceId, long leaseId);

    [LoggerMessage(1023, LogLevel.Warning, "Message {MessageId} not sent here: Redis did not hear from this consumer for longer than the consumer timeout allows, and another consumer recovered lease {LeaseId} meanwhile and sends the message itself")]
    private static partial void LeaseTakenBeforeSendUntraced(ILogger logger, string messageId, long leaseId);

    [LoggerMessage(1015, LogLevel.Warning, "{Count} more dead letters in the last {Seconds} s were not logged one by one (at most {Limit} lines a second): {Reasons}. Each is in the dead-letter list and counted in cortex_sender_dead_lettered_total")]
    public static partial void DeadLettersNotLogged(ILogger logger, int count, string seconds, int limit, string reasons);
}
