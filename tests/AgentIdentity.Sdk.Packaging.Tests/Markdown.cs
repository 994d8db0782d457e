using System.Text.RegularExpressions;

namespace AgentIdentity.Packaging.Tests;

/// <summary>The few Markdown facts the tests read: fenced code blocks, markers, sections and links.</summary>
internal static partial class Markdown
{
    /// <summary>The fenced code blocks of <paramref name="markdown"/>, in order, with their info string (<c>csharp</c>, <c>bash</c> ...)
    /// and the index of the line that opens them.</summary>
    public static IReadOnlyList<CodeBlock> CodeBlocks(string markdown)
    {
        var lines = markdown.ReplaceLineEndings("\n").Split('\n');
        var blocks = new List<CodeBlock>();
        for (var i = 0; i < lines.Length; i++)
        {
            if (!lines[i].TrimStart().StartsWith("```", StringComparison.Ordinal))
            {
                continue;
            }

            var info = lines[i].Trim()[3..].Trim();
            var start = i;
            var body = new List<string>();
            for (i++; i < lines.Length && !lines[i].TrimStart().StartsWith("```", StringComparison.Ordinal); i++)
            {
                body.Add(lines[i]);
            }

            blocks.Add(new CodeBlock(info, string.Join('\n', body) + "\n", start));
        }

        return blocks;
    }

    /// <summary>The code block that immediately follows the line <c>&lt;!-- snippet: name --&gt;</c> (only blank lines between),
    /// or <see langword="null"/> with the reason.</summary>
    public static CodeBlock? AfterMarker(string markdown, string name, string language, out string? problem)
    {
        var lines = markdown.ReplaceLineEndings("\n").Split('\n');
        var marker = $"<!-- snippet: {name} -->";
        var at = Array.FindIndex(lines, l => l.Trim() == marker);
        if (at < 0)
        {
            problem = $"README.md has no line '{marker}' followed by a ```{language} block";
            return null;
        }

        var next = at + 1;
        while (next < lines.Length && lines[next].Trim().Length == 0)
        {
            next++;
        }

        var block = CodeBlocks(markdown).FirstOrDefault(b => b.Line == next);
        if (block is null || block.Language != language)
        {
            problem = $"the line '{marker}' of README.md (line {at + 1}) is not followed by a ```{language} block";
            return null;
        }

        problem = null;
        return block;
    }

    /// <summary>The text of the section that starts with the heading line <paramref name="heading"/> (up to the next heading of any level).</summary>
    public static string? Section(string markdown, string heading)
    {
        var lines = markdown.ReplaceLineEndings("\n").Split('\n');
        var at = Array.FindIndex(lines, l => l.Trim() == heading);
        if (at < 0)
        {
            return null;
        }

        var inCode = false;
        var end = at + 1;
        for (; end < lines.Length; end++)
        {
            if (lines[end].TrimStart().StartsWith("```", StringComparison.Ordinal))
            {
                inCode = !inCode;
            }
            else if (!inCode && lines[end].StartsWith('#'))
            {
                break;
            }
        }

        return string.Join('\n', lines[at..end]);
    }

    /// <summary>The targets of the Markdown links and images of <paramref name="markdown"/> outside code.</summary>
    public static IEnumerable<string> LinkTargets(string markdown) =>
        LinkPattern().Matches(CodeFence().Replace(markdown, "")).Select(m => m.Groups[1].Value);

    [GeneratedRegex(@"\]\(([^)\s]+)(?:\s+""[^""]*"")?\)")]
    private static partial Regex LinkPattern();

    [GeneratedRegex(@"```.*?```", RegexOptions.Singleline)]
    private static partial Regex CodeFence();
}

/// <summary>A fenced code block.</summary>
internal sealed record CodeBlock(string Language, string Code, int Line);
