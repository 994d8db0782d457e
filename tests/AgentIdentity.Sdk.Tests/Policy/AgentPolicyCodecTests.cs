using System.Formats.Asn1;

namespace AgentIdentity.Tests.Policy;

public sealed class AgentPolicyCodecTests
{
    private static readonly Asn1Tag TaskTag = new(TagClass.ContextSpecific, 0);

    /// <summary>Writes a policy value field by field, so that tests can break one field at a time.</summary>
    private static byte[] Write(
        int version = 1,
        string[]? services = null,
        string[]? actions = null,
        string[]? tools = null,
        int depth = 0,
        string[]? targets = null,
        string? taskId = null,
        Action<AsnWriter>? extraField = null,
        Action<AsnWriter>? replaceActions = null,
        byte[]? trailing = null)
    {
        var writer = new AsnWriter(AsnEncodingRules.DER);
        using (writer.PushSequence())
        {
            writer.WriteInteger(version);
            List(writer, services ?? []);
            if (replaceActions is not null)
            {
                replaceActions(writer);
            }
            else
            {
                List(writer, actions ?? []);
            }

            List(writer, tools ?? []);
            using (writer.PushSequence())
            {
                writer.WriteInteger(depth);
                List(writer, targets ?? []);
            }

            if (taskId is not null)
            {
                writer.WriteCharacterString(UniversalTagNumber.IA5String, taskId, TaskTag);
            }

            extraField?.Invoke(writer);
        }

        return trailing is null ? writer.Encode() : [.. writer.Encode(), .. trailing];

        static void List(AsnWriter w, string[] items)
        {
            using (w.PushSequence())
            {
                foreach (var item in items)
                {
                    w.WriteCharacterString(UniversalTagNumber.IA5String, item);
                }
            }
        }
    }

    [Fact]
    public void FromDer_WellFormed_Decodes()
    {
        var policy = AgentPolicy.FromDer(Write(services: ["spiffe://td/svc/*"], actions: ["invoices:read"], depth: 2, targets: ["spiffe://td/agent/*"], taskId: "t1"));
        Assert.Equal(["spiffe://td/svc/*"], policy.Services);
        Assert.Equal(["invoices:read"], policy.Actions);
        Assert.Equal(2, policy.MaxDelegationDepth);
        Assert.Equal("t1", policy.TaskId);
    }

    public static TheoryData<string, byte[], string> BadInputs => new()
    {
        { "empty", [], "not valid DER" },
        { "unknown version", Write(version: 2), "version 2; this SDK reads version 1" },
        { "version zero", Write(version: 0), "version 0" },
        { "trailing data", Write(trailing: [0x05, 0x00]), "trailing data" },
        { "unknown extra field", Write(extraField: w => w.WriteBoolean(true)), "unexpected field" },
        { "field after task id", Write(taskId: "t", extraField: w => w.WriteCharacterString(UniversalTagNumber.IA5String, "x", TaskTag)), "unexpected field" },
        { "too many actions", Write(actions: Enumerable.Range(0, 65).Select(i => $"a{i:D3}").ToArray()), "more than 64 entries" },
        { "action too long", Write(actions: [new string('a', 257)]), "257 characters; at most 256" },
        { "service too long", Write(services: ["spiffe://td/" + new string('a', 2040)]), "at most 2048" },
        { "unsorted", Write(actions: ["b", "a"]), "not in canonical form" },
        { "duplicate", Write(actions: ["a", "a"]), "not in canonical form" },
        { "covered entry", Write(actions: ["a:*", "a:b"]), "not in canonical form" },
        { "bad pattern", Write(services: ["spiffe://td/a b"]), "is invalid" },
        { "bad task id", Write(taskId: "a/b"), "task id 'a/b' is invalid" },
        { "depth too large", Write(depth: 9), "outside 0..8" },
        { "negative depth", Write(depth: -1), "outside 0..8" },
        { "UTF8String instead of IA5String", Write(replaceActions: w => { using (w.PushSequence()) { w.WriteCharacterString(UniversalTagNumber.UTF8String, "a"); } }), "not valid DER" },
        { "SET instead of SEQUENCE", Write(replaceActions: w => { using (w.PushSetOf()) { } }), "not valid DER" },
        { "not a sequence", [0x04, 0x00], "not valid DER" },
        { "oversized", new byte[4097], "4097 bytes; at most 4096" },
        { "indefinite length (BER)", [0x30, 0x80, 0x02, 0x01, 0x01, 0x00, 0x00], "not valid DER" },
        { "non-minimal length", [0x30, 0x81, 0x03, 0x02, 0x01, 0x01], "not valid DER" },
    };

