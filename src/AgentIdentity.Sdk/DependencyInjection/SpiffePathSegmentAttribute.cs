using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace AgentIdentity;

/// <summary>Helpers shared by the options validators of this package.</summary>
internal static class OptionsValidation
{
    /// <summary>Why <c>[Range(typeof(TimeSpan), …)]</c> is trim-safe here: the options validator generator replaces the attribute with
    /// its own copy that parses the bounds with <see cref="TimeSpan.TryParse(string?, IFormatProvider?, out TimeSpan)"/>, without reflection.</summary>
    public const string TimeSpanRangeJustification =
        "The [OptionsValidator] source generator validates with its own RangeAttribute copy, which parses TimeSpan bounds without TypeDescriptor.";

    /// <summary>The name the generated validators give an options instance: its name, or its type name for the default instance.</summary>
    public static string DisplayName(string? name, string typeName) => string.IsNullOrEmpty(name) ? typeName : name;

    /// <summary>Runs <paramref name="validators"/> outside of dependency injection.</summary>
    /// <returns>The failures joined with "; ", or <see langword="null"/> when all pass.</returns>
    public static string? Validate<TOptions>(string? name, TOptions options, params ReadOnlySpan<IValidateOptions<TOptions>> validators)
        where TOptions : class
    {
        var builder = new ValidateOptionsResultBuilder();
        foreach (var validator in validators)
        {
            builder.AddResult(validator.Validate(name, options));
        }

        var result = builder.Build();
        return result.Failed ? result.FailureMessage : null;
    }
}

/// <summary>Validates that a string, when set, is a SPIFFE trust domain name such as <c>example.org</c>.</summary>
[AttributeUsage(AttributeTargets.Property)]
internal sealed class TrustDomainNameAttribute : ValidationAttribute
{
    protected override ValidationResult? IsValid(object? value, ValidationContext validationContext) =>
        value is string { Length: > 0 } text && !TrustDomain.TryParse(text, out _, out var error)
            ? new ValidationResult($"{validationContext.DisplayName} '{TrustDomain.Truncate(text)}' is invalid: {error}.", validationContext.MemberName is { } member ? [member] : null)
            : ValidationResult.Success;
}

/// <summary>Validates that a string, when set, is one SPIFFE ID path segment such as an agent name (<c>planner</c>).</summary>
[AttributeUsage(AttributeTargets.Property)]
internal sealed class SpiffePathSegmentAttribute : ValidationAttribute
{
    protected override ValidationResult? IsValid(object? value, ValidationContext validationContext) =>
        value is string text && SpiffeIdRules.ValidateSegment(text) is { } error
            ? new ValidationResult($"{validationContext.DisplayName} '{TrustDomain.Truncate(text)}' is invalid: {error}.", validationContext.MemberName is { } member ? [member] : null)
            : ValidationResult.Success;
}

/// <summary>Validates that a <see cref="TimeSpan"/> is positive (or, with <see cref="AllowZero"/>, not negative).</summary>
[AttributeUsage(AttributeTargets.Property)]
internal sealed class PositiveTimeSpanAttribute : ValidationAttribute
{
    /// <summary>Gets or sets a value indicating whether zero is accepted.</summary>
    public bool AllowZero { get; set; }

    protected override ValidationResult? IsValid(object? value, ValidationContext validationContext) =>
        value is TimeSpan span && (AllowZero ? span < TimeSpan.Zero : span <= TimeSpan.Zero)
            ? new ValidationResult($"{validationContext.DisplayName} must be {(AllowZero ? "zero or positive" : "positive")}; it is {span}.", validationContext.MemberName is { } member ? [member] : null)
            : ValidationResult.Success;
}
