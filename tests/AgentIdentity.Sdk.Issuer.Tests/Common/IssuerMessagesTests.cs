using System.Text.Json;

namespace AgentIdentity.Issuer.Tests.Common;

/// <summary>The issuer's wire records (src/Common/Issuer, compiled into client and server) through <see cref="IssuerJsonContext"/>:
/// each round-trips, and each writes the members the protocol had before the records existed (the reference writers below are
/// the removed hand-written Utf8JsonWriter code).</summary>
public sealed class IssuerMessagesTests
{
    private static readonly byte[] Der = [0x30, 0x82, 0xfb, 0xff, 0x3e, 0x00, 0x2b, 0x2f]; // base64 "MIL7/z4AKy8=": '+' and '/' included
    private static readonly DateTimeOffset Expiry = new(2026, 5, 1, 12, 30, 15, 123, TimeSpan.Zero);

    [Fact]
    public void EnrollRequest_RoundTripsWithTheProtocolsMemberNames()
    {
        var request = new IssuerEnrollRequest { SpiffeId = "spiffe://example.org/agent/planner/1", Csr = Der, LifetimeSeconds = 600, JoinToken = "aijt_x" };
        var json = JsonSerializer.SerializeToUtf8Bytes(request, IssuerJsonContext.Default.IssuerEnrollRequest);
        AssertSameJson(Legacy(w =>
        {
            w.WriteString("spiffeId", request.SpiffeId);
            w.WriteString("csr", Convert.ToBase64String(Der));
            w.WriteNumber("lifetimeSeconds", 600L);
            w.WriteString("joinToken", "aijt_x");
        }), json);

        var back = JsonSerializer.Deserialize(json, IssuerJsonContext.Default.IssuerEnrollRequest)!;
        Assert.Equal(request.SpiffeId, back.SpiffeId);
        Assert.Equal(Der, back.Csr);
        Assert.Equal(600, back.LifetimeSeconds);
        Assert.Equal("aijt_x", back.JoinToken);
    }

    [Fact]
    public void RenewRequest_RoundTripsWithTheProtocolsMemberNames()
    {
        var request = new IssuerRenewRequest { SpiffeId = "spiffe://example.org/agent/planner/1", Csr = Der, LifetimeSeconds = 3600 };
        var json = JsonSerializer.SerializeToUtf8Bytes(request, IssuerJsonContext.Default.IssuerRenewRequest);
        AssertSameJson(Legacy(w =>
        {
            w.WriteString("spiffeId", request.SpiffeId);
            w.WriteString("csr", Convert.ToBase64String(Der));
            w.WriteNumber("lifetimeSeconds", 3600L);
        }), json);

        var back = JsonSerializer.Deserialize(json, IssuerJsonContext.Default.IssuerRenewRequest)!;
        Assert.Equal((request.SpiffeId, 3600), (back.SpiffeId, back.LifetimeSeconds!.Value));
        Assert.Equal(Der, back.Csr);
    }

    [Fact]
    public void DelegateRequest_RoundTripsWithTheProtocolsMemberNames()
    {
        var policy = new AgentPolicy(tools: ["web.search"]).WithTaskId("t1").ToDer();
        byte[] signature = [1, 2, 3, 0xfe];
        var request = new IssuerDelegateRequest { SpiffeId = "spiffe://example.org/agent/planner/1/task/t1", Csr = Der, LifetimeSeconds = 60, Policy = policy, ProofSignature = signature };
        var json = JsonSerializer.SerializeToUtf8Bytes(request, IssuerJsonContext.Default.IssuerDelegateRequest);
        AssertSameJson(Legacy(w =>
        {
            w.WriteString("spiffeId", request.SpiffeId);
            w.WriteString("csr", Convert.ToBase64String(Der));
            w.WriteNumber("lifetimeSeconds", 60L);
            w.WriteString("policy", Convert.ToBase64String(policy));
            w.WriteString("proofSignature", Convert.ToBase64String(signature));
        }), json);

        var back = JsonSerializer.Deserialize(json, IssuerJsonContext.Default.IssuerDelegateRequest)!;
        Assert.Equal(request.SpiffeId, back.SpiffeId);
        Assert.Equal(60, back.LifetimeSeconds);
        Assert.Equal(Der, back.Csr);
        Assert.Equal(policy, back.Policy);
        Assert.Equal(signature, back.ProofSignature);
    }

    [Fact]
    public void IssuanceResponse_IsByteForByteWhatTheIssuerWroteBefore_AndRoundTrips()
    {
        byte[] intermediate = [0x30, 0x03, 0x02, 0x01, 0xff];
        const string Bundle = "{\"keys\":[],\"spiffe_sequence\":2}";
        var response = new IssuerIssuanceResponse { SpiffeId = "spiffe://example.org/agent/planner/1", Certificates = [Der, intermediate], Bundle = Bundle, ExpiresAt = Expiry };
        var json = JsonSerializer.SerializeToUtf8Bytes(response, IssuerJsonContext.Default.IssuerIssuanceResponse);
        var legacy = Legacy(w =>
        {
            w.WriteString("spiffeId", response.SpiffeId);
            w.WriteStartArray("certificates");
            w.WriteBase64StringValue(Der);
            w.WriteBase64StringValue(intermediate);
            w.WriteEndArray();
            w.WriteString("bundle", Bundle);
            w.WriteString("expiresAt", Expiry);
        });
        Assert.Equal(System.Text.Encoding.UTF8.GetString(legacy), System.Text.Encoding.UTF8.GetString(json));

        var back = JsonSerializer.Deserialize(json, IssuerJsonContext.Default.IssuerIssuanceResponse)!;
        Assert.Equal(response.SpiffeId, back.SpiffeId);
        Assert.Equal([Der, intermediate], back.Certificates!);
        Assert.Equal(Bundle, back.Bundle);
        Assert.Equal(Expiry, back.ExpiresAt);
    }

