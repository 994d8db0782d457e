using System.Diagnostics.CodeAnalysis;
using System.Security.Cryptography.X509Certificates;

namespace AgentIdentity;

/// <summary>The RFC 5280 (section 5.3.1) names of the revocation reasons a revocation may carry, as <c>v1/revoke</c> and
/// <c>agentid revoke --reason</c> spell them. <c>certificateHold</c> and <c>removeFromCRL</c> are not accepted: a revocation is permanent.</summary>
internal static class RevocationReasonNames
{
    private static readonly (string Name, X509RevocationReason Reason)[] Names =
    [
        ("unspecified", X509RevocationReason.Unspecified),
        ("keyCompromise", X509RevocationReason.KeyCompromise),
        ("cACompromise", X509RevocationReason.CACompromise),
        ("affiliationChanged", X509RevocationReason.AffiliationChanged),
        ("superseded", X509RevocationReason.Superseded),
        ("cessationOfOperation", X509RevocationReason.CessationOfOperation),
        ("privilegeWithdrawn", X509RevocationReason.PrivilegeWithdrawn),
        ("aACompromise", X509RevocationReason.AACompromise),
    ];

    /// <summary>Gets the accepted names, comma-separated, for error messages and help.</summary>
    public static string Accepted { get; } = string.Join(", ", Names.Select(n => n.Name));

    /// <summary>Parses a reason name, case-insensitively.</summary>
    /// <param name="name">The name, for example <c>keyCompromise</c>.</param>
    /// <param name="reason">The reason.</param>
    /// <param name="error">Why the name is not accepted.</param>
    /// <returns><see langword="true"/> when accepted.</returns>
    public static bool TryParse(string name, out X509RevocationReason reason, [NotNullWhen(false)] out string? error)
    {
        foreach (var (candidate, value) in Names)
        {
            if (string.Equals(candidate, name, StringComparison.OrdinalIgnoreCase))
            {
                reason = value;
                error = null;
                return true;
            }
        }

        reason = X509RevocationReason.Unspecified;
        error = string.Equals(name, "certificateHold", StringComparison.OrdinalIgnoreCase) || string.Equals(name, "removeFromCRL", StringComparison.OrdinalIgnoreCase)
            ? $"the reason '{name}' is not accepted: revocations are permanent, there is no hold to remove later. Use one of: {Accepted}."
            : $"'{name}' is not an RFC 5280 revocation reason; use one of: {Accepted}.";
        return false;
    }

    /// <summary>Gets the RFC 5280 name of a reason.</summary>
    /// <param name="reason">The reason.</param>
    /// <returns>The name; the enum's name for reasons outside the table.</returns>
    public static string ToName(X509RevocationReason reason)
    {
        foreach (var (name, value) in Names)
        {
            if (value == reason)
            {
                return name;
            }
        }

        return reason switch
        {
            X509RevocationReason.CertificateHold => "certificateHold",
            X509RevocationReason.RemoveFromCrl => "removeFromCRL",
            _ => reason.ToString(),
        };
    }
}
