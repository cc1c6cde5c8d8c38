using System.Buffers;
using System.Globalization;
using Cortex.Shared.Configuration;
using Microsoft.Extensions.Options;

namespace Cortex.Sender.Gateways;

/// <summary>Cross-field rules of Cortex:Gateway: what each Type needs, sane timeouts and a failure mix that adds up. Never echoes a secret.</summary>
internal sealed class GatewayOptionsValidator : IValidateOptions<GatewayOptions>
{
    private const string S = GatewayOptions.Section;

    private static readonly SearchValues<char> s_nameChars = SearchValues.Create("abcdefghijklmnopqrstuvwxyz0123456789_.-");
    private static readonly SearchValues<char> s_versionChars = SearchValues.Create("0123456789.");

    public ValidateOptionsResult Validate(string? name, GatewayOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var check = new OptionsCheck(S)
            .Require(Enum.IsDefined(options.Type), nameof(options.Type), $"must be Fake, Evolution or Cloud (was {(int)options.Type})")
            .Require(
                options.Name is { Length: >= 1 and <= 64 } && !options.Name.AsSpan().ContainsAnyExcept(s_nameChars),
                nameof(options.Name),
                $"must match [a-z0-9_.-]{{1,64}} (was '{options.Name}'); it keys the global rate limit and labels metrics")
            .Range(nameof(options.Timeout), options.Timeout, TimeSpan.FromMilliseconds(100), TimeSpan.FromMinutes(5));

        var fake = options.Fake ?? new FakeGatewayOptions();
        var failureSum = fake.PermanentFailureRate + fake.RetryableFailureRate + fake.ThrottleRate;
        check
            .Range("Fake:Latency", fake.Latency, TimeSpan.Zero, TimeSpan.FromMinutes(1))
            .Range("Fake:PermanentFailureRate", fake.PermanentFailureRate, 0, 1)
            .Range("Fake:RetryableFailureRate", fake.RetryableFailureRate, 0, 1)
            .Range("Fake:ThrottleRate", fake.ThrottleRate, 0, 1)
            .Require(
                failureSum <= 1,
                "Fake:PermanentFailureRate",
                $"+ {S}:Fake:RetryableFailureRate + {S}:Fake:ThrottleRate must add up to at most 1 (was {failureSum.ToString("0.###", CultureInfo.InvariantCulture)})");

        switch (options.Type)
        {
            case GatewayType.Evolution:
                var evolution = options.Evolution ?? new EvolutionOptions();
                check
                    .Require(IsHttpUrl(evolution.BaseUrl), "Evolution:BaseUrl", RequiredWhen("Evolution", "an absolute http or https URL without query"))
                    .Require(!string.IsNullOrWhiteSpace(evolution.Instance), "Evolution:Instance", RequiredWhen("Evolution"))
                    .Require(!string.IsNullOrEmpty(evolution.ApiKey), "Evolution:ApiKey", RequiredWhen("Evolution"))
                    .Require(IsHeaderSafe(evolution.ApiKey), "Evolution:ApiKey", "must be printable ASCII: no spaces, control characters or other characters (a trailing newline from a secret file? a byte order mark or a zero-width space pasted with it?)");
                break;
            case GatewayType.Cloud:
                var cloud = options.Cloud ?? new CloudApiOptions();
                check
                    .Require(IsHttpUrl(cloud.BaseUrl), "Cloud:BaseUrl", RequiredWhen("Cloud", "an absolute http or https URL without query"))
                    .Require(IsApiVersion(cloud.ApiVersion), "Cloud:ApiVersion", $"must look like v21.0 (was '{cloud.ApiVersion}')")
                    .Require(
                        !string.IsNullOrEmpty(cloud.PhoneNumberId) && !cloud.PhoneNumberId.AsSpan().ContainsAnyExceptInRange('0', '9'),
                        "Cloud:PhoneNumberId",
                        RequiredWhen("Cloud", "the numeric phone number id from Meta, not the phone number"))
                    .Require(!string.IsNullOrEmpty(cloud.AccessToken), "Cloud:AccessToken", RequiredWhen("Cloud"))
                    .Require(IsHeaderSafe(cloud.AccessToken), "Cloud:AccessToken", "must be printable ASCII: no spaces, control characters or other characters (a trailing newline from a secret file? a byte order mark or a zero-width space pasted with it?)");
                break;
        }

        return check.ToResult();
    }

    private static string RequiredWhen(string type, string? what = null) =>
        $"is required when {S}:Type is {type}" + (what is null ? string.Empty : $" ({what})");

    private static bool IsHttpUrl(Uri? uri) =>
        uri is { IsAbsoluteUri: true } && (uri.Scheme == Uri.UriSchemeHttp || uri.Scheme == Uri.UriSchemeHttps) && uri.Query.Length == 0 && uri.Fragment.Length == 0;

    private static bool IsHeaderSafe(string? secret)
    {
        foreach (var c in secret ?? string.Empty)
        {
            // HTTP sends header values as ASCII: anything else failed every send before it left, read as a network fault.
            if (c is < '!' or > '~')
            {
                return false;
            }
        }

        return true;
    }

    private static bool IsApiVersion(string? version) =>
        version is { Length: >= 2 } && version[0] == 'v' && char.IsAsciiDigit(version[1])
        && !version.AsSpan(1).ContainsAnyExcept(s_versionChars);
}
