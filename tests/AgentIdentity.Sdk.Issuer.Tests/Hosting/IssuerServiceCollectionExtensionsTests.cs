using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace AgentIdentity.Issuer.Tests.Hosting;

/// <summary>The issuer's DI entry point: <c>AddAgentIdentityIssuer()</c> returns a builder, the store is chosen by
/// <c>UseSqlite</c>/<c>UsePostgreSql</c> (SQLite by default), one store only, and registration is idempotent.</summary>
public sealed class IssuerServiceCollectionExtensionsTests
{
    private static void Configure(AgentIdentityIssuerOptions o)
    {
        o.TrustDomain = "example.org";
        o.KeyEncryptionKey = IssuerHost.Kek;
        o.KeyEncryptionIterations = 100_000;
    }

    private static ServiceCollection Services()
    {
        var services = new ServiceCollection();
        services.AddLogging();
        return services;
    }

    private static string TempFile() => Path.Combine(Path.GetTempPath(), "ai-issuer-" + Guid.NewGuid().ToString("N") + ".db");

    [Fact]
    public void AddAgentIdentityIssuer_CalledTwice_RegistersOnceAndAppliesEveryConfigure()
    {
        var services = Services();
        var first = services.AddAgentIdentityIssuer(Configure);
        var second = services.AddAgentIdentityIssuer(o => o.RateLimitPermits = 7);

        Assert.Same(services, first.Services);
        Assert.Same(services, second.Services);
        Assert.Single(services, d => d.ServiceType == typeof(AgentIdentityIssuer));
        Assert.Single(services, d => d.ServiceType == typeof(IIssuerStore));
        Assert.Single(services, d => d.ServiceType == typeof(IHostedService) && d.ImplementationType == typeof(IssuerStartupService));
        Assert.Single(services, d => d.ServiceType == typeof(IHostedService) && d.ImplementationType == typeof(IssuerAuditStartupService));
        using var provider = services.BuildServiceProvider();
        var options = provider.GetRequiredService<IOptions<AgentIdentityIssuerOptions>>().Value;
        Assert.Equal(("example.org", 7), (options.TrustDomain, options.RateLimitPermits));
    }

    [Fact]
    public void AddAgentIdentityIssuer_NoStoreChosen_UsesTheDocumentedSqliteFileInTheWorkingDirectory()
    {
        var services = Services();
        services.AddAgentIdentityIssuer(Configure);
        using var provider = services.BuildServiceProvider();

        var store = Assert.IsType<SqliteIssuerStore>(provider.GetRequiredService<AgentIdentityIssuer>().Store);
        Assert.Equal("agent-identity-issuer.db", new Microsoft.Data.Sqlite.SqliteConnectionStringBuilder(store.ConnectionString).DataSource);
    }

    [Fact]
    public async Task UseSqlite_ConnectionString_KeepsTheIssuerInThatFile()
    {
        var file = TempFile();
        var host = await IssuerHost.StartAsync(store: b => b.UseSqlite($"Data Source={file};Cache=Shared"));
        try
        {
            Assert.IsType<SqliteIssuerStore>(host.Issuer.Store);
            await using var connection = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={file}");
            await connection.OpenAsync();
            await using var command = connection.CreateCommand();
            command.CommandText = "SELECT COUNT(*) FROM ai_certificate_authorities";
            Assert.Equal(1L, (long)(await command.ExecuteScalarAsync())!);
        }
        finally
        {
            await host.DisposeAsync();
            host.DeleteDirectory();
            File.Delete(file);
            File.Delete(file + "-wal");
            File.Delete(file + "-shm");
        }
    }

    [Fact]
    public async Task UsePostgreSql_ChoosesThePostgreSqlStore()
    {
        var services = Services();
        services.AddAgentIdentityIssuer(Configure).UsePostgreSql("Host=127.0.0.1;Port=1;Database=issuer;Username=issuer");
        await using var provider = services.BuildServiceProvider();
        Assert.IsType<PostgreSqlIssuerStore>(provider.GetRequiredService<AgentIdentityIssuer>().Store);
    }

