using System.Reflection;
using System.Text;
using System.Text.RegularExpressions;

namespace AgentIdentity.Docs.Tests;

/// <summary>One fenced code block of README.md or docs/*.md, named by the <c>&lt;!-- snippet: NAME --&gt;</c> line before its fence.</summary>
/// <param name="Name">The snippet's name, or <see langword="null"/> when the fence has no marker line.</param>
/// <param name="Language">The fence's language (<c>csharp</c>, <c>xml</c>, ...).</param>
/// <param name="File">The markdown file, relative to the repository root.</param>
/// <param name="Line">The 1-based line of the opening fence.</param>
/// <param name="Code">The block's text, with the fence's own indentation removed from every line.</param>
public sealed partial record DocSnippet(string? Name, string Language, string File, int Line, string Code)
{
    /// <summary>Gets the repository root (set at build time, so the tests read the working tree's docs).</summary>
    public static string RepositoryRoot { get; } = typeof(DocSnippet).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
        .Single(a => a.Key == "RepositoryRoot").Value!;

    /// <summary>Gets every fenced block of README.md and docs/*.md, in file order.</summary>
    public static IReadOnlyList<DocSnippet> All { get; } = Load();

    /// <inheritdoc/>
    public override string ToString() => $"{Name ?? "(unnamed)"} ({File}:{Line})";

    private static List<DocSnippet> Load()
    {
        var files = new List<string> { Path.Combine(RepositoryRoot, "README.md") };
        files.AddRange(Directory.GetFiles(Path.Combine(RepositoryRoot, "docs"), "*.md").Order(StringComparer.Ordinal));
        var snippets = new List<DocSnippet>();
        foreach (var file in files)
        {
            var lines = System.IO.File.ReadAllLines(file);
            for (var i = 0; i < lines.Length; i++)
            {
                var open = Fence().Match(lines[i]);
                if (!open.Success || open.Groups["lang"].Value.Length == 0)
                {
                    continue;
                }

                var indent = open.Groups["indent"].Value.Length;
                var code = new StringBuilder();
                var start = i;
                for (i++; i < lines.Length && !ClosingFence().IsMatch(lines[i]); i++)
                {
                    var line = lines[i];
                    var strip = Math.Min(indent, line.Length - line.TrimStart(' ').Length);
                    code.Append(line, strip, line.Length - strip).Append('\n');
                }

                var marker = start > 0 ? Marker().Match(lines[start - 1]) : Match.Empty;
                snippets.Add(new DocSnippet(marker.Success ? marker.Groups["name"].Value : null, open.Groups["lang"].Value,
                    Path.GetRelativePath(RepositoryRoot, file), start + 1, code.ToString()));
            }
        }

        return snippets;
    }

    [GeneratedRegex(@"^(?<indent> *)```(?<lang>[A-Za-z0-9#+-]*)\s*$")]
    private static partial Regex Fence();

    [GeneratedRegex(@"^ *```\s*$")]
    private static partial Regex ClosingFence();

    [GeneratedRegex(@"^\s*<!-- snippet: (?<name>[a-z0-9-]+) -->\s*$")]
    private static partial Regex Marker();
}
