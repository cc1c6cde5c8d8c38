using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using Cortex.Testing;

namespace Cortex.LoadTests.Tests;

/// <summary>The test fixtures' redis-server leaves nothing running when its start fails.</summary>
public partial class RedisServerStartTests
{
    [Fact]
    public async Task StartAsync_ServerNotReadyInTime_IsKilledBeforeTheErrorIsThrown()
    {
        // At loglevel warning redis-server never logs "Ready to accept connections", the readiness StartAsync waits for:
        // it runs and listens, but is never ready in StartAsync's eyes.
        var error = await Assert.ThrowsAsync<TimeoutException>(() => RedisServer.StartAsync("--loglevel", "warning"));

        var port = int.Parse(PortInMessage().Match(error.Message).Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        using var client = new TcpClient();
        var connect = await Assert.ThrowsAsync<SocketException>(() => client.ConnectAsync(IPAddress.Loopback, port));
        Assert.Equal(SocketError.ConnectionRefused, connect.SocketErrorCode);
    }

    [GeneratedRegex(@"on port (\d+) was not ready")]
    private static partial Regex PortInMessage();
}
