using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Cortex.Shared.Redis;

/// <summary>
/// Checks the Redis server's TLS certificate against the private CA of Cortex:Redis:TlsCaCertificateFile instead of the
/// machine's trust store. Only the trust anchor changes: the host name is still checked, and so is the use the certificate
/// was issued for (a TLS server's, as the machine's trust store path asks); nothing is waived.
/// </summary>
internal sealed class RedisCertificateValidation(X509Certificate2Collection authorities)
{
    private const string ServerAuthentication = "1.3.6.1.5.5.7.3.1";

    private volatile string? _lastRefusal;

    /// <summary>Why the last certificate was refused, for the start-up error; null while none was.</summary>
    public string? LastRefusal => _lastRefusal;

    public static X509Certificate2Collection LoadAuthorities(string path)
    {
        var authorities = new X509Certificate2Collection();
        authorities.ImportFromPemFile(path);
        return authorities;
    }

    public bool Validate(object sender, X509Certificate? certificate, X509Chain? chain, SslPolicyErrors errors)
    {
        if (certificate is null || (errors & SslPolicyErrors.RemoteCertificateNotAvailable) != 0)
        {
            _lastRefusal = "the server sent no certificate";
            return false;
        }

        // SslStream has already compared the certificate with the host (or sslHost=); that verdict stands.
        if ((errors & SslPolicyErrors.RemoteCertificateNameMismatch) != 0)
        {
            _lastRefusal = "its certificate does not name the host Cortex connects to (sslHost= in Cortex:Redis:Configuration sets the name to expect)";
            return false;
        }

        using var custom = new X509Chain();
        custom.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        custom.ChainPolicy.CustomTrustStore.AddRange(authorities);
        // A private CA rarely publishes a revocation list; asking for one would refuse every such server.
        custom.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;

        // Issued for a TLS server: a certificate the private CA issued for a client (or for signing) does not serve as
        // Redis's. One without the extension is valid for every use, as the system's own check has it.
        custom.ChainPolicy.ApplicationPolicy.Add(new Oid(ServerAuthentication));
        if (chain is not null)
        {
            // Intermediates the server sent along with its certificate.
            foreach (var element in chain.ChainElements)
            {
                custom.ChainPolicy.ExtraStore.Add(element.Certificate);
            }
        }

        var leaf = certificate as X509Certificate2;
        using var copy = leaf is null ? new X509Certificate2(certificate) : null;
        if (custom.Build(leaf ?? copy!))
        {
            return true;
        }

        _lastRefusal = "its certificate does not chain to a CA of Cortex:Redis:TlsCaCertificateFile ("
            + string.Join(", ", custom.ChainStatus.Select(s => s.Status).Distinct()) + ")";
        return false;
    }
}
