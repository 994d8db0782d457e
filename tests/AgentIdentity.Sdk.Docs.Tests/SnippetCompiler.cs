using System.Reflection;
using System.Text;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace AgentIdentity.Docs.Tests;

/// <summary>Compiles a snippet as written, as the top-level program of a console app (<c>ImplicitUsings</c> and <c>Nullable</c>
/// enabled, as <c>dotnet new console</c> sets them), against the packages this project references, and runs it.</summary>
internal static class SnippetCompiler
{
    /// <summary>The implicit usings of a <c>Microsoft.NET.Sdk</c> console app: the only namespaces a snippet may leave out.</summary>
    private const string ImplicitUsings = """
        global using System;
        global using System.Collections.Generic;
        global using System.IO;
        global using System.Linq;
        global using System.Net.Http;
        global using System.Threading;
        global using System.Threading.Tasks;
        """;

    private static readonly Lazy<MetadataReference[]> References = new(() =>
    {
        var paths = ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator)
            .Append(typeof(SnippetCompiler).Assembly.Location)
            .Where(p => p.EndsWith(".dll", StringComparison.OrdinalIgnoreCase))
            .DistinctBy(Path.GetFileName, StringComparer.OrdinalIgnoreCase);
        return [.. paths.Select(p => MetadataReference.CreateFromFile(p))];
    });

    /// <summary>Compiles <paramref name="snippet"/>; the names it uses without declaring them come from <see cref="SnippetContext"/>.</summary>
    /// <returns>The assembly, loaded.</returns>
    /// <exception cref="InvalidOperationException">The snippet does not compile; the message lists every error with its doc line.</exception>
    public static Assembly Compile(DocSnippet snippet)
    {
        var parse = new CSharpParseOptions(LanguageVersion.Latest);
        var trees = new[]
        {
            CSharpSyntaxTree.ParseText(snippet.Code, parse, path: snippet.File),
            CSharpSyntaxTree.ParseText(ImplicitUsings + "\nglobal using static AgentIdentity.Docs.Tests.SnippetContext;\n", parse, path: "harness.cs"),
        };
        // A snippet of declarations only (a type, no statements) compiles as a library.
        var kind = trees[0].GetRoot().DescendantNodes().OfType<GlobalStatementSyntax>().Any() ? OutputKind.ConsoleApplication : OutputKind.DynamicallyLinkedLibrary;
        var compilation = CSharpCompilation.Create($"snippet_{snippet.Name}_{Guid.NewGuid():N}", trees, References.Value,
            new CSharpCompilationOptions(kind, nullableContextOptions: NullableContextOptions.Enable));
        using var pe = new MemoryStream();
        var result = compilation.Emit(pe);
        if (!result.Success)
        {
            var errors = new StringBuilder($"The snippet {snippet} does not compile as written:\n");
            foreach (var d in result.Diagnostics.Where(d => d.Severity == DiagnosticSeverity.Error))
            {
                var span = d.Location.GetLineSpan();
                errors.Append(span.Path == snippet.File ? $"  {snippet.File}:{snippet.Line + 1 + span.StartLinePosition.Line}" : $"  {span.Path}")
                    .Append(": ").Append(d.Id).Append(' ').Append(d.GetMessage(System.Globalization.CultureInfo.InvariantCulture)).Append('\n');
            }

            throw new InvalidOperationException(errors.ToString());
        }

        return Assembly.Load(pe.ToArray());
    }

    /// <summary>Runs the compiled program's top-level statements and returns what it wrote to the console.</summary>
    public static async Task<string> RunAsync(Assembly program)
    {
        var main = program.GetTypes().SelectMany(t => t.GetMethods(BindingFlags.Static | BindingFlags.NonPublic | BindingFlags.Public))
            .SingleOrDefault(m => m.Name == "<Main>$")
            ?? throw new InvalidOperationException($"{program.GetName().Name} has no statements to run: list it as compile-only (declarations).");
        var output = new StringWriter();
        var previous = Console.Out;
        Console.SetOut(TextWriter.Synchronized(output));
        try
        {
            var result = main.Invoke(null, main.GetParameters().Length == 0 ? null : [Array.Empty<string>()]);
            if (result is Task task)
            {
                await task.WaitAsync(TimeSpan.FromSeconds(60));
            }
        }
        catch (TargetInvocationException ex) when (ex.InnerException is not null)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(ex.InnerException);
        }
        finally
        {
            Console.SetOut(previous);
        }

        return output.ToString();
    }
}