    [Fact]
    public void UseSqlite_TwiceWithTheSameFile_IsOneChoice()
    {
        var file = TempFile();
        var services = Services();
        services.AddAgentIdentityIssuer(Configure).UseSqlite(file);
        services.AddAgentIdentityIssuer().UseSqlite(file);
        using var provider = services.BuildServiceProvider();
        var store = Assert.IsType<SqliteIssuerStore>(provider.GetRequiredService<AgentIdentityIssuer>().Store);
        Assert.Equal(file, new Microsoft.Data.Sqlite.SqliteConnectionStringBuilder(store.ConnectionString).DataSource);
    }

    [Fact]
    public async Task UseSqliteAndUsePostgreSql_HostFailsToStartAndSaysToChooseOne()
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        builder.Services.AddAgentIdentityIssuer(Configure)
            .UseSqlite(TempFile())
            .UsePostgreSql("Host=db.internal;Database=issuer;Username=issuer;Password=s3cret-password");
        using var host = builder.Build();

        var ex = await Assert.ThrowsAsync<InvalidOperationException>(() => host.StartAsync());
        Assert.Contains("UseSqlite(...), UsePostgreSql(...)", ex.Message, StringComparison.Ordinal);
        Assert.Contains("an issuer uses one store", ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("s3cret", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void UseSqlite_TwoDifferentFiles_FailsWhenTheIssuerIsResolved()
    {
        var services = Services();
        services.AddAgentIdentityIssuer(Configure).UseSqlite(TempFile()).UseSqlite(TempFile());
        using var provider = services.BuildServiceProvider();
        var ex = Assert.Throws<InvalidOperationException>(() => provider.GetRequiredService<AgentIdentityIssuer>());
        Assert.Contains("chosen 2 times differently", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(":memory:")]
    [InlineData("Data Source=:memory:")]
    [InlineData("Data Source=issuer;Mode=Memory;Cache=Shared")]
    public void UseSqlite_InMemoryDatabase_IsRefusedAtOnce(string value)
    {
        var builder = Services().AddAgentIdentityIssuer(Configure);
        var ex = Assert.Throws<ArgumentException>(() => builder.UseSqlite(value));
        Assert.Contains("cannot use an in-memory SQLite database", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void UseSqlite_ConnectionStringWithoutFile_IsRefusedAtOnce()
    {
        var builder = Services().AddAgentIdentityIssuer(Configure);
        var ex = Assert.Throws<ArgumentException>(() => builder.UseSqlite("Cache=Shared"));
        Assert.Contains("names no file", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void UsePostgreSql_MalformedConnectionString_IsRefusedAtOnceWithoutItsValues()
    {
        var builder = Services().AddAgentIdentityIssuer(Configure);
        var ex = Assert.Throws<ArgumentException>(() => builder.UsePostgreSql("Host=db;Password=s3cret;NoSuchKeyword=1"));
        Assert.Contains("PostgreSQL connection string of the issuer is malformed", ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("s3cret", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task CustomStore_RegisteredBefore_IsUsed()
    {
        var file = TempFile();
        await using var custom = new RecordingStore(new SqliteIssuerStore(SqliteIssuerStore.ToConnectionString(file)));
        var services = Services();
        services.AddSingleton<IIssuerStore>(custom);
        services.AddAgentIdentityIssuer(Configure);
        await using var provider = services.BuildServiceProvider();
        var issuer = provider.GetRequiredService<AgentIdentityIssuer>();
        try
        {
            await issuer.StartAsync();
            Assert.Same(custom, issuer.Store);
            Assert.Contains(nameof(IIssuerStore.InitializeAsync), custom.Calls);
            Assert.Contains(nameof(IIssuerStore.TryAddCertificateAuthorityAsync), custom.Calls);
        }
        finally
        {
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            File.Delete(file);
            File.Delete(file + "-wal");
            File.Delete(file + "-shm");
        }
    }

    [Fact]
    public void CustomStore_AndUseSqlite_FailsAndSaysToRemoveOne()
    {
        var services = Services();
        services.AddSingleton<IIssuerStore>(new RecordingStore(new SqliteIssuerStore(SqliteIssuerStore.ToConnectionString(TempFile()))));
        services.AddAgentIdentityIssuer(Configure).UseSqlite(TempFile());
        using var provider = services.BuildServiceProvider();
        var ex = Assert.Throws<InvalidOperationException>(() => provider.GetRequiredService<AgentIdentityIssuer>());
        Assert.Contains("custom IIssuerStore (RecordingStore) registered and UseSqlite() was called as well", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void MapAgentIdentityIssuer_WithoutAddAgentIdentityIssuer_SaysWhatToCall()
    {
        using var app = TestHost.CreateBuilder().Build();
        var ex = Assert.Throws<InvalidOperationException>(() => app.MapAgentIdentityIssuer());
        Assert.Contains("services.AddAgentIdentityIssuer(...)", ex.Message, StringComparison.Ordinal);
    }

    /// <summary>A custom store as a user would write one: a decorator over a real store that records which calls it saw.</summary>
    private sealed class RecordingStore(SqliteIssuerStore inner) : IIssuerStore, IAsyncDisposable
    {
        public System.Collections.Concurrent.ConcurrentQueue<string> Calls { get; } = new();

        public Task InitializeAsync(CancellationToken cancellationToken = default) => Record(inner.InitializeAsync(cancellationToken));

        public Task<IReadOnlyList<StoredCertificateAuthority>> GetCertificateAuthoritiesAsync(CancellationToken cancellationToken = default) =>
            Record(inner.GetCertificateAuthoritiesAsync(cancellationToken));

        public Task<bool> TryAddCertificateAuthorityAsync(StoredCertificateAuthority authority, CancellationToken cancellationToken = default) =>
            Record(inner.TryAddCertificateAuthorityAsync(authority, cancellationToken));

        public Task SetCertificateAuthorityStatesAsync(IReadOnlyList<KeyValuePair<string, CertificateAuthorityState>> changes, CancellationToken cancellationToken = default) =>
            Record(inner.SetCertificateAuthorityStatesAsync(changes, cancellationToken));

        public Task AddJoinTokenAsync(JoinTokenRecord token, CancellationToken cancellationToken = default) => Record(inner.AddJoinTokenAsync(token, cancellationToken));

        public Task<JoinTokenRecord?> FindJoinTokenAsync(byte[] tokenHash, CancellationToken cancellationToken = default) =>
            Record(inner.FindJoinTokenAsync(tokenHash, cancellationToken));

        public Task<bool> RedeemJoinTokenAsync(byte[] tokenHash, DateTimeOffset now, IdentityRecord identity, IssuedCertificateRecord certificate, CancellationToken cancellationToken = default) =>
            Record(inner.RedeemJoinTokenAsync(tokenHash, now, identity, certificate, cancellationToken));

        public Task<IdentityRecord?> FindIdentityAsync(string spiffeId, CancellationToken cancellationToken = default) =>
            Record(inner.FindIdentityAsync(spiffeId, cancellationToken));

        public Task RecordIssuanceAsync(IdentityRecord? identity, IssuedCertificateRecord certificate, CancellationToken cancellationToken = default) =>
            Record(inner.RecordIssuanceAsync(identity, certificate, cancellationToken));

        public Task<IssuedCertificateRecord?> FindCertificateAsync(string serialNumber, CancellationToken cancellationToken = default) =>
            Record(inner.FindCertificateAsync(serialNumber, cancellationToken));

        public Task<long> CountCertificatesAsync(CancellationToken cancellationToken = default) => Record(inner.CountCertificatesAsync(cancellationToken));

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;

        private T Record<T>(T task, [System.Runtime.CompilerServices.CallerArgumentExpression(nameof(task))] string call = "")
        {
            Calls.Enqueue(call[(call.IndexOf('.', StringComparison.Ordinal) + 1)..call.IndexOf('(', StringComparison.Ordinal)]);
            return task;
        }
    }
}
