using System.Net;
using System.Net.Security;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using AgentIdentity.Issuer;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;

namespace AgentIdentity.Issuer.Tests;

/// <summary>A real issuer: Kestrel with TLS on 127.0.0.1:0, SQLite in a temp dir (or a given PostgreSQL), a fake clock.</summary>
internal sealed class IssuerHost : IAsyncDisposable
{
    public const string Kek = "test-kek-0123456789abcdef";
    public const string AdminKey = "admin-key-0123456789abcdef0123456789";

    private readonly TestHost _host;

    private IssuerHost(TestHost host, string directory, FakeTimeProvider time)
    {
        _host = host;
        Directory = directory;
        Time = time;
        Issuer = host.Services.GetRequiredService<AgentIdentityIssuer>();
        // The issuer's TLS is connection middleware, so Kestrel reports the endpoint as http.
        Address = new Uri(new Uri(host.Address.ToString().Replace("http://", "https://", StringComparison.Ordinal)), "/agent-identity/");
    }

    public string Directory { get; }

    public FakeTimeProvider Time { get; }

    public AgentIdentityIssuer Issuer { get; }

    public Uri Address { get; }

    public IServiceProvider Services => _host.Services;

    /// <summary>The issuer's revocation registry (the store-backed one unless the test registered another).</summary>
    public IRevocationRegistry Registry => _host.Services.GetRequiredService<IRevocationRegistry>();

    public static TrustDomain TrustDomain { get; } = TrustDomain.Parse("example.org");

    /// <param name="configure">Adjusts the options.</param>
    /// <param name="directory">The temp dir (reuse it to restart on the same SQLite file).</param>
    /// <param name="time">The clock (share it between replicas).</param>
    /// <param name="store">Chooses the store; by default <c>UseSqlite(&lt;directory&gt;/issuer.db)</c>.</param>
    /// <param name="services">Adds services (for example an <see cref="IRevocationRegistry"/>).</param>
    /// <param name="map">Maps more endpoints (for example the revocation feed).</param>
    /// <param name="clock">The issuer's clock when it is not <paramref name="time"/> itself (an <see cref="ObservableTimeProvider"/>
    /// over it, to await the issuer's timers).</param>
    public static async Task<IssuerHost> StartAsync(
        Action<AgentIdentityIssuerOptions>? configure = null, string? directory = null, FakeTimeProvider? time = null, Action<IAgentIdentityIssuerBuilder>? store = null,
        Action<IServiceCollection>? services = null, Action<WebApplication>? map = null, TimeProvider? clock = null)
    {
        directory ??= Path.Combine(Path.GetTempPath(), "ai-issuer-" + Guid.NewGuid().ToString("N"));
        System.IO.Directory.CreateDirectory(directory);
        time ??= new FakeTimeProvider(DateTimeOffset.UtcNow);
        var builder = TestHost.CreateBuilder(lo => lo.UseAgentIdentityIssuerHttps());
        builder.Services.AddSingleton<TimeProvider>(clock ?? time);
        var issuer = builder.Services.AddAgentIdentityIssuer(o =>
        {
            o.TrustDomain = TrustDomain.Name;
            o.KeyEncryptionKey = Kek;
            o.KeyEncryptionIterations = 100_000;
            o.AdminApiKey = AdminKey;
            o.RateLimitPermits = 10_000;
            o.AnonymousRateLimitPermits = 10_000;
            if (store is not null)
            {
                // PostgreSQL needs an audit log directory and a replica name per replica: one per host directory, stable across restarts.
                o.Audit.Directory = Path.Combine(directory, "audit");
                var leaf = new string(Path.GetFileName(directory.TrimEnd(Path.DirectorySeparatorChar)).Where(char.IsAsciiLetterOrDigit).ToArray());
                o.Audit.ReplicaId = "r-" + leaf[Math.Max(0, leaf.Length - 12)..];
            }

            configure?.Invoke(o);
        });
        (store ?? (b => b.UseSqlite(Path.Combine(directory, "issuer.db"))))(issuer);
        services?.Invoke(builder.Services);
        var app = builder.Build();
        app.MapAgentIdentityIssuer();
        map?.Invoke(app);
        return new IssuerHost(await TestHost.StartAsync(app), directory, time);
    }

    public IssuerClientOptions ClientOptions(string? joinToken = null) => new()
    {
        Address = Address,
        JoinToken = joinToken,
        ServerId = Issuer.ServerId,
        ServerTrustBundle = Issuer.GetBundle(),
    };

    /// <summary>An HttpClient that trusts the issuer's server SVID by SPIFFE validation and optionally presents <paramref name="client"/>.</summary>
    public HttpClient CreateHttpClient(X509Svid? client = null)
    {
        var bundle = Issuer.GetBundle();
        var expected = Issuer.ServerId;
        var handler = new SocketsHttpHandler { MaxConnectionsPerServer = 16 };
        handler.SslOptions.RemoteCertificateValidationCallback = (_, certificate, chain, _) =>
            certificate is X509Certificate2 leaf
            && X509SvidValidator.Validate(leaf, chain?.ChainPolicy.ExtraStore, bundle, Time.GetUtcNow()) is { IsValid: true } result
            && result.Id == expected;
        if (client is not null)
        {
            handler.SslOptions.ClientCertificateContext = SslStreamCertificateContext.Create(client.Certificate, new X509Certificate2Collection(client.Intermediates.ToArray()), offline: true);
        }

        return new HttpClient(handler) { BaseAddress = Address };
    }

    public static SpiffeId AgentId(string name) => SpiffeId.NewAgentInstance(TrustDomain, name);

    public static async Task<(HttpStatusCode Status, JsonElement Body)> PostAsync(HttpClient client, string path, object body)
    {
        using var response = await client.PostAsJsonAsync(path, body);
        var text = await response.Content.ReadAsStringAsync();
        using var document = JsonDocument.Parse(text.Length == 0 ? "{}" : text);
        return (response.StatusCode, document.RootElement.Clone());
    }

    public static string Detail(JsonElement problem) => problem.TryGetProperty("detail", out var d) ? d.GetString() ?? string.Empty : problem.ToString();

    public async ValueTask DisposeAsync()
    {
        await _host.DisposeAsync();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
    }

    public void DeleteDirectory()
    {
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
