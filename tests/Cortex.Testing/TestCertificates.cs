using System.Net;
using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Cortex.Testing;

/// <summary>Throwaway certificate authorities and server certificates as PEM files, made in process (no openssl needed).</summary>
public static class TestCertificates
{
    /// <summary>The extended key usage a TLS server's certificate carries.</summary>
    public static Oid ServerAuthentication { get; } = new("1.3.6.1.5.5.7.3.1");

    /// <summary>Writes ca.crt, server.crt and server.key into <paramref name="dir"/>: a server certificate for the names given, signed by a new CA.</summary>
    public static void WriteServerCertificate(string dir, string dnsName, IPAddress address)
    {
        Directory.CreateDirectory(dir);
        using var ca = CreateAuthority("Cortex test CA " + Guid.NewGuid().ToString("N")[..8]);
        using var key = RSA.Create(2048);
        using var server = CreateLeaf(ca, key, dnsName, address, [ServerAuthentication]);
        File.WriteAllText(Path.Combine(dir, "ca.crt"), ca.ExportCertificatePem());
        File.WriteAllText(Path.Combine(dir, "server.crt"), server.ExportCertificatePem());
        File.WriteAllText(Path.Combine(dir, "server.key"), key.ExportPkcs8PrivateKeyPem());
    }

    /// <summary>
    /// A new CA and a certificate it signed for <paramref name="dnsName"/>, in memory, with the extended key usages given
    /// (none: no such extension, valid for every use).
    /// </summary>
    public static (X509Certificate2 Authority, X509Certificate2 Leaf) CreateSigned(string dnsName, params Oid[] usages)
    {
        var ca = CreateAuthority("Cortex test CA " + Guid.NewGuid().ToString("N")[..8]);
        using var key = RSA.Create(2048);
        return (ca, CreateLeaf(ca, key, dnsName, IPAddress.Loopback, usages));
    }

    /// <summary>Writes the certificate of a new CA that signed nothing: a file a client can be told to trust, wrongly.</summary>
    public static void WriteUnrelatedAuthority(string path)
    {
        using var ca = CreateAuthority("Someone else's CA");
        File.WriteAllText(path, ca.ExportCertificatePem());
    }

    /// <summary>Whether <paramref name="certificate"/> chains to <paramref name="authority"/> and names its host: the tests' own admin connections.</summary>
    public static bool ChainsTo(X509Certificate? certificate, X509Certificate2 authority, SslPolicyErrors errors)
    {
        if (certificate is null || (errors & SslPolicyErrors.RemoteCertificateNameMismatch) != 0)
        {
            return false;
        }

        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(authority);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        using var leaf = new X509Certificate2(certificate);
        return chain.Build(leaf);
    }

    private static X509Certificate2 CreateLeaf(X509Certificate2 ca, RSA key, string dnsName, IPAddress address, Oid[] usages)
    {
        var request = new CertificateRequest("CN=" + dnsName, key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var names = new SubjectAlternativeNameBuilder();
        names.AddDnsName(dnsName);
        names.AddIpAddress(address);
        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        if (usages.Length > 0)
        {
            request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([.. usages], false));
        }

        var now = TimeProvider.System.GetUtcNow();
        return request.Create(ca, now.AddMinutes(-5), now.AddDays(1), RandomNumberGenerator.GetBytes(16));
    }

    private static X509Certificate2 CreateAuthority(string name)
    {
        using var key = RSA.Create(2048);
        var request = new CertificateRequest("CN=" + name, key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        var now = TimeProvider.System.GetUtcNow();
        return request.CreateSelfSigned(now.AddMinutes(-5), now.AddDays(2));
    }
}
