namespace AgentIdentity.Issuer.Tests.Storage;

public sealed class SqliteIssuerStoreTests
{
    [Fact]
    public async Task ThousandConcurrentIssuances_AllSucceedAndAreRecorded()
    {
        var host = await IssuerHost.StartAsync();
        try
        {
            await PostgreSqlReplicaTests.RunThousandAsync(host);
        }
        finally
        {
            await host.DisposeAsync();
            host.DeleteDirectory();
        }
    }

    [Fact]
    public async Task InitializeAsync_UsesWalJournalMode()
    {
        var host = await IssuerHost.StartAsync();
        try
        {
            await using var connection = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={Path.Combine(host.Directory, "issuer.db")}");
            await connection.OpenAsync();
            await using var command = connection.CreateCommand();
            command.CommandText = "PRAGMA journal_mode";
            Assert.Equal("wal", (string?)await command.ExecuteScalarAsync());
        }
        finally
        {
            await host.DisposeAsync();
            host.DeleteDirectory();
        }
    }
}
