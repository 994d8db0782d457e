using System.Formats.Asn1;

namespace AgentIdentity.Tests.Policy;

public sealed class AgentPolicyTests
{
    [Theory]
    [InlineData("spiffe://td/svc/erp", "spiffe://td/svc/erp", true)]
    [InlineData("spiffe://td/svc/erp", "spiffe://td/svc/erp/v2", false)]
    [InlineData("spiffe://td/svc/erp/*", "spiffe://td/svc/erp/v2", true)]
    [InlineData("spiffe://td/svc/erp/*", "spiffe://td/svc/erp/v2/x", true)]
    [InlineData("spiffe://td/svc/erp/*", "spiffe://td/svc/erp", false)]
    [InlineData("spiffe://td/svc/erp/*", "spiffe://td/svc/erpx", false)]
    [InlineData("spiffe://td/*", "spiffe://td/anything/at/all", true)]
    [InlineData("spiffe://td/*", "spiffe://td2/svc", false)]
    [InlineData("spiffe://td/svc/*", "spiffe://other/svc/erp", false)]
    public void AllowsService_Table(string pattern, string id, bool expected) =>
        Assert.Equal(expected, new AgentPolicy(services: [pattern]).AllowsService(SpiffeId.Parse(id)));

    [Theory]
    [InlineData("invoices:read", "invoices:read", true)]
    [InlineData("invoices:read", "invoices:write", false)]
    [InlineData("invoices:*", "invoices:write", true)]
    [InlineData("invoices:*", "invoices:read:all", false)]
    [InlineData("invoices:*", "invoices", false)]
    [InlineData("*:read", "orders:read", true)]
    [InlineData("*", "admin", true)]
    [InlineData("*", "invoices:read", false)]
    [InlineData("invoices:*", "invoices:*", false)]
    [InlineData("invoices:*", "invoices:", false)]
    [InlineData("erp.v2:invoices:*", "erp.v2:invoices:read", true)]
    public void AllowsAction_Table(string pattern, string action, bool expected) =>
        Assert.Equal(expected, new AgentPolicy(actions: [pattern]).AllowsAction(action));

    [Theory]
    [InlineData("Erp.GetInvoice", "Erp.GetInvoice", true)]
    [InlineData("Erp.GetInvoice", "erp.GetInvoice", false)]
    [InlineData("Erp.*", "Erp.PostInvoice", true)]
    [InlineData("Erp.*", "Crm.PostInvoice", false)]
    [InlineData("*.GetInvoice", "Crm.GetInvoice", true)]
    [InlineData("Erp.*", "Erp", false)]
    public void AllowsTool_Table(string pattern, string tool, bool expected) =>
        Assert.Equal(expected, new AgentPolicy(tools: [pattern]).AllowsTool(tool));

    [Theory]
    [InlineData(new[] { "spiffe://td/svc/erp" }, new[] { "spiffe://td/svc/*" }, true)]
    [InlineData(new[] { "spiffe://td/svc/*" }, new[] { "spiffe://td/svc/erp" }, false)]
    [InlineData(new[] { "spiffe://td/svc/erp/*" }, new[] { "spiffe://td/svc/*" }, true)]
    [InlineData(new[] { "spiffe://td/svc/*" }, new[] { "spiffe://td/svc/*" }, true)]
    [InlineData(new[] { "spiffe://td/svc/*" }, new[] { "spiffe://td/svc/erp/*", "spiffe://td/svc/crm/*" }, false)]
    [InlineData(new string[0], new string[0], true)]
    [InlineData(new[] { "spiffe://td/svc/erp" }, new string[0], false)]
    public void IsSubsetOf_ServicesTable(string[] child, string[] parent, bool expected) =>
        Assert.Equal(expected, new AgentPolicy(services: child).IsSubsetOf(new AgentPolicy(services: parent)));

    [Fact]
    public void IsSubsetOf_WiderAction_ReasonNamesPattern()
    {
        var parent = new AgentPolicy(actions: ["invoices:read"]);
        var child = new AgentPolicy(actions: ["invoices:*"]);
        Assert.False(child.IsSubsetOf(parent, out var reason));
        Assert.Contains("action pattern 'invoices:*'", reason, StringComparison.Ordinal);
    }

    [Fact]
    public void IsSubsetOf_MoreDepth_ReasonNamesDepth()
    {
        Assert.False(new AgentPolicy(maxDelegationDepth: 3).IsSubsetOf(new AgentPolicy(maxDelegationDepth: 2), out var reason));
        Assert.Contains("delegation depth 3 exceeds the parent's 2", reason, StringComparison.Ordinal);
    }

    [Fact]
    public void IsSubsetOf_IgnoresTaskId() =>
        Assert.True(new AgentPolicy(taskId: "t1").IsSubsetOf(new AgentPolicy(taskId: "t2")));

    [Fact]
    public void Constructor_CoveredAndDuplicatePatterns_AreDropped()
    {
        var policy = new AgentPolicy(
            services: ["spiffe://td/svc/erp", "spiffe://td/svc/*", "spiffe://td/svc/*"],
            actions: ["invoices:read", "invoices:*", "orders:read"]);
        Assert.Equal(["spiffe://td/svc/*"], policy.Services);
        Assert.Equal(["invoices:*", "orders:read"], policy.Actions);
    }