    [Theory]
    [MemberData(nameof(BadInputs))]
    public void FromDer_BadInput_ThrowsPolicyFormatExceptionSayingWhy(string scenario, byte[] der, string expected)
    {
        var ex = Assert.Throws<PolicyFormatException>(() => AgentPolicy.FromDer(der));
        Assert.True(ex.Message.Contains(expected, StringComparison.Ordinal), $"{scenario}: '{ex.Message}' does not contain '{expected}'");
        Assert.False(AgentPolicy.TryFromDer(der, out _, out var error));
        Assert.Equal(ex.Message, error);
    }

    [Fact]
    public void DelegationChain_RoundTrips()
    {
        var policy = new AgentPolicy(actions: ["invoices:read"], maxDelegationDepth: 1, delegationTargets: ["spiffe://td/agent/a/1/*"]);
        var hash = Enumerable.Range(0, 32).Select(i => (byte)i).ToArray();
        var notAfter = new DateTimeOffset(2026, 11, 28, 12, 0, 0, TimeSpan.Zero);
        var chain = new DelegationChain([new DelegationLink(SpiffeId.Parse("spiffe://td/agent/a/1"), hash, notAfter, policy)]);
        var decoded = DelegationChain.FromDer(chain.ToDer());
        Assert.Single(decoded);
        Assert.Equal("spiffe://td/agent/a/1", decoded.Parent.Id.ToString());
        Assert.Equal(hash, decoded[0].GetCertificateHash());
        Assert.Equal(notAfter, decoded[0].NotAfter);
        Assert.Equal(policy, decoded[0].Policy);
    }

    public static TheoryData<string, byte[], string> BadChains
    {
        get
        {
            var policy = AgentPolicy.Empty.ToDer();
            return new()
            {
                { "unknown version", Chain(version: 3, links: [Link("spiffe://td/a/1", 32, policy)]), "version 3" },
                { "no links", Chain(links: []), "no links" },
                { "too many links", Chain(links: Enumerable.Repeat(Link("spiffe://td/a/1", 32, policy), 9).ToArray()), "more than 8 links" },
                { "short hash", Chain(links: [Link("spiffe://td/a/1", 20, policy)]), "20-byte certificate hash" },
                { "trust domain id", Chain(links: [Link("spiffe://td", 32, policy)]), "not a workload SPIFFE ID" },
                { "bad id", Chain(links: [Link("spiffe://td/a/../b", 32, policy)]), "not a workload SPIFFE ID" },
                { "bad nested policy", Chain(links: [Link("spiffe://td/a/1", 32, Write(version: 7))]), "link 0 ('spiffe://td/a/1'): The agent policy has version 7" },
                { "trailing", [.. Chain(links: [Link("spiffe://td/a/1", 32, policy)]), 0x00], "trailing data" },
                { "oversized", new byte[65537], "at most 65536" },
            };
        }
    }

    [Theory]
    [MemberData(nameof(BadChains))]
    public void DelegationChainFromDer_BadInput_ThrowsPolicyFormatExceptionSayingWhy(string scenario, byte[] der, string expected)
    {
        var ex = Assert.Throws<PolicyFormatException>(() => DelegationChain.FromDer(der));
        Assert.True(ex.Message.Contains(expected, StringComparison.Ordinal), $"{scenario}: '{ex.Message}' does not contain '{expected}'");
    }

    private static byte[] Link(string id, int hashLength, byte[] policy)
    {
        var writer = new AsnWriter(AsnEncodingRules.DER);
        using (writer.PushSequence())
        {
            writer.WriteCharacterString(UniversalTagNumber.IA5String, id);
            writer.WriteOctetString(new byte[hashLength]);
            writer.WriteGeneralizedTime(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero), omitFractionalSeconds: true);
            writer.WriteEncodedValue(policy);
        }

        return writer.Encode();
    }

    private static byte[] Chain(byte[][] links, int version = 1)
    {
        var writer = new AsnWriter(AsnEncodingRules.DER);
        using (writer.PushSequence())
        {
            writer.WriteInteger(version);
            using (writer.PushSequence())
            {
                foreach (var link in links)
                {
                    writer.WriteEncodedValue(link);
                }
            }
        }

        return writer.Encode();
    }
}
