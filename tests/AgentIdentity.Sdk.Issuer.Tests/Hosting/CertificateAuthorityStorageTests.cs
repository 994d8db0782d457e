using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace AgentIdentity.Issuer.Tests.Hosting;

public sealed class CertificateAuthorityStorageTests
{
    [Fact]
    public async Task StartAsync_FirstStart_StoresCaKeysOnlyEncrypted()
    {
        var host = await IssuerHost.StartAsync();
        try
        {
            var stored = (await host.Issuer.Store.GetCertificateAuthoritiesAsync()).Single();
            Assert.Equal(CertificateAuthorityState.Active, stored.State);

            // The stored blobs are PKCS#8 EncryptedPrivateKeyInfo with PBES2 and decrypt only with the KEK.
            using var intermediateKey = ECDsa.Create();
            intermediateKey.ImportEncryptedPkcs8PrivateKey(IssuerHost.Kek, stored.EncryptedIntermediateKey, out _);
            using var rootKey = ECDsa.Create();
            rootKey.ImportEncryptedPkcs8PrivateKey(IssuerHost.Kek, stored.EncryptedRootKey, out _);
            Assert.Throws<CryptographicException>(() => ECDsa.Create().ImportPkcs8PrivateKey(stored.EncryptedIntermediateKey, out _));
            Assert.Contains("1.2.840.113549.1.5.13", DescribeAlgorithm(stored.EncryptedIntermediateKey), StringComparison.Ordinal); // PBES2

            await host.DisposeAsync();
            var files = Directory.GetFiles(host.Directory).Select(File.ReadAllBytes).ToList();
            Assert.NotEmpty(files);
            foreach (var secret in new[] { intermediateKey.ExportParameters(true).D!, rootKey.ExportParameters(true).D!, intermediateKey.ExportPkcs8PrivateKey() })
            {
                Assert.All(files, file => Assert.Equal(-1, file.AsSpan().IndexOf(secret)));
            }
        }
        finally
        {
            host.DeleteDirectory();
        }
    }

    [Fact]
    public async Task StartAsync_SecondStart_ReusesTheStoredCa()
    {
        var first = await IssuerHost.StartAsync();
        var root = first.Issuer.GetBundle().X509Authorities.Single().RawData;
        await first.DisposeAsync();
        var second = await IssuerHost.StartAsync(directory: first.Directory);
        try
        {
            Assert.Equal(root, second.Issuer.GetBundle().X509Authorities.Single().RawData);
        }
        finally
        {
            await second.DisposeAsync();
            second.DeleteDirectory();
        }
    }

    [Fact]
    public async Task StartAsync_WrongKeyEncryptionKey_FailsWithClearError()
    {
        var first = await IssuerHost.StartAsync();
        await first.DisposeAsync();
        try
        {
            var ex = await Assert.ThrowsAsync<InvalidOperationException>(() => IssuerHost.StartAsync(o => o.KeyEncryptionKey = "another-kek-0123456789", directory: first.Directory));
            Assert.Contains("cannot be decrypted: the key-encryption key is wrong", ex.Message, StringComparison.Ordinal);
        }
        finally
        {
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            first.DeleteDirectory();
        }
    }

