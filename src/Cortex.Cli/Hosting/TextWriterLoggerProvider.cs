using Microsoft.Extensions.Logging;

namespace Cortex.Cli.Hosting;

/// <summary>Writes log lines of Warning and above to the CLI's stderr, so stdout stays clean for scripts.</summary>
internal sealed class TextWriterLoggerProvider(TextWriter writer) : ILoggerProvider
{
    public ILogger CreateLogger(string categoryName) => new Logger(writer, categoryName);

    public void Dispose()
    {
    }

    private sealed class Logger(TextWriter writer, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Warning && logLevel != LogLevel.None;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (!IsEnabled(logLevel))
            {
                return;
            }

            var level = logLevel switch
            {
                LogLevel.Warning => "warn",
                LogLevel.Error => "fail",
                _ => "crit",
            };
            var line = $"{level}: {category}[{eventId.Id}] {formatter(state, exception)}";
            lock (writer)
            {
                writer.WriteLine(exception is null ? line : line + " (" + exception.GetType().Name + ": " + exception.Message + ")");
            }
        }
    }
}
