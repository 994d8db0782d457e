using AgentIdentity.Samples.Tests.TestInfrastructure;
using Xunit.Abstractions;

namespace AgentIdentity.Samples.Tests.IssuerReplicas;

/// <summary>Runs the built IssuerReplicas sample's demo against a real PostgreSQL: two replicas on one database, an agent enrolled on
/// A and revoked on A, the revocation seen on B's feed and CRL.</summary>
public sealed class IssuerReplicasTests(PostgreSqlServer server, ITestOutputHelper log) : IClassFixture<PostgreSqlServer>
{
    [Fact]
    public async Task Demo_TwoReplicasOnOnePostgreSql_RevocationOnAReachesBsFeedAndCrl()
    {
        var connectionString = await server.CreateDatabaseAsync();
        var run = await SampleProcess.RunAsync("IssuerReplicasPath", new() { ["Issuer__PostgreSql"] = connectionString }, ["AGENTIDENTITY_ISSUER_KEK"]);
        log.WriteLine(run.ToString());

        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Contains("one PostgreSQL database; same CA: True", run.Output, StringComparison.Ordinal);
        Assert.Contains("B's CRL lists serial", run.Output, StringComparison.Ordinal);
        Assert.Contains("Replica B saw the revocation made on replica A.", run.Output, StringComparison.Ordinal);
    }
}
