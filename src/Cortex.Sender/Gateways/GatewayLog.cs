namespace Cortex.Sender.Gateways;

// Stable EventIds 2000-2099. Messages are named by id, never by phone number; keys, tokens and bodies never reach these.
internal static partial class GatewayLog
{
    [LoggerMessage(2000, LogLevel.Warning, "{Gateway} accepted message {MessageId} with HTTP {StatusCode} but gave no provider id ({Reason}); it is not resent, to avoid a duplicate")]
    public static partial void AcceptedWithoutProviderId(ILogger logger, string gateway, string messageId, int statusCode, string? reason);

    [LoggerMessage(2001, LogLevel.Debug, "{Gateway} could not be reached for message {MessageId}: {Reason}")]
    public static partial void TransportFailed(ILogger logger, string gateway, string messageId, string? reason);

    /// <summary>
    /// A gateway's answer other than an acceptance (event 2002). An answer without a body often has no Content-Type (a
    /// proxy's bare 502): the line says so rather than "HTTP 502 ((null))".
    /// </summary>
    public static void Refused(ILogger logger, string gateway, string messageId, int statusCode, string? contentType, GatewayOutcome outcome, string? error)
    {
        if (contentType is null)
        {
            RefusedUntyped(logger, gateway, statusCode, messageId, outcome, error);
        }
        else
        {
            RefusedTyped(logger, gateway, statusCode, contentType, messageId, outcome, error);
        }
    }

    [LoggerMessage(2002, LogLevel.Debug, "{Gateway} answered HTTP {StatusCode} ({ContentType}) for message {MessageId}: {Outcome} {Error}")]
    private static partial void RefusedTyped(ILogger logger, string gateway, int statusCode, string contentType, string messageId, GatewayOutcome outcome, string? error);

    [LoggerMessage(2002, LogLevel.Debug, "{Gateway} answered HTTP {StatusCode} without a Content-Type for message {MessageId}: {Outcome} {Error}")]
    private static partial void RefusedUntyped(ILogger logger, string gateway, int statusCode, string messageId, GatewayOutcome outcome, string? error);

    [LoggerMessage(2003, LogLevel.Warning, "{Gateway} gave no answer for message {MessageId} ({Reason}): it may have been delivered, so sending it again may reach the customer twice")]
    public static partial void Unanswered(ILogger logger, string gateway, string messageId, string? reason);
}