    [Fact]
    public async Task StartAsync_NoKeyEncryptionKey_FailsWithClearError()
    {
        Assert.Null(Environment.GetEnvironmentVariable(AgentIdentityIssuerOptions.KeyEncryptionKeyEnvironmentVariable));
        var directory = Path.Combine(Path.GetTempPath(), "ai-issuer-" + Guid.NewGuid().ToString("N"));
        try
        {
            var ex = await Assert.ThrowsAsync<InvalidOperationException>(() => IssuerHost.StartAsync(o => o.KeyEncryptionKey = null, directory: directory));
            Assert.Contains(AgentIdentityIssuerOptions.KeyEncryptionKeyEnvironmentVariable, ex.Message, StringComparison.Ordinal);
        }
        finally
        {
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public async Task Rotation_PrepareThenActivate_BundleCarriesBothRootsAndOldSvidsStayValid()
    {
        var host = await IssuerHost.StartAsync();
        try
        {
            var token = await host.Issuer.CreateJoinTokenAsync("worker", null, TimeSpan.FromMinutes(5));
            await using var credential = await AgentCredential.CreateAsync(IssuerHost.AgentId("worker"), new IssuerClient(host.ClientOptions(token), host.Time), timeProvider: host.Time);
            var oldRoot = host.Issuer.GetBundle().X509Authorities.Single();

            await host.Issuer.PrepareRotationAsync();
            var overlap = host.Issuer.GetBundle();
            Assert.Equal(2, overlap.X509Authorities.Count);
            var signedBeforeActivation = await IssueDirectAsync(host);
            Assert.Equal(oldRoot.Subject, ChainRoot(signedBeforeActivation, overlap).Subject);

            await host.Issuer.ActivatePreparedAuthorityAsync();
            var after = host.Issuer.GetBundle();
            Assert.Equal(2, after.X509Authorities.Count);
            Assert.True(after.SequenceNumber > overlap.SequenceNumber);
            var signedAfter = await IssueDirectAsync(host);
            Assert.NotEqual(oldRoot.Subject, ChainRoot(signedAfter, after).Subject);

            // An SVID from the old CA still validates against the bundle (both roots during the overlap).
            var old = credential.GetCurrent();
            Assert.True(X509SvidValidator.Validate(old.Certificate, host.Issuer.State.Intermediates, after, host.Time.GetUtcNow()).IsValid);
        }
        finally
        {
            await host.DisposeAsync();
            host.DeleteDirectory();
        }
    }

    /// <summary>The client parses the bundle that comes with every SVID once while it stays the same document, and again as soon
    /// as the issuer sends another (here: a prepared rotation adds a root).</summary>
    [Fact]
    public async Task IssuerClient_ReusesTheParsedBundleWhileUnchanged_AndTakesTheNewOneAfterARotation()
    {
        var host = await IssuerHost.StartAsync();
        try
        {
            var options = host.ClientOptions();
            options.JoinTokenCallback = async (_, ct) => await host.Issuer.CreateJoinTokenAsync("worker", null, TimeSpan.FromMinutes(5), ct);
            using var client = new IssuerClient(options, host.Time);
            async Task<TrustBundle> EnrollAsync()
            {
                using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
                var id = IssuerHost.AgentId("worker");
                var issuance = await client.IssueAsync(new X509SvidRequest(id, TestPki.Csr(id, key), TimeSpan.FromMinutes(5)));
                issuance.Certificate.Dispose();
                return issuance.Bundle;
            }

            var first = await EnrollAsync();
            Assert.Same(first, await EnrollAsync());
            Assert.Equal(host.Issuer.GetBundle().ToJsonString(), first.ToJsonString());

            await host.Issuer.PrepareRotationAsync();
            var rotated = await EnrollAsync();
            Assert.NotSame(first, rotated);
            Assert.Equal(2, rotated.X509Authorities.Count);
            Assert.Equal(host.Issuer.GetBundle().SequenceNumber, rotated.SequenceNumber);
            Assert.Same(rotated, await EnrollAsync());
        }
        finally
        {
            await host.DisposeAsync();
            host.DeleteDirectory();
        }
    }

    private static async Task<X509SvidIssuance> IssueDirectAsync(IssuerHost host)
    {
        var token = await host.Issuer.CreateJoinTokenAsync("worker", null, TimeSpan.FromMinutes(5));
        using var client = new IssuerClient(host.ClientOptions(token), host.Time);
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var id = IssuerHost.AgentId("worker");
        return await client.IssueAsync(new X509SvidRequest(id, TestPki.Csr(id, key), TimeSpan.FromMinutes(5)));
    }

    private static X509Certificate2 ChainRoot(X509SvidIssuance issuance, TrustBundle bundle)
    {
        var result = X509SvidValidator.Validate(issuance.Certificate, issuance.Intermediates, bundle, DateTimeOffset.UtcNow);
        Assert.True(result.IsValid, result.Reason);
        return result.VerifiedChain[^1];
    }

    private static string DescribeAlgorithm(byte[] encryptedPkcs8)
    {
        var reader = new System.Formats.Asn1.AsnReader(encryptedPkcs8, System.Formats.Asn1.AsnEncodingRules.DER).ReadSequence().ReadSequence();
        return reader.ReadObjectIdentifier();
    }
}