    [Fact]
    public void JoinTokenRequest_RoundTripsWithTheProtocolsMemberNames_AndOmitsWhatIsNotSet()
    {
        var request = new IssuerJoinTokenRequest
        {
            AgentName = "researcher",
            TtlSeconds = 120,
            Policy = new IssuerJoinTokenPolicy { Services = ["spiffe://example.org/svc/*"], Tools = ["web.*"], MaxDelegationDepth = 1 },
        };
        var json = JsonSerializer.SerializeToUtf8Bytes(request, IssuerJsonContext.Default.IssuerJoinTokenRequest);
        AssertSameJson(
            """{"agentName":"researcher","ttlSeconds":120,"policy":{"services":["spiffe://example.org/svc/*"],"tools":["web.*"],"maxDelegationDepth":1}}"""u8.ToArray(),
            json);

        var back = JsonSerializer.Deserialize(json, IssuerJsonContext.Default.IssuerJoinTokenRequest)!;
        Assert.Equal(("researcher", 120), (back.AgentName, back.TtlSeconds!.Value));
        Assert.Equal(["spiffe://example.org/svc/*"], back.Policy!.Services!);
        Assert.Equal(["web.*"], back.Policy.Tools!);
        Assert.Null(back.Policy.Actions);
        Assert.Null(back.Policy.DelegationTargets);
        Assert.Equal(1, back.Policy.MaxDelegationDepth);
    }

    [Fact]
    public void JoinTokenResponse_IsByteForByteWhatTheIssuerWroteBefore_AndRoundTrips()
    {
        var response = new IssuerJoinTokenResponse { JoinToken = "aijt_abc-_", AgentName = "researcher", ExpiresAt = Expiry };
        var json = JsonSerializer.SerializeToUtf8Bytes(response, IssuerJsonContext.Default.IssuerJoinTokenResponse);
        var legacy = Legacy(w =>
        {
            w.WriteString("joinToken", response.JoinToken);
            w.WriteString("agentName", response.AgentName);
            w.WriteString("expiresAt", Expiry);
        });
        Assert.Equal(System.Text.Encoding.UTF8.GetString(legacy), System.Text.Encoding.UTF8.GetString(json));
        Assert.Equal(response, JsonSerializer.Deserialize(json, IssuerJsonContext.Default.IssuerJoinTokenResponse));
    }

    [Fact]
    public void Problem_IsByteForByteWhatTheIssuerWroteBefore_AndRoundTrips()
    {
        var problem = new IssuerProblem { Type = "https://httpstatuses.io/400", Title = "Missing csr", Status = 400, Detail = "'csr' is required and must be a non-empty string." };
        var json = JsonSerializer.SerializeToUtf8Bytes(problem, IssuerJsonContext.Default.IssuerProblem);
        var legacy = Legacy(w =>
        {
            w.WriteString("type", problem.Type);
            w.WriteString("title", problem.Title);
            w.WriteNumber("status", 400);
            w.WriteString("detail", problem.Detail);
        });
        Assert.Equal(System.Text.Encoding.UTF8.GetString(legacy), System.Text.Encoding.UTF8.GetString(json));
        Assert.Equal(problem, JsonSerializer.Deserialize(json, IssuerJsonContext.Default.IssuerProblem));
    }

    [Fact]
    public void Deserialize_MembersAreCaseSensitiveAndUnknownOnesAreIgnored()
    {
        var back = JsonSerializer.Deserialize("""{"SpiffeId":"x","joinToken":"t","futureMember":{"a":[1]}}"""u8, IssuerJsonContext.Default.IssuerEnrollRequest)!;
        Assert.Null(back.SpiffeId);
        Assert.Equal("t", back.JoinToken);
    }

    private static byte[] Legacy(Action<Utf8JsonWriter> write)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            write(writer);
            writer.WriteEndObject();
        }

        return buffer.ToArray();
    }

    /// <summary>Same members, order and values. (Requests differ from the old client's bytes only in escaping: it wrote base64
    /// with <c>Convert.ToBase64String</c>, so '+' went out as <c>\u002B</c>; System.Text.Json writes base64 unescaped.)</summary>
    private static void AssertSameJson(byte[] expected, byte[] actual)
    {
        using var e = JsonDocument.Parse(expected);
        using var a = JsonDocument.Parse(actual);
        Assert.Equal(
            e.RootElement.EnumerateObject().Select(p => p.Name),
            a.RootElement.EnumerateObject().Select(p => p.Name));
        Assert.True(JsonElement.DeepEquals(e.RootElement, a.RootElement), $"expected {e.RootElement} but got {a.RootElement}");
    }
}
