using System.Diagnostics;
using System.Reflection;
using System.Text.Json;
using System.Xml.Linq;

namespace AgentIdentity.Packaging.Tests;

/// <summary>Packs every published package (src/*/ and templates/) once per test run into a local feed, a temporary folder,
/// with <c>dotnet pack --no-build</c> on what the test project's build built. The first-hour apps are built from that feed
/// on first use (<see cref="GetFirstHourAppsAsync"/>).</summary>
public sealed class PackedPackages : IAsyncLifetime
{
    private readonly Lazy<Task<FirstHourApps>> _firstHour;

    private static readonly Dictionary<string, string> Metadata =
        typeof(PackedPackages).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().ToDictionary(a => a.Key, a => a.Value!);

    public PackedPackages()
    {
        Root = Path.Combine(Path.GetTempPath(), "agentidentity-packaging-" + Guid.NewGuid().ToString("N")[..12]);
        Feed = Path.Combine(Root, "feed");
        Version = XDocument.Load(Path.Combine(RepositoryRoot, "Directory.Build.props")).Descendants("Version").Single().Value;
        _firstHour = new(() => FirstHourApps.CreateAsync(this));
    }

    /// <summary>Every published project: each src/*/*.csproj and the template pack, by package ID.</summary>
    public static IReadOnlyList<PackedProject> Projects { get; } = [.. Directory.GetDirectories(Path.Combine(Metadata["RepositoryRoot"], "src"))
        .Select(d => Directory.GetFiles(d, "*.csproj").SingleOrDefault())
        .OfType<string>()
        .Append(Path.Combine(Metadata["RepositoryRoot"], "templates", "AgentIdentity.Templates.csproj"))
        .Select(PackedProject.Read)
        .OrderBy(p => p.PackageId, StringComparer.Ordinal)];

    /// <summary>The package IDs, as xunit theory data.</summary>
    public static TheoryData<string> PackageIds => [.. Projects.Select(p => p.PackageId)];

    /// <summary>The project of <paramref name="packageId"/>.</summary>
    public static PackedProject Project(string packageId) => Projects.Single(p => p.PackageId == packageId);

    /// <summary>The repository's root folder.</summary>
    public static string RepositoryRoot => Metadata["RepositoryRoot"];

    /// <summary>The build configuration of the tests, and so of the packed assemblies.</summary>
    public static string Configuration => Metadata["Configuration"];

    /// <summary>This run's temporary folder (deleted at the end).</summary>
    public string Root { get; }

    /// <summary>The local feed: every .nupkg and .snupkg.</summary>
    public string Feed { get; }

    /// <summary>The version every package has (Directory.Build.props).</summary>
    public string Version { get; }

    /// <summary>The commit the packages were built from.</summary>
    public string Commit { get; private set; } = "";

    /// <summary>The pack command's run.</summary>
    public CliRun Pack { get; private set; } = null!;

    /// <summary>The path of the package <paramref name="packageId"/> in the feed.</summary>
    public string PackagePath(string packageId, string extension = "nupkg") => Path.Combine(Feed, $"{packageId}.{Version}.{extension}");

    /// <summary>The templates and README programs, created and built from the feed (once).</summary>
    public Task<FirstHourApps> GetFirstHourAppsAsync() => _firstHour.Value;

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(Feed);
        Commit = (await GitAsync("rev-parse", "HEAD")).Trim();

        // One pack command for every package: a solution filter over the repository's solution.
        var solution = Path.Combine(RepositoryRoot, "AgentIdentity.Sdk.sln");
        var filter = Path.Combine(Root, "packages.slnf");
        await File.WriteAllTextAsync(filter, JsonSerializer.Serialize(new
        {
            solution = new { path = solution, projects = Projects.Select(p => Path.GetRelativePath(RepositoryRoot, p.ProjectFile)).ToArray() },
        }));
        Pack = await DotnetCli.RunAsync(RepositoryRoot, new Dictionary<string, string>(), TimeSpan.FromMinutes(10),
            "pack", filter, "-c", Configuration, "--no-build", "-nodeReuse:false", $"-p:PackageOutputPath={Feed}{Path.DirectorySeparatorChar}");
    }

    public Task DisposeAsync()
    {
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
            // a process of a failed test may still hold a file; the temporary folder is the system's to clean
        }

        return Task.CompletedTask;
    }

    private static async Task<string> GitAsync(params string[] args)
    {
        var start = new ProcessStartInfo("git") { WorkingDirectory = RepositoryRoot, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        using var git = Process.Start(start)!;
        var output = await git.StandardOutput.ReadToEndAsync();
        await git.WaitForExitAsync();
        return git.ExitCode == 0 ? output : throw new InvalidOperationException($"git {string.Join(' ', args)} failed ({git.ExitCode})");
    }
}

/// <summary>A packed project: its folder, package ID and kind.</summary>
public sealed record PackedProject(string ProjectFile, string PackageId, bool IsTool, bool IsTemplate)
{
    /// <summary>The project's folder.</summary>
    public string Directory => Path.GetDirectoryName(ProjectFile)!;

    public static PackedProject Read(string projectFile)
    {
        var project = XDocument.Load(projectFile);
        string? Property(string name) => project.Descendants(name).FirstOrDefault()?.Value;
        return new PackedProject(
            projectFile,
            Property("PackageId") ?? Path.GetFileNameWithoutExtension(projectFile),
            string.Equals(Property("PackAsTool"), "true", StringComparison.OrdinalIgnoreCase),
            Property("PackageType") == "Template");
    }

    public override string ToString() => PackageId;
}

[CollectionDefinition(Name)]
public sealed class PackagingTests : ICollectionFixture<PackedPackages>
{
    public const string Name = "Packaging";
}
