using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Cortex.Shared.Redis;
using Cortex.Testing;

namespace Cortex.Shared.Tests.Redis;

/// <summary>
/// The private-CA check of Redis's TLS certificate (Cortex:Redis:TlsCaCertificateFile), one certificate at a time. The
/// handshakes with a real redis-server over TLS are in <see cref="RedisSecurityTests"/>.
/// </summary>
public sealed class RedisCertificateValidationTests
{
    private static readonly Oid s_clientAuthentication = new("1.3.6.1.5.5.7.3.2");

    [Fact]
    public void Validate_CertificateThePrivateCaIssuedForAClient_IsRefusedNamingTheUse()
    {
        // A private CA issues client certificates too (mutual TLS, a service's identity): one of those, presented by
        // whoever holds its key, must not pass for Redis. The machine's trust store path refuses it; so must this one.
        var (ca, leaf) = TestCertificates.CreateSigned("redis.internal", s_clientAuthentication);
        using (ca)
        using (leaf)
        {
            var validation = new RedisCertificateValidation([ca]);

            Assert.False(validation.Validate(this, leaf, null, SslPolicyErrors.RemoteCertificateChainErrors));
            Assert.Contains("NotValidForUsage", validation.LastRefusal, StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Validate_CertificateForATlsServerOrForEveryUse_IsAccepted(bool serverAuthentication)
    {
        var (ca, leaf) = serverAuthentication
            ? TestCertificates.CreateSigned("redis.internal", TestCertificates.ServerAuthentication)
            : TestCertificates.CreateSigned("redis.internal");
        using (ca)
        using (leaf)
        {
            var validation = new RedisCertificateValidation([ca]);

            Assert.True(validation.Validate(this, leaf, null, SslPolicyErrors.RemoteCertificateChainErrors), validation.LastRefusal);
            Assert.Null(validation.LastRefusal);
        }
    }
}
