using FsCheck;
using FsCheck.Fluent;

namespace AgentIdentity.Tests.Policy;

/// <summary>FsCheck generators over a small, overlapping pattern alphabet, so that subsets and intersections are frequent.</summary>
public static class PolicyArbitraries
{
    public static readonly string[] ServiceAtoms =
    [
        "spiffe://td/*", "spiffe://td/svc/*", "spiffe://td/svc/erp", "spiffe://td/svc/erp/*", "spiffe://td/svc/crm",
        "spiffe://td/agent/planner/*", "spiffe://td/agent/planner/1", "spiffe://td/agent/planner/1/task/*", "spiffe://other/svc/erp",
    ];

    public static readonly string[] ActionAtoms =
        ["invoices:read", "invoices:write", "invoices:*", "*:read", "*:*", "orders:read", "orders:*", "*", "admin", "a.b:c:*"];

    public static readonly string[] ToolAtoms = ["Erp.GetInvoice", "Erp.*", "*.GetInvoice", "Crm.Find", "*.*", "Erp", "*"];

    public static readonly string[] ServiceProbes =
    [
        "spiffe://td/svc/erp", "spiffe://td/svc/erp/v2", "spiffe://td/svc/crm", "spiffe://td/svc", "spiffe://td/agent/planner/1",
        "spiffe://td/agent/planner/1/task/x", "spiffe://td/agent/planner/2", "spiffe://td/x", "spiffe://other/svc/erp", "spiffe://other/svc/erp/v2",
    ];

    public static readonly string[] ActionProbes =
        ["invoices:read", "invoices:write", "orders:read", "orders:delete", "admin", "users:read", "a.b:c:d", "a.b:x:d", "invoices"];

    public static readonly string[] ToolProbes = ["Erp.GetInvoice", "Erp.Post", "Crm.GetInvoice", "Crm.Find", "Erp", "X", "X.Y.Z"];

    public static Gen<AgentPolicy> Policies { get; } =
        from services in Gen.SubListOf(ServiceAtoms)
        from actions in Gen.SubListOf(ActionAtoms)
        from tools in Gen.SubListOf(ToolAtoms)
        from depth in Gen.Choose(0, 3)
        from targets in Gen.SubListOf(ServiceAtoms)
        from task in Gen.Elements<string?>(null, "t1", "t2")
        select new AgentPolicy(services, actions, tools, depth, targets, task);

    public static Arbitrary<AgentPolicy> AgentPolicy() => Policies.ToArbitrary();

    public static bool SameAllowances(AgentPolicy x, Func<string, bool> services, Func<string, bool> actions, Func<string, bool> tools, Func<string, bool> targets) =>
        ServiceProbes.All(p => x.AllowsService(SpiffeId.Parse(p)) == services(p)) &&
        ActionProbes.All(p => x.AllowsAction(p) == actions(p)) &&
        ToolProbes.All(p => x.AllowsTool(p) == tools(p)) &&
        ServiceProbes.All(p => x.AllowsDelegationTo(SpiffeId.Parse(p)) == targets(p));

    public static bool AllowsNoMoreThan(AgentPolicy child, AgentPolicy parent) =>
        ServiceProbes.All(p => !child.AllowsService(SpiffeId.Parse(p)) || parent.AllowsService(SpiffeId.Parse(p))) &&
        ActionProbes.All(p => !child.AllowsAction(p) || parent.AllowsAction(p)) &&
        ToolProbes.All(p => !child.AllowsTool(p) || parent.AllowsTool(p)) &&
        ServiceProbes.All(p => !child.AllowsDelegationTo(SpiffeId.Parse(p)) || parent.AllowsDelegationTo(SpiffeId.Parse(p))) &&
        child.MaxDelegationDepth <= parent.MaxDelegationDepth;
}