    [Fact]
    public void Intersect_CrossWildcards_ProducesSpecificPatterns()
    {
        var a = new AgentPolicy(actions: ["invoices:*"], tools: ["Erp.*"], services: ["spiffe://td/svc/*"], maxDelegationDepth: 2);
        var b = new AgentPolicy(actions: ["*:read"], tools: ["*.GetInvoice", "Crm.Find"], services: ["spiffe://td/svc/erp"], maxDelegationDepth: 1);
        var both = a.Intersect(b);
        Assert.Equal(["invoices:read"], both.Actions);
        Assert.Equal(["Erp.GetInvoice"], both.Tools);
        Assert.Equal(["spiffe://td/svc/erp"], both.Services);
        Assert.Equal(1, both.MaxDelegationDepth);
    }

    [Theory]
    [InlineData("services", "spiffe://td/svc/", "is not a SPIFFE ID")]
    [InlineData("services", "spiffe://TD/svc", "is not a SPIFFE ID")]
    [InlineData("services", "spiffe://td", "must name a workload")]
    [InlineData("services", "spiffe://td/svc/e*", "is not a SPIFFE ID")]
    [InlineData("services", "https://td/svc", "is not a SPIFFE ID")]
    [InlineData("actions", "invoices::read", "empty segment")]
    [InlineData("actions", "invoices:re*d", "character '*' is not allowed")]
    [InlineData("actions", "invoices:read ", "character ' ' is not allowed")]
    [InlineData("tools", "Erp.Get.", "empty segment")]
    [InlineData("tools", "Erp:Get", "character ':' is not allowed")]
    [InlineData("delegationTargets", "spiffe://td/a//b", "is not a SPIFFE ID")]
    public void Constructor_BadPattern_ThrowsNamingPattern(string axis, string pattern, string expected)
    {
        var ex = Assert.Throws<ArgumentException>(() => axis switch
        {
            "services" => new AgentPolicy(services: [pattern]),
            "actions" => new AgentPolicy(actions: [pattern]),
            "tools" => new AgentPolicy(tools: [pattern]),
            _ => new AgentPolicy(delegationTargets: [pattern]),
        });
        Assert.Contains(pattern, ex.Message, StringComparison.Ordinal);
        Assert.Contains(expected, ex.Message, StringComparison.Ordinal);
        Assert.Equal(axis, ex.ParamName);
    }

    [Theory]
    [InlineData("")]
    [InlineData("..")]
    [InlineData("a/b")]
    [InlineData("t*")]
    public void Constructor_BadTaskId_Throws(string taskId) =>
        Assert.Contains("Task id", Assert.Throws<ArgumentException>(() => new AgentPolicy(taskId: taskId)).Message, StringComparison.Ordinal);

    [Theory]
    [InlineData(-1)]
    [InlineData(9)]
    public void Constructor_DepthOutOfRange_Throws(int depth) =>
        Assert.Throws<ArgumentOutOfRangeException>(() => new AgentPolicy(maxDelegationDepth: depth));

    [Fact]
    public void Constructor_TooManyPatterns_Throws()
    {
        var ex = Assert.Throws<ArgumentException>(() => new AgentPolicy(actions: Enumerable.Range(0, 65).Select(i => $"a{i}:read")));
        Assert.Contains("at most 64", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Constructor_EncodingTooLarge_Throws()
    {
        var ex = Assert.Throws<ArgumentException>(() => new AgentPolicy(services: Enumerable.Range(0, 40).Select(i => $"spiffe://td/{new string('s', 120)}{i}")));
        Assert.Contains("at most 4096", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ToDer_ExampleFromDocs_MatchesDocumentedHex()
    {
        // docs/policy-extension.md, "Example"
        var policy = new AgentPolicy(
            services: ["spiffe://corp.example/svc/erp"],
            actions: ["invoices:read"],
            tools: ["Erp.GetInvoice"],
            maxDelegationDepth: 1,
            delegationTargets: ["spiffe://corp.example/agent/planner/1/task/*"],
            taskId: "t1");
        Assert.Equal(
            "308180020101301f161d7370696666653a2f2f636f72702e6578616d706c652f7376632f657270300f160d696e766f696365733a726561643010160e4572702e476574496e766f6963653033020101302e162c7370696666653a2f2f636f72702e6578616d706c652f6167656e742f706c616e6e65722f312f7461736b2f2a80027431",
            Convert.ToHexStringLower(policy.ToDer()));
    }

    [Fact]
    public void ToDer_KnownPolicy_MatchesDocumentedBytes()
    {
        var policy = new AgentPolicy(services: ["spiffe://td/svc/*"], actions: ["a:r"], tools: ["E.G"], maxDelegationDepth: 1, delegationTargets: ["spiffe://td/x/*"], taskId: "t");
        Assert.Equal(ExpectedManually(), policy.ToDer());
    }

    private static byte[] ExpectedManually()
    {
        var writer = new AsnWriter(AsnEncodingRules.DER);
        using (writer.PushSequence())
        {
            writer.WriteInteger(1);
            using (writer.PushSequence())
            {
                writer.WriteCharacterString(UniversalTagNumber.IA5String, "spiffe://td/svc/*");
            }

            using (writer.PushSequence())
            {
                writer.WriteCharacterString(UniversalTagNumber.IA5String, "a:r");
            }

            using (writer.PushSequence())
            {
                writer.WriteCharacterString(UniversalTagNumber.IA5String, "E.G");
            }

            using (writer.PushSequence())
            {
                writer.WriteInteger(1);
                using (writer.PushSequence())
                {
                    writer.WriteCharacterString(UniversalTagNumber.IA5String, "spiffe://td/x/*");
                }
            }

            writer.WriteCharacterString(UniversalTagNumber.IA5String, "t", new Asn1Tag(TagClass.ContextSpecific, 0));
        }

        return writer.Encode();
    }
}
