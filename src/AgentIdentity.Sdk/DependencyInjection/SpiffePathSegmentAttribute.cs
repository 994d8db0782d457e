using System.ComponentModel.DataAnnotations;

namespace AgentIdentity;

/// <summary>Validates that a string, when set, is one SPIFFE ID path segment such as an agent name (<c>planner</c>).</summary>
[AttributeUsage(AttributeTargets.Property)]
internal sealed class SpiffePathSegmentAttribute : ValidationAttribute
{
    protected override ValidationResult? IsValid(object? value, ValidationContext validationContext) =>
        value is string text && SpiffeIdRules.ValidateSegment(text) is { } error
            ? new ValidationResult($"{validationContext.DisplayName} '{TrustDomain.Truncate(text)}' is invalid: {error}.", validationContext.MemberName is { } member ? [member] : null)
            : ValidationResult.Success;
}
