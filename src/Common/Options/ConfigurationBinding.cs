using System.Text.RegularExpressions;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;

namespace AgentIdentity;

/// <summary>
/// What every configuration overload of the packages shares. The binding itself is the configuration binder's source generator
/// (each call site calls <c>configuration.Bind(options, ConfigurationBinding.Strict)</c> on its concrete options type, which the
/// generator intercepts); this class only makes its errors name the full configuration key: an unknown key
/// (<see cref="Run"/>), and a rule that a bound value breaks (<see cref="ConfigurationKeyValidator{TOptions}"/>).
/// </summary>
internal static partial class ConfigurationBinding
{
    private const string UnknownKeysMarker = "were not found on the instance of ";

    /// <summary>The binder options of every binding: a key that is not an option is an error, not silently ignored.</summary>
    public static void Strict(BinderOptions options) => options.ErrorOnUnknownConfiguration = true;

    /// <summary>Runs a source-generated <c>Bind</c> call on <paramref name="configuration"/>; the binder's unknown-key error (which
    /// names only the last segment of the key) is rethrown naming each unknown key's full path.</summary>
    /// <exception cref="InvalidOperationException">A key is not an option, or a value does not convert; the message names the key.</exception>
    public static void Run(IConfiguration configuration, Action bind)
    {
        try
        {
            bind();
        }
        catch (InvalidOperationException ex) when (DescribeUnknownKeys(configuration, ex.Message) is { } message)
        {
            throw new InvalidOperationException(message, ex);
        }
    }

    /// <summary>The full path of <paramref name="relativeKey"/> below <paramref name="configuration"/> (a section or a root).</summary>
    public static string PathOf(IConfiguration configuration, string relativeKey) =>
        configuration is IConfigurationSection { Path.Length: > 0 } section ? ConfigurationPath.Combine(section.Path, relativeKey) : relativeKey;

    /// <summary>The path of <paramref name="configuration"/>: a section's path, or the empty string for a root.</summary>
    public static string PathOf(IConfiguration configuration) => configuration is IConfigurationSection section ? section.Path : string.Empty;

    /// <summary>A copy of <paramref name="configuration"/> without the subtrees at <paramref name="relativePaths"/>, with the same
    /// paths (so the binder's conversion errors still name the full key): for keys that a reader other than the binder handles
    /// (a policy, the declared agents).</summary>
    public static IConfiguration Without(IConfiguration configuration, params string[] relativePaths)
    {
        var excluded = relativePaths.Select(p => PathOf(configuration, p)).ToArray();
        var data = configuration.AsEnumerable().Where(pair => !excluded.Any(path => IsAtOrBelow(pair.Key, path)));
        var copy = new ConfigurationBuilder().AddInMemoryCollection(data).Build();
        return configuration is IConfigurationSection { Path.Length: > 0 } section ? copy.GetSection(section.Path) : copy;
    }

    private static bool IsAtOrBelow(string key, string path) =>
        key.Equals(path, StringComparison.OrdinalIgnoreCase) ||
        (key.Length > path.Length && key[path.Length] == ':' && key.StartsWith(path, StringComparison.OrdinalIgnoreCase));

    private static string? DescribeUnknownKeys(IConfiguration configuration, string message)
    {
        var at = message.IndexOf(UnknownKeysMarker, StringComparison.Ordinal);
        if (at < 0)
        {
            return null;
        }

        var rest = message[(at + UnknownKeysMarker.Length)..];
        var colon = rest.IndexOf(": ", StringComparison.Ordinal);
        if (colon < 0)
        {
            return null;
        }

        var typeName = rest[..colon];
        typeName = typeName[(typeName.LastIndexOf('.') + 1)..];
        var keys = QuotedKey().Matches(rest[colon..]).Select(m => m.Groups[1].Value).ToHashSet(StringComparer.OrdinalIgnoreCase);
        var paths = Descendants(configuration).Where(s => keys.Contains(s.Key)).Select(s => $"'{s.Path}'").Distinct(StringComparer.Ordinal).ToList();
        if (paths.Count == 0)
        {
            return null;
        }

        return $"Unknown configuration key {string.Join(", ", paths)}: {typeName} has no such option (keys are the option names; see docs/configuration.md). {message}";
    }

    private static IEnumerable<IConfigurationSection> Descendants(IConfiguration configuration)
    {
        foreach (var child in configuration.GetChildren())
        {
            yield return child;
            foreach (var descendant in Descendants(child))
            {
                yield return descendant;
            }
        }
    }

    [GeneratedRegex("'([^']*)'")]
    private static partial Regex QuotedKey();
}

/// <summary>Marks that the options named <see cref="Name"/> were bound from the configuration section at <see cref="Path"/>, so that
/// their validation errors also name the configuration key.</summary>
/// <typeparam name="TOptions">The options type.</typeparam>
/// <param name="Name">The options name (<see cref="Options.DefaultName"/> for unnamed options).</param>
/// <param name="Path">The section's path; empty for a configuration root.</param>
internal sealed record ConfigurationSource<TOptions>(string Name, string Path);

/// <summary>Runs an options type's validators and, for options bound from configuration, adds the configuration key to each failure:
/// <c>The field planner.Lifetime must be between … (configuration key 'AgentIdentity:Agents:planner:Lifetime')</c>.</summary>
/// <typeparam name="TOptions">The options type.</typeparam>
internal sealed partial class ConfigurationKeyValidator<TOptions>(IEnumerable<ConfigurationSource<TOptions>> sources, IValidateOptions<TOptions>[] validators) : IValidateOptions<TOptions>
    where TOptions : class
{
    public ValidateOptionsResult Validate(string? name, TOptions options)
    {
        var builder = new ValidateOptionsResultBuilder();
        foreach (var validator in validators)
        {
            builder.AddResult(validator.Validate(name, options));
        }

        var result = builder.Build();
        var source = sources.LastOrDefault(s => s.Name == (name ?? Options.DefaultName));
        if (!result.Failed || source is null)
        {
            return result;
        }

        var displayName = OptionsValidation.DisplayName(name, typeof(TOptions).Name);
        return ValidateOptionsResult.Fail(result.Failures!.Select(failure => WithKey(failure, displayName, source.Path)));
    }

    /// <summary>Adds the key of the first option that <paramref name="failure"/> names (<c>displayName.Member.Member</c>).</summary>
    internal static string WithKey(string failure, string displayName, string path)
    {
        var member = Regex.Match(failure, Regex.Escape(displayName) + @"\.([A-Za-z0-9_]+(?:\.[A-Za-z0-9_]+)*)");
        if (!member.Success)
        {
            return path.Length == 0 ? failure : $"{failure} (configuration section '{path}')";
        }

        var relative = member.Groups[1].Value.Replace('.', ':');
        var key = path.Length == 0 ? relative : $"{path}:{relative}";
        return $"{failure} (configuration key '{key}')";
    }
}
