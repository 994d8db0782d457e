using System.Security.Cryptography;
using System.Text;
using AgentIdentity.Audit;
using AgentIdentity.Tools;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;

namespace AgentIdentity.Tests.Audit;

/// <summary>Issue 18, defect 9: argument hashes are keyed (HMAC-SHA256) with a per-log key kept apart from the log.</summary>
public sealed class AuditArgumentKeyTests : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "agentid-audit-key-" + Guid.NewGuid().ToString("N"));

    public AuditArgumentKeyTests() => Directory.CreateDirectory(_root);

    private string KeyFile(byte[]? key = null)
    {
        var path = Path.Combine(_root, "argument.key");
        File.WriteAllText(path, Convert.ToBase64String(key ?? RandomNumberGenerator.GetBytes(32)) + "\n");
        return path;
    }

    [Fact]
    public void KeyedArgument_IsHmacSha256UnderTheKey_NotTheEnumerableSha256()
    {
        var secret = RandomNumberGenerator.GetBytes(32);
        var key = new AuditArgumentKey(secret);

        var argument = AuditArgument.Create("pin", "1234", key);
        var json = Encoding.UTF8.GetString(new AuditEvent { Kind = AuditEventKind.ToolCall, Timestamp = DateTimeOffset.UnixEpoch, Agent = SpiffeId.Parse("spiffe://example.org/agent/a/i"), Arguments = [argument] }.ToCanonicalJson());

        Assert.Equal(Convert.ToHexStringLower(HMACSHA256.HashData(secret, "1234"u8)), argument.Sha256);
        Assert.NotEqual(Convert.ToHexStringLower(SHA256.HashData("1234"u8)), argument.Sha256);
        Assert.Contains($"\"pin\":{{\"hmac-sha256\":\"{argument.Sha256}\"}}", json, StringComparison.Ordinal);
        Assert.DoesNotContain("1234", json, StringComparison.Ordinal);
        Assert.True(key.Matches("1234", argument.Sha256.ToUpperInvariant()));
        Assert.False(key.Matches("1235", argument.Sha256));
        Assert.False(new AuditArgumentKey(RandomNumberGenerator.GetBytes(32)).Matches("1234", argument.Sha256)); // Another log's key.
        Assert.False(key.Matches("1234", "not hex"));
    }

    [Fact]
    public void Key_ShortOrNotBase64_IsRefusedWithTheFix()
    {
        Assert.Contains("at least 32 bytes", Assert.Throws<ArgumentException>(() => new AuditArgumentKey(new byte[16])).Message, StringComparison.Ordinal);
        Assert.Contains("openssl rand -base64 32", Assert.Throws<FormatException>(() => AuditArgumentKey.FromFile(KeyFile(new byte[16]))).Message, StringComparison.Ordinal);
        File.WriteAllText(Path.Combine(_root, "bad.key"), "not base64!");
        Assert.Contains("is not base64", Assert.Throws<FormatException>(() => AuditArgumentKey.FromFile(Path.Combine(_root, "bad.key"))).Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AddAuditLog_ArgumentKeyFile_GuardHashesToolArgumentsUnderIt()
    {
        var secret = RandomNumberGenerator.GetBytes(32);
        var keyFile = KeyFile(secret);
        var services = new ServiceCollection().AddLogging();
        services.AddAgentIdentity(o => o.TrustDomain = "example.org")
            .UseDevelopmentCertificateAuthority(o => o.AllowInProduction = true)
            .AddAuditLog("planner", o => { o.Directory = Path.Combine(_root, "log"); o.ArgumentKeyFile = keyFile; });
        await using var provider = services.BuildServiceProvider();
        var credential = provider.GetRequiredKeyedService<AgentCredential>("planner");
        await credential.WhenReadyAsync().WaitAsync(TimeSpan.FromSeconds(30));
        var sink = new InMemoryAuditSink();
        var guard = ToolCallGuard.Create(provider, credential, o => { o.AuditSink = sink; o.AllowWithoutCertificatePolicy = true; });

        await guard.InvokeAsync(new ToolCall { ToolName = "Bank.Pay", FunctionName = "Pay", Arguments = [new("account", "DE89370400440532013000")] }, 0, _ => ValueTask.CompletedTask);

        var argument = Assert.Single(Assert.Single(sink.Events).Arguments);
        Assert.True(argument.IsKeyed);
        Assert.Equal(Convert.ToHexStringLower(HMACSHA256.HashData(secret, "DE89370400440532013000"u8)), argument.Sha256);
        Assert.True(AuditArgumentKey.FromFile(keyFile).Matches("DE89370400440532013000", argument.Sha256));
    }

    [Fact]
    public async Task AddAuditLog_NoKeyFile_KeysWithAPerProcessKeyAndWarns()
    {
        var collector = new FakeLogCollector();
        var services = new ServiceCollection().AddLogging(b => b.AddProvider(new FakeLoggerProvider(collector)));
        services.AddAgentIdentity(o => o.TrustDomain = "example.org")
            .UseDevelopmentCertificateAuthority(o => o.AllowInProduction = true)
            .AddAuditLog("planner", o => o.Directory = Path.Combine(_root, "log"));
        await using var provider = services.BuildServiceProvider();

        var key = provider.GetRequiredService<AuditArgumentKey>();

        Assert.NotEqual(Convert.ToHexStringLower(SHA256.HashData("1234"u8)), key.Hash("1234"));
        Assert.Contains(collector.GetSnapshot(), r => r.Id.Id == 7005);
    }

    [Fact]
    public void Open_KeyFileInsideTheLogDirectory_IsRefused()
    {
        using var fixture = new AuditFixture();

        var error = Assert.Throws<ArgumentException>(() => fixture.Open(o => o.ArgumentKeyFile = Path.Combine(fixture.Directory, "argument.key")));
        using var apart = fixture.Open(o => o.ArgumentKeyFile = Path.Combine(_root, "argument.key"));

        Assert.Contains("is inside the log directory", error.Message, StringComparison.Ordinal);
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
            // Best effort.
        }
    }
}
