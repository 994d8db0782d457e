using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using Xunit.Abstractions;

namespace AgentIdentity.Issuer.Tests.ControlPlane;

/// <summary>
/// Kills a real issuer process (SIGKILL) in the middle of a burst of revocations, restarts it on the same database and checks
/// that every revocation answered 200 survived: in the signed feed (sequence numbers 1..n without a gap, each entry verifying),
/// in the CRL and in OCSP; and that the restarted issuer goes on from n + 1.
/// </summary>
public sealed class IssuerCrashTests(PostgreSqlServer postgres, ITestOutputHelper output) : IClassFixture<PostgreSqlServer>
{
    private const int Workers = 24;
    private const int KillAfterAcknowledged = 8;
    private const int InFlight = 6;
    private static readonly TrustDomain Domain = TrustDomain.Parse("example.org");

    [Fact]
    public async Task Sqlite_KillDuringRevocationBurst_EveryAcknowledgedRevocationSurvives()
    {
        var directory = Path.Combine(Path.GetTempPath(), "ai-crash-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(directory);
        try
        {
            await KillDuringBurstAsync("sqlite", Path.Combine(directory, "issuer.db"));
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public async Task PostgreSql_KillDuringRevocationBurst_EveryAcknowledgedRevocationSurvives()
    {
        var connectionString = await postgres.CreateDatabaseAsync();
        try
        {
            await KillDuringBurstAsync("postgresql", connectionString);
        }
        finally
        {
            await postgres.DropDatabaseAsync(connectionString);
        }
    }

    private async Task KillDuringBurstAsync(string store, string database)
    {
        // Before the crash: an operator, and workers whose certificates are revoked (by serial, or by identity for every third).
        List<(SpiffeId Id, string Serial, X509Certificate2 Certificate)> workers;
        var acknowledged = new List<(string Serial, long Sequence)>();
        var failures = 0;
        X509Certificate2 issuingCa;
        await using (var first = await CrashHost.StartAsync(store, database))
        {
            await using var operatorCredential = await first.EnrollOperatorAsync();
            using var admin = first.CreateHttpClient(operatorCredential.GetCurrent());
            workers = [];
            for (var i = 0; i < Workers; i++)
            {
                workers.Add(await first.EnrollWorkerAsync(admin));
            }

            issuingCa = X509CertificateLoader.LoadCertificate(operatorCredential.GetCurrent().Intermediates[0].RawData);

            // The burst: InFlight revocations at a time; after the KillAfterAcknowledged-th 200 the process is killed while the
            // others are in flight. What was answered 200 is the claim under test; what was in flight may or may not have committed.
            using var gate = new SemaphoreSlim(InFlight);
            var killed = 0;
            var burst = workers.Select(async (worker, i) =>
            {
                await gate.WaitAsync();
                try
                {
                    if (Volatile.Read(ref killed) != 0)
                    {
                        Interlocked.Increment(ref failures);
                        return;
                    }

                    object body = i % 3 == 2
                        ? new { spiffeId = worker.Id.ToString(), reason = "keyCompromise" }
                        : new { serialNumber = worker.Serial, reason = "keyCompromise" };
                    using var response = await admin.PostAsJsonAsync("v1/revoke", body);
                    var text = await response.Content.ReadAsStringAsync();
                    Assert.True(response.StatusCode == HttpStatusCode.OK, $"{response.StatusCode}: {text}");
                    var sequence = JsonDocument.Parse(text).RootElement.GetProperty("sequence").GetInt64();
                    lock (acknowledged)
                    {
                        acknowledged.Add((worker.Serial, sequence));
                        if (acknowledged.Count == KillAfterAcknowledged && Interlocked.Exchange(ref killed, 1) == 0)
                        {
                            first.Kill();
                        }
                    }
                }
                catch (Exception ex) when (ex is HttpRequestException or IOException or TaskCanceledException or JsonException && Volatile.Read(ref killed) != 0)
                {
                    Interlocked.Increment(ref failures);
                }
                finally
                {
                    gate.Release();
                }
            });
            await Task.WhenAll(burst);
            await first.WaitForExitAsync();
        }

        output.WriteLine($"{store}: {acknowledged.Count} acknowledged before the kill, {failures} cut off");
        Assert.True(acknowledged.Count >= KillAfterAcknowledged);
        Assert.True(failures > 0, "the kill landed after the burst: nothing was in flight");

        // After the restart on the same database.
        await using var second = await CrashHost.StartAsync(store, database);
        await using var operatorAgain = await second.EnrollOperatorAsync();
        using var http = second.CreateHttpClient(operatorAgain.GetCurrent());

        var feed = await second.ReadFeedAsync(http);
        Assert.Equal(Enumerable.Range(1, feed.Count).Select(n => (long)n), feed.Select(e => e.Sequence)); // no gap, no duplicate
        var bySequence = feed.ToDictionary(e => e.Sequence);
        var covered = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (serial, sequence) in acknowledged)
        {
            var entry = Assert.Contains(sequence, bySequence);
            var worker = workers.Single(w => w.Serial == serial);
            Assert.True(entry.Kind == RevocationKind.Serial ? entry.SerialNumber == RevocationEntry.NormalizeSerialNumber(serial) : entry.Id == worker.Id,
                $"feed entry #{sequence} is {entry.Kind} {entry.Subject}, not the revocation acknowledged for {worker.Id} / {serial}");
            covered.Add(RevocationEntry.NormalizeSerialNumber(serial));
        }

        using var crlResponse = await http.GetAsync("revocation/crl");
        Assert.Equal(HttpStatusCode.OK, crlResponse.StatusCode);
        var listed = StoreRevocationRegistryTests.ReadCrl(await crlResponse.Content.ReadAsByteArrayAsync(), out _).Select(RevocationEntry.NormalizeSerialNumber).ToHashSet();
        Assert.Superset(covered, listed);

        var bcIssuer = new Org.BouncyCastle.X509.X509CertificateParser().ReadCertificate(issuingCa.RawData);
        foreach (var worker in workers.Where(w => covered.Contains(RevocationEntry.NormalizeSerialNumber(w.Serial))))
        {
            Assert.IsType<Org.BouncyCastle.Ocsp.RevokedStatus>(await CrashHost.OcspStatusAsync(http, bcIssuer, worker.Certificate));
        }

        // The restarted issuer continues the feed without a gap, and a repeated revocation returns its first entry.
        var fresh = workers.First(w => !covered.Contains(RevocationEntry.NormalizeSerialNumber(w.Serial)) && feed.All(e => e.Id != w.Id && e.SerialNumber != RevocationEntry.NormalizeSerialNumber(w.Serial)));
        var (next, _) = await CrashHost.RevokeAsync(http, new { serialNumber = fresh.Serial, reason = "keyCompromise" });
        Assert.Equal(feed.Count + 1, next);
        // (Repeat one that was by serial: a serial revocation after an identity revocation of its holder is a new entry.)
        var bySerial = acknowledged.First(a => bySequence[a.Sequence].Kind == RevocationKind.Serial);
        var (again, _) = await CrashHost.RevokeAsync(http, new { serialNumber = bySerial.Serial });
        Assert.Equal(bySerial.Sequence, again);
        Assert.Equal(feed.Count + 1, (await second.ReadFeedAsync(http)).Count);

        foreach (var worker in workers)
        {
            worker.Certificate.Dispose();
        }

        issuingCa.Dispose();
    }

    /// <summary>The issuer process (tests/IssuerCrashHost): started with <c>dotnet IssuerCrashHost.dll</c>, ready when it prints its READY line.</summary>
    private sealed class CrashHost : IAsyncDisposable
    {
        private readonly Process _process;
        private readonly Task<string> _stderr;
        private readonly TrustBundle _bundle;
        private readonly SpiffeId _serverId;
        private readonly X509Certificate2 _signer;
        private readonly string _operatorToken;

        private CrashHost(Process process, Task<string> stderr, JsonElement ready)
        {
            _process = process;
            _stderr = stderr;
            Address = new Uri(ready.GetProperty("address").GetString()!);
            _serverId = SpiffeId.Parse(ready.GetProperty("serverId").GetString()!);
            _bundle = TrustBundle.Parse(Domain, ready.GetProperty("bundle").GetString()!);
            _signer = X509CertificateLoader.LoadCertificate(Convert.FromBase64String(ready.GetProperty("signer").GetString()!));
            _operatorToken = ready.GetProperty("operatorToken").GetString()!;
        }

        public Uri Address { get; }

        public static async Task<CrashHost> StartAsync(string store, string database)
        {
            var host = Path.Combine(AppContext.BaseDirectory, "IssuerCrashHost.dll");
            Assert.True(File.Exists(host), $"the issuer host is not at {host}");
            var start = new ProcessStartInfo("dotnet") { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            start.ArgumentList.Add(host);
            start.ArgumentList.Add(store);
            start.ArgumentList.Add(database);
            var process = Process.Start(start)!;
            var stderr = process.StandardError.ReadToEndAsync();
            var line = await process.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(60));
            if (line is null || !line.StartsWith("READY ", StringComparison.Ordinal))
            {
                process.Kill(entireProcessTree: true);
                await process.WaitForExitAsync();
                Assert.Fail($"The issuer process did not start: '{line}' {await stderr}");
            }

            return new CrashHost(process, stderr, JsonDocument.Parse(line["READY ".Length..]).RootElement.Clone());
        }

        /// <summary>SIGKILL: no shutdown, no flush, no disposal.</summary>
        public void Kill() => _process.Kill();

        public Task WaitForExitAsync() => _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));

        private IssuerClientOptions Options(string? joinToken) => new() { Address = Address, JoinToken = joinToken, ServerId = _serverId, ServerTrustBundle = _bundle };

        public async Task<AgentCredential> EnrollOperatorAsync() =>
            await AgentCredential.CreateAsync(SpiffeId.NewAgentInstance(Domain, "ops"), new IssuerClient(Options(_operatorToken)), new AgentCredentialOptions { Lifetime = TimeSpan.FromMinutes(30) });

        /// <summary>A join token from <c>v1/join-tokens</c> (operator mTLS), then an enrollment with it.</summary>
        public async Task<(SpiffeId Id, string Serial, X509Certificate2 Certificate)> EnrollWorkerAsync(HttpClient admin)
        {
            using var response = await admin.PostAsJsonAsync("v1/join-tokens", new { agentName = "worker", ttlSeconds = 600 });
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            var token = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("joinToken").GetString()!;
            var id = SpiffeId.NewAgentInstance(Domain, "worker");
            using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            using var client = new IssuerClient(Options(token));
            var issuance = await client.IssueAsync(new X509SvidRequest(id, TestPki.Csr(id, key), TimeSpan.FromMinutes(30)));
            return (id, issuance.Certificate.SerialNumber, issuance.Certificate);
        }

        public HttpClient CreateHttpClient(X509Svid client)
        {
            var handler = new SocketsHttpHandler { MaxConnectionsPerServer = InFlight };
            handler.SslOptions.RemoteCertificateValidationCallback = (_, certificate, chain, _) =>
                certificate is X509Certificate2 leaf
                && X509SvidValidator.Validate(leaf, chain?.ChainPolicy.ExtraStore, _bundle, TimeProvider.System.GetUtcNow()) is { IsValid: true } result
                && result.Id == _serverId;
            handler.SslOptions.ClientCertificateContext = SslStreamCertificateContext.Create(client.Certificate, new X509Certificate2Collection(client.Intermediates.ToArray()), offline: true);
            return new HttpClient(handler) { BaseAddress = Address, Timeout = TimeSpan.FromSeconds(60) };
        }

        public static async Task<(long Sequence, JsonElement Body)> RevokeAsync(HttpClient http, object body)
        {
            using var response = await http.PostAsJsonAsync("v1/revoke", body);
            var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone();
            Assert.True(response.StatusCode == HttpStatusCode.OK, json.ToString());
            return (json.GetProperty("sequence").GetInt64(), json);
        }

        /// <summary>The feed as a subscriber sees it (<c>revocation/feed/poll?after=0</c>), each entry verified with the feed signer.</summary>
        public async Task<List<RevocationEntry>> ReadFeedAsync(HttpClient http)
        {
            var encoded = await http.GetFromJsonAsync<string[]>("revocation/feed/poll?after=0");
            using var verifier = new RevocationFeedVerifier(_signer, Domain);
            return [.. encoded!.Select(verifier.Verify)];
        }

        public static async Task<object?> OcspStatusAsync(HttpClient http, Org.BouncyCastle.X509.X509Certificate issuer, X509Certificate2 certificate)
        {
            var generator = new Org.BouncyCastle.Ocsp.OcspReqGenerator();
            generator.AddRequest(new Org.BouncyCastle.Ocsp.CertificateID(Org.BouncyCastle.Ocsp.CertificateID.DigestSha1, issuer, new Org.BouncyCastle.Math.BigInteger(certificate.SerialNumber, 16)));
            using var content = new ByteArrayContent(generator.Generate().GetEncoded());
            content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue(OcspResponder.RequestMediaType);
            using var response = await http.PostAsync("revocation/ocsp", content);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            var ocsp = new Org.BouncyCastle.Ocsp.OcspResp(await response.Content.ReadAsByteArrayAsync());
            var basic = (Org.BouncyCastle.Ocsp.BasicOcspResp)ocsp.GetResponseObject();
            Assert.True(basic.Verify(issuer.GetPublicKey()), "the OCSP response is signed by the issuing CA");
            return basic.Responses.Single().GetCertStatus();
        }

        public async ValueTask DisposeAsync()
        {
            if (!_process.HasExited)
            {
                _process.StandardInput.Close(); // the host stops when its standard input closes
                try
                {
                    await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
                }
                catch (TimeoutException)
                {
                    _process.Kill(entireProcessTree: true);
                }
            }

            _ = await _stderr;
            _process.Dispose();
            _signer.Dispose();
        }
    }
}
