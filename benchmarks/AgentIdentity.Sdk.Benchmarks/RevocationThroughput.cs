using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using AgentIdentity.Issuer;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace AgentIdentity.Benchmarks;

/// <summary>
/// Sustained revocations per second through the issuer's admin endpoint: <c>POST v1/revoke</c> by serial over mTLS with an
/// operator SVID, <c>concurrency</c> requests in flight, against the store-backed registry (each revocation: the sequence
/// allocated, the entry signed and stored, the cascade materialised, one durable commit; then the CRL rebuilt from the store).
/// The certificates revoked are recorded in the store first, so the CRL grows as the run goes on; the rate is reported per
/// quarter to show whether it holds up.
/// Run: dotnet run -c Release --project benchmarks/AgentIdentity.Sdk.Benchmarks -- revocation-throughput [revocations=2000] [concurrency=8] [postgresql-connection-string]
/// (without a connection string: SQLite in a temp directory, synchronous=FULL).
/// </summary>
internal static class RevocationThroughput
{
    public static async Task<int> RunAsync(int revocations, int concurrency, string? postgreSql)
    {
        var domain = TrustDomain.Parse("bench.example");
        var directory = Path.Combine(Path.GetTempPath(), "ai-revocation-bench-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(directory);
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        var issuerBuilder = builder.Services.AddAgentIdentityIssuer(o =>
        {
            o.TrustDomain = domain.Name;
            o.KeyEncryptionKey = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));
            o.RateLimitPermits = int.MaxValue;
        });
        _ = postgreSql is null ? issuerBuilder.UseSqlite(Path.Combine(directory, "issuer.db")) : issuerBuilder.UsePostgreSql(postgreSql);
        builder.WebHost.UseKestrel(k => k.Listen(IPAddress.Loopback, 0, lo => lo.UseAgentIdentityIssuerHttps()));
        await using var app = builder.Build();
        app.MapAgentIdentityIssuer();
        await app.StartAsync();
        var issuer = app.Services.GetRequiredService<AgentIdentityIssuer>();
        var registry = app.Services.GetRequiredService<IRevocationRegistry>();
        var address = new Uri(app.Urls.First().Replace("http://", "https://", StringComparison.Ordinal) + "/agent-identity/");
        var options = new IssuerClientOptions { Address = address, ServerId = issuer.ServerId, ServerTrustBundle = issuer.GetBundle() };

        // The operator, and the certificates to revoke (signed by a development CA of the domain, recorded in the issuer's store).
        var token = await issuer.CreateJoinTokenAsync("ops", new AgentPolicy(actions: [IssuerAdminActions.Revoke]), TimeSpan.FromMinutes(5));
        await using var operatorCredential = await AgentCredential.CreateAsync(SpiffeId.NewAgentInstance(domain, "ops"), new IssuerClient(new IssuerClientOptions { Address = address, ServerId = issuer.ServerId, ServerTrustBundle = issuer.GetBundle(), JoinToken = token }));
        using var ca = DevelopmentCertificateAuthority.Create(domain);
        var serials = new string[revocations];
        await Parallel.ForAsync(0, revocations, async (i, ct) =>
        {
            var id = SpiffeId.NewAgentInstance(domain, "worker");
            using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            var issuance = ca.Issue(new X509SvidRequest(id, SvidKeys.CreateSigningRequest(id, key), TimeSpan.FromHours(1)));
            using (issuance.Certificate)
            {
                await registry.RecordIssuedAsync(issuance.Certificate, ct).ConfigureAwait(false);
                serials[i] = issuance.Certificate.SerialNumber;
            }
        }).ConfigureAwait(false);

        var svid = operatorCredential.GetCurrent();
        using var handler = new SocketsHttpHandler { MaxConnectionsPerServer = concurrency };
        handler.SslOptions.RemoteCertificateValidationCallback = (_, certificate, chain, _) =>
            certificate is X509Certificate2 leaf && X509SvidValidator.Validate(leaf, chain?.ChainPolicy.ExtraStore, options.ServerTrustBundle!, TimeProvider.System.GetUtcNow()) is { IsValid: true } result && result.Id == issuer.ServerId;
        handler.SslOptions.ClientCertificateContext = SslStreamCertificateContext.Create(svid.Certificate, new X509Certificate2Collection(svid.Intermediates.ToArray()), offline: true);
        using var http = new HttpClient(handler) { BaseAddress = address };

        var quarters = new long[4];
        var next = -1;
        var started = Stopwatch.GetTimestamp();
        await Task.WhenAll(Enumerable.Range(0, concurrency).Select(async _ =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < revocations)
            {
                using var response = await http.PostAsJsonAsync("v1/revoke", new { serialNumber = serials[i], reason = "keyCompromise" }).ConfigureAwait(false);
                if (response.StatusCode != HttpStatusCode.OK)
                {
                    throw new InvalidOperationException($"v1/revoke answered {response.StatusCode}: {await response.Content.ReadAsStringAsync().ConfigureAwait(false)}");
                }

                var quarter = Math.Min(3, i * 4 / revocations);
                Interlocked.Exchange(ref quarters[quarter], Stopwatch.GetTimestamp());
            }
        })).ConfigureAwait(false);
        var elapsed = Stopwatch.GetElapsedTime(started);

        Console.WriteLine($"Revocations per second, {(postgreSql is null ? "SQLite" : "PostgreSQL")}, {revocations} revocations by serial over HTTPS, {concurrency} in flight");
        Console.WriteLine($"  overall: {revocations / elapsed.TotalSeconds:F0}/s ({elapsed.TotalSeconds:F1} s); feed head #{registry.LastSequence}");
        var previous = started;
        for (var q = 0; q < 4; q++)
        {
            var seconds = Stopwatch.GetElapsedTime(previous, quarters[q]).TotalSeconds;
            Console.WriteLine($"  quarter {q + 1} (CRL up to {(q + 1) * revocations / 4} entries): {revocations / 4 / seconds:F0}/s");
            previous = quarters[q];
        }

        await app.StopAsync();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(directory, recursive: true);
        return 0;
    }
}
