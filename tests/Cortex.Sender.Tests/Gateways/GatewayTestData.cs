using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Cortex.Sender.Gateways;
using Cortex.Shared.Contract;

namespace Cortex.Sender.Tests.Gateways;

internal static class GatewayTestData
{
    public const string Phone = "+5511999999999";
    public const string PhoneDigits = "5511999999999";
    public const string EvolutionKey = "evo-S3CRET-apikey-7f3a9c";
    public const string CloudToken = "EAAG-S3CRET-token-b81d2e";

    public static Envelope Text(string id = "m-1", string text = "Olá, sua fatura vence amanhã", string to = Phone) =>
        new() { Id = id, To = to, Text = text };

    public static Envelope Template(string id = "m-2", params string[] parameters) =>
        new() { Id = id, To = Phone, Template = new MessageTemplate("fatura_vencendo", "pt_BR", parameters) };

    public static GatewayOptions Evolution(Uri baseUrl, string instance = "loja-01") => new()
    {
        Type = GatewayType.Evolution,
        Name = "main",
        Evolution = new EvolutionOptions { BaseUrl = baseUrl, Instance = instance, ApiKey = EvolutionKey },
    };

    public static GatewayOptions Cloud(Uri baseUrl) => new()
    {
        Type = GatewayType.Cloud,
        Name = "main",
        Cloud = new CloudApiOptions { BaseUrl = baseUrl, ApiVersion = "v21.0", PhoneNumberId = "106540352242922", AccessToken = CloudToken },
    };

    /// <summary>A loopback port with nothing listening: bound, read, released.</summary>
    public static Uri ClosedPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return new Uri($"http://127.0.0.1:{port}/");
    }

    /// <summary>The property names of a JSON object, in order: pins the exact wire shape, not just the fields we read.</summary>
    public static string[] Names(JsonElement element) => [.. element.EnumerateObject().Select(p => p.Name)];
}
