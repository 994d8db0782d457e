using System.Security.Cryptography;
using Microsoft.Data.Sqlite;

namespace AgentIdentity.Issuer.Tests.Storage;

/// <summary>The SQLite store checkpoints its WAL in the background, beside the writer, instead of inside the commit that
/// crosses SQLite's threshold (which holds the one write lock while the database file is written and fsynced).</summary>
public sealed class SqliteCheckpointTests : IDisposable
{
    private static readonly DateTimeOffset Now = new(2026, 3, 1, 12, 0, 0, TimeSpan.Zero);
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "ai-checkpoint-" + Guid.NewGuid().ToString("N"));

    public SqliteCheckpointTests() => Directory.CreateDirectory(_directory);

    private string DatabasePath => Path.Combine(_directory, "issuer.db");

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        Directory.Delete(_directory, recursive: true);
    }

    private static async Task<List<byte[]>> AddTokensAsync(SqliteIssuerStore store, int count)
    {
        var hashes = new List<byte[]>();
        for (var i = 0; i < count; i++)
        {
            var hash = SHA256.HashData(RandomNumberGenerator.GetBytes(32));
            await store.AddJoinTokenAsync(new JoinTokenRecord(hash, "worker", null, Now, Now.AddMinutes(10), null, null));
            hashes.Add(hash);
        }

        return hashes;
    }

    /// <summary>Counts the join tokens in the database file alone (a copy without its WAL): what a checkpoint has copied there.</summary>
    private long TokensInDatabaseFile()
    {
        var copy = Path.Combine(_directory, "copy-" + Guid.NewGuid().ToString("N") + ".db");
        File.Copy(DatabasePath, copy);
        using var connection = new SqliteConnection($"Data Source={copy};Pooling=False");
        connection.Open();
        using var exists = connection.CreateCommand();
        exists.CommandText = "SELECT COUNT(*) FROM sqlite_master WHERE name = 'ai_join_tokens'";
        if ((long)exists.ExecuteScalar()! == 0)
        {
            return 0; // not even the schema has been checkpointed
        }

        using var count = connection.CreateCommand();
        count.CommandText = "SELECT COUNT(*) FROM ai_join_tokens";
        return (long)count.ExecuteScalar()!;
    }

    [Fact]
    public async Task Writes_ReachTheDatabaseFile_ThroughBackgroundCheckpoints()
    {
        var store = new SqliteIssuerStore(SqliteIssuerStore.ToConnectionString(DatabasePath));
        await store.InitializeAsync();
        var hashes = await AddTokensAsync(store, SqliteIssuerStore.CheckpointInterval + 1);
        await store.LastCheckpoint.WaitAsync(TimeSpan.FromSeconds(30));

        Assert.True(store.BackgroundCheckpoints >= 1);
        Assert.True(TokensInDatabaseFile() >= SqliteIssuerStore.CheckpointInterval - 1); // every token committed before the checkpoint began
        foreach (var hash in hashes)
        {
            Assert.NotNull(await store.FindJoinTokenAsync(hash)); // and the WAL still serves the rest
        }
    }

    [Fact]
    public async Task WithoutBackgroundCheckpoints_SmallWritesStayInTheWal()
    {
        // The contrast: SQLite alone checkpoints only at 1000 WAL pages, inside a commit; these few writes never reach the file.
        var store = new SqliteIssuerStore(SqliteIssuerStore.ToConnectionString(DatabasePath)) { UsesBackgroundCheckpoints = false };
        await store.InitializeAsync();

        // SQLite also checkpoints when the last connection to a database closes, which a parallel test's ClearAllPools can cause
        // at any moment: one unpooled connection held open keeps that from happening during the test.
        using var holder = new SqliteConnection($"Data Source={DatabasePath};Pooling=False");
        holder.Open();
        await AddTokensAsync(store, SqliteIssuerStore.CheckpointInterval + 1);

        Assert.Equal(0, store.BackgroundCheckpoints);
        Assert.Equal(0, TokensInDatabaseFile());
    }

    [Fact]
    public async Task AfterBackgroundCheckpoints_ARestartedStoreSeesEveryWrite()
    {
        var store = new SqliteIssuerStore(SqliteIssuerStore.ToConnectionString(DatabasePath));
        await store.InitializeAsync();
        var hashes = await AddTokensAsync(store, (2 * SqliteIssuerStore.CheckpointInterval) + 5);
        await store.LastCheckpoint.WaitAsync(TimeSpan.FromSeconds(30));

        SqliteConnection.ClearAllPools();
        var restarted = new SqliteIssuerStore(SqliteIssuerStore.ToConnectionString(DatabasePath));
        await restarted.InitializeAsync();
        foreach (var hash in hashes)
        {
            Assert.NotNull(await restarted.FindJoinTokenAsync(hash));
        }
    }
}
