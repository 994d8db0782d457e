using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace AgentIdentity;

/// <summary>Helpers shared by the options validators of the packages: each options type has a source-generated
/// <c>[OptionsValidator]</c> for its attribute rules and a small <see cref="IValidateOptions{TOptions}"/> for the rules that
/// relate several options; the messages name the option (<c>AuditLogOptions.Directory is required …</c>).</summary>
internal static class OptionsValidation
{
    /// <summary>Why <c>[Range(typeof(TimeSpan), …)]</c> is trim-safe here: the options validator generator replaces the attribute with
    /// its own copy that parses the bounds with <see cref="TimeSpan.TryParse(string?, IFormatProvider?, out TimeSpan)"/>, without reflection.</summary>
    public const string TimeSpanRangeJustification =
        "The [OptionsValidator] source generator validates with its own RangeAttribute copy, which parses TimeSpan bounds without TypeDescriptor.";

    /// <summary>The name the generated validators give an options instance: its name, or its type name for the default instance.</summary>
    public static string DisplayName(string? name, string typeName) => string.IsNullOrEmpty(name) ? typeName : name;

    /// <summary>The result of a rules class that collected its failures, each naming the option.</summary>
    public static ValidateOptionsResult Result(List<string> failures) =>
        failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);

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
        value is string { Length: > 0 } text && !TrustDomain.TryParse(text.AsSpan(), out _, out var error)
            ? new ValidationResult($"{validationContext.DisplayName} '{DisplayText.Truncate(text)}' is invalid: {error}.", validationContext.MemberName is { } member ? [member] : null)
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

/// <summary>Validates that a whole number (<see cref="int"/> or <see cref="long"/>) is at least <see cref="Minimum"/>.</summary>
/// <param name="minimum">The smallest value accepted.</param>
[AttributeUsage(AttributeTargets.Property)]
internal sealed class AtLeastAttribute(long minimum) : ValidationAttribute
{
    /// <summary>Gets the smallest value accepted.</summary>
    public long Minimum { get; } = minimum;

    protected override ValidationResult? IsValid(object? value, ValidationContext validationContext) =>
        (value switch { int i => i, long l => l, _ => (long?)null }) is { } number && number < Minimum
            ? new ValidationResult($"{validationContext.DisplayName} must be at least {Minimum}; it is {number}.", validationContext.MemberName is { } member ? [member] : null)
            : ValidationResult.Success;
}
