using System.Net;
using System.Security.Cryptography;
using Microsoft.Extensions.DependencyInjection;

namespace AgentIdentity.Issuer.Tests.Storage;

public sealed class PostgreSqlReplicaTests(PostgreSqlServer server) : IClassFixture<PostgreSqlServer>
{
    private static object IssueBody(SpiffeId id, byte[] csr, string token) => new { spiffeId = id.ToString(), csr = Convert.ToBase64String(csr), joinToken = token };

    private static async Task<(IssuerHost A, IssuerHost B)> StartReplicasAsync(string connectionString)
    {
        var a = await IssuerHost.StartAsync(store: b => b.UsePostgreSql(connectionString));
        var b = await IssuerHost.StartAsync(time: a.Time, store: b => b.UsePostgreSql(connectionString));
        return (a, b);
    }

    [Fact]
    public async Task Replica_WithoutAuditDirectoryOrReplicaId_RefusesToStartAndSaysWhatToSet()
    {
        var connectionString = await server.CreateDatabaseAsync();
        foreach (var configure in new Action<AgentIdentityIssuerOptions>[] { o => o.Audit.Directory = null, o => o.Audit.ReplicaId = null })
        {
            var ex = await Assert.ThrowsAsync<InvalidOperationException>(() => IssuerHost.StartAsync(configure, store: b => b.UsePostgreSql(connectionString)));
            Assert.Contains("Audit.Directory and Audit.ReplicaId are required with PostgreSQL", ex.Message, StringComparison.Ordinal);
            Assert.Contains("Audit.Enabled = false", ex.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task TwoReplicas_WhatOneIssuesTheOtherSeesAndRenews()
    {
        var connectionString = await server.CreateDatabaseAsync();
        var (a, b) = await StartReplicasAsync(connectionString);
        try
        {
            Assert.Equal(a.Issuer.GetBundle().X509Authorities.Single().RawData, b.Issuer.GetBundle().X509Authorities.Single().RawData);

            var token = await a.Issuer.CreateJoinTokenAsync("worker", new AgentPolicy(tools: ["web.search"]), TimeSpan.FromMinutes(5));
            await using var credential = await AgentCredential.CreateAsync(IssuerHost.AgentId("worker"), new IssuerClient(a.ClientOptions(token), a.Time), timeProvider: a.Time);
            var svid = credential.GetCurrent();
            var seen = await b.Issuer.Store.FindCertificateAsync(svid.SerialNumber);
            Assert.Equal(svid.Certificate.RawData, seen!.Certificate);

            // Replica B renews what replica A enrolled, with the same policy.
            using var renewer = new IssuerClient(b.ClientOptions(), b.Time);
            using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            var renewed = await renewer.IssueAsync(new X509SvidRequest(svid.Id, TestPki.Csr(svid.Id, key), TimeSpan.FromMinutes(5)) { AuthenticatingSvid = svid });
            Assert.Equal("renew", (await a.Issuer.Store.FindCertificateAsync(renewed.Certificate.SerialNumber))!.Kind);
            Assert.Equal(new AgentPolicy(tools: ["web.search"]), AgentPolicyExtension.ReadPolicy(renewed.Certificate));
        }
        finally
        {
            await b.DisposeAsync();
            await a.DisposeAsync();
            a.DeleteDirectory();
            b.DeleteDirectory();
        }
    }

    [Fact]
    public async Task TwoReplicas_ConcurrentRedemptionsOfOneToken_ExactlyOneSucceeds()
    {
        var connectionString = await server.CreateDatabaseAsync();
        var (a, b) = await StartReplicasAsync(connectionString);
        try
        {
            for (var round = 0; round < 3; round++)
            {
                var token = await a.Issuer.CreateJoinTokenAsync("worker", null, TimeSpan.FromMinutes(5));
                using var httpA = a.CreateHttpClient();
                using var httpB = b.CreateHttpClient();
                var attempts = Enumerable.Range(0, 16).Select(async i =>
                {
                    using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
                    var id = IssuerHost.AgentId("worker");
                    return (await IssuerHost.PostAsync(i % 2 == 0 ? httpA : httpB, "v1/issue", IssueBody(id, TestPki.Csr(id, key), token))).Status;
                });
                var statuses = await Task.WhenAll(attempts);
                Assert.Equal(1, statuses.Count(s => s == HttpStatusCode.OK));
                Assert.All(statuses.Where(s => s != HttpStatusCode.OK), s => Assert.Equal(HttpStatusCode.Unauthorized, s));
            }

            Assert.Equal(3, await b.Issuer.Store.CountCertificatesAsync());
        }
        finally
        {
            await b.DisposeAsync();
            await a.DisposeAsync();
            a.DeleteDirectory();
            b.DeleteDirectory();
        }
    }

    [Fact]
    public async Task IssueAsync_DatabaseUnavailable_Returns503AndWritesNothing()
    {
        var connectionString = await server.CreateDatabaseAsync();
        var host = await IssuerHost.StartAsync(store: b => b.UsePostgreSql(connectionString));
        try
        {
            var token = await host.Issuer.CreateJoinTokenAsync("worker", null, TimeSpan.FromMinutes(5));
            await server.DropDatabaseAsync(connectionString);
            using var http = host.CreateHttpClient();
            using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            var id = IssuerHost.AgentId("worker");
            var (status, problem) = await IssuerHost.PostAsync(http, "v1/issue", IssueBody(id, TestPki.Csr(id, key), token));
            Assert.Equal(HttpStatusCode.ServiceUnavailable, status);
            Assert.Contains("nothing was issued or recorded", IssuerHost.Detail(problem), StringComparison.Ordinal);
        }
        finally
        {
            await host.DisposeAsync();
            host.DeleteDirectory();
        }
    }

    [Fact]
    public async Task ThousandConcurrentIssuances_AllSucceedAndAreRecorded()
    {
        var connectionString = await server.CreateDatabaseAsync();
        var host = await IssuerHost.StartAsync(store: b => b.UsePostgreSql(connectionString));
        try
        {
            await RunThousandAsync(host);
        }
        finally
        {
            await host.DisposeAsync();
            host.DeleteDirectory();
        }
    }

    internal static async Task RunThousandAsync(IssuerHost host)
    {
        const int Count = 1000;
        var tokens = await Task.WhenAll(Enumerable.Range(0, Count).Select(_ => host.Issuer.CreateJoinTokenAsync("worker", null, TimeSpan.FromMinutes(30))));
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var http = host.CreateHttpClient();
        var statuses = await Task.WhenAll(tokens.Select(async token =>
        {
            var id = IssuerHost.AgentId("worker");
            return (await IssuerHost.PostAsync(http, "v1/issue", IssueBody(id, TestPki.Csr(id, key), token))).Status;
        }));
        Assert.All(statuses, s => Assert.Equal(HttpStatusCode.OK, s));
        Assert.Equal(Count, await host.Issuer.Store.CountCertificatesAsync());
    }
}
