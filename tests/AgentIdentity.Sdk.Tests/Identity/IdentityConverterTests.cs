using System.ComponentModel;
using System.Text.Json;
using Microsoft.Extensions.Configuration;

namespace AgentIdentity.Tests.Identity;

public sealed class IdentityConverterTests
{
    private sealed record Holder(SpiffeId Agent, TrustDomain Domain, Dictionary<SpiffeId, int>? Counts = null);

    private sealed class BoundOptions
    {
        public SpiffeId Server { get; set; }

        public TrustDomain TrustDomain { get; set; }
    }

    [Fact]
    public void Json_ObjectHoldingIds_RoundTripsAsStrings()
    {
        var holder = new Holder(SpiffeId.Parse("spiffe://example.org/agent/planner/1"), TrustDomain.Parse("example.org"),
            new() { [SpiffeId.Parse("spiffe://example.org/svc/erp")] = 3 });

        var json = JsonSerializer.Serialize(holder);

        Assert.Equal("""{"Agent":"spiffe://example.org/agent/planner/1","Domain":"example.org","Counts":{"spiffe://example.org/svc/erp":3}}""", json);
        var back = JsonSerializer.Deserialize<Holder>(json)!;
        Assert.Equal(holder.Agent, back.Agent);
        Assert.Equal(holder.Domain, back.Domain);
        Assert.Equal(3, back.Counts![SpiffeId.Parse("spiffe://example.org/svc/erp")]);
    }

    [Fact]
    public void Json_EmptyValues_AreNull()
    {
        Assert.Equal("""{"Agent":null,"Domain":null,"Counts":null}""", JsonSerializer.Serialize(new Holder(default, default)));
        var back = JsonSerializer.Deserialize<Holder>("""{"Agent":null,"Domain":null}""")!;
        Assert.True(back.Agent.IsEmpty);
        Assert.True(back.Domain.IsEmpty);
    }

    [Theory]
    [InlineData("""{"Agent":"https://example.org/x","Domain":"example.org"}""", "Invalid SPIFFE ID 'https://example.org/x'")]
    [InlineData("""{"Agent":"spiffe://example.org/","Domain":"example.org"}""", "Invalid SPIFFE ID")]
    [InlineData("""{"Agent":42,"Domain":"example.org"}""", "must be a JSON string")]
    [InlineData("""{"Agent":"spiffe://example.org/a","Domain":"Example.org"}""", "Invalid trust domain 'Example.org'")]
    public void Json_MalformedValue_FailsSayingWhy(string json, string expected)
    {
        var ex = Assert.Throws<JsonException>(() => JsonSerializer.Deserialize<Holder>(json));
        Assert.Contains(expected, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void TypeConverter_ConvertsBothWays()
    {
        var ids = TypeDescriptor.GetConverter(typeof(SpiffeId));
        var domains = TypeDescriptor.GetConverter(typeof(TrustDomain));

        Assert.Equal(SpiffeId.Parse("spiffe://example.org/svc/erp"), ids.ConvertFromInvariantString("spiffe://example.org/svc/erp"));
        Assert.Equal("spiffe://example.org/svc/erp", ids.ConvertToInvariantString(SpiffeId.Parse("spiffe://example.org/svc/erp")));
        Assert.Equal(TrustDomain.Parse("example.org"), domains.ConvertFromInvariantString("example.org"));
        Assert.Throws<FormatException>(() => ids.ConvertFromInvariantString("spiffe://UPPER/x"));
    }

    [Fact]
    public void ConfigurationBinder_BindsIdsFromStrings()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Server"] = "spiffe://example.org/svc/erp",
            ["TrustDomain"] = "example.org",
        }).Build();

        var options = configuration.Get<BoundOptions>()!;

        Assert.Equal(SpiffeId.Parse("spiffe://example.org/svc/erp"), options.Server);
        Assert.Equal(TrustDomain.Parse("example.org"), options.TrustDomain);
    }
}
