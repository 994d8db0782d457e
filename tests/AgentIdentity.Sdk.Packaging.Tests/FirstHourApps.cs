using System.Security;
using System.Text;
using System.Text.RegularExpressions;
using System.Xml.Linq;

namespace AgentIdentity.Packaging.Tests;

/// <summary>What a new user creates in the first hour, from the local feed only: the template pack installed into a private
/// template hive (the machine's template cache is untouched), a project from each template, the README's first program and
/// each package README's program, restored into a private package folder and built together (one restore, one build).</summary>
public sealed partial class FirstHourApps
{
    /// <summary>The templates: short name and the folder the test creates each in.</summary>
    public static readonly IReadOnlyList<(string ShortName, string Folder)> Templates =
        [("agentidentity-agent", "MyAgent"), ("agentidentity-service", "MyService"), ("agentidentity-issuer", "MyIssuer")];

    /// <summary>The README programs' folder for a package.</summary>
    public static string ReadmeFolder(string packageId) => "Readme." + packageId;

    /// <summary>The folder of the README's first program.</summary>
    public const string FirstProgramFolder = "FirstProgram";

    private FirstHourApps(string apps, IReadOnlyDictionary<string, string> environment, CliRun install, IReadOnlyDictionary<string, CliRun> created, string? firstProgramProblem, CliRun build)
    {
        Directory = apps;
        Environment = environment;
        Install = install;
        Created = created;
        FirstProgramProblem = firstProgramProblem;
        Build = build;
    }

    /// <summary>The folder holding every app.</summary>
    public string Directory { get; }

    /// <summary>The environment of every dotnet command: the private CLI home and package folder.</summary>
    public IReadOnlyDictionary<string, string> Environment { get; }

    /// <summary><c>dotnet new install</c>'s run.</summary>
    public CliRun Install { get; }

    /// <summary><c>dotnet new &lt;template&gt;</c>'s run, by folder.</summary>
    public IReadOnlyDictionary<string, CliRun> Created { get; }

    /// <summary>Why the README's first program could not be extracted, or <see langword="null"/>.</summary>
    public string? FirstProgramProblem { get; }

    /// <summary>The restore and build of every app.</summary>
    public CliRun Build { get; }

    /// <summary>The path of an app's folder.</summary>
    public string Folder(string name) => Path.Combine(Directory, name);

    /// <summary>Whether the app in <paramref name="folder"/> was built.</summary>
    public bool IsBuilt(string folder) => File.Exists(Path.Combine(Folder(folder), "bin", "Debug", "net10.0", folder + ".dll"));

    internal static async Task<FirstHourApps> CreateAsync(PackedPackages packages)
    {
        var root = Path.Combine(packages.Root, "first-hour");
        var apps = Path.Combine(root, "apps");
        var hive = Path.Combine(root, "template-hive");
        System.IO.Directory.CreateDirectory(apps);
        var environment = new Dictionary<string, string>
        {
            ["DOTNET_CLI_HOME"] = Path.Combine(root, "home"),       // the CLI's first-run state and user settings
            ["NUGET_PACKAGES"] = Path.Combine(root, "packages"),    // the packed packages never reach the machine's package folder
        };

        // Restore: AgentIdentity.* only from the local feed; every other package from this machine's package folders, which
        // the solution's restore has filled (offline: no registry is asked).
        var machinePackages = System.Environment.GetEnvironmentVariable("NUGET_PACKAGES") is { Length: > 0 } configured
            ? configured
            : Path.Combine(System.Environment.GetFolderPath(System.Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        var sources = new List<(string Key, string Path)> { ("agentidentity-local", packages.Feed), ("machine", machinePackages) };
        if (System.IO.Directory.Exists("/opt/nuget/packages"))
        {
            sources.Add(("machine-offline", "/opt/nuget/packages"));
        }

        await File.WriteAllTextAsync(Path.Combine(apps, "NuGet.config"), $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <packageSources>
                <clear />
            {string.Concat(sources.Select(s => $"    <add key=\"{s.Key}\" value=\"{SecurityElement.Escape(s.Path)}\" />\n"))}  </packageSources>
              <packageSourceMapping>
                <packageSource key="agentidentity-local"><package pattern="AgentIdentity.*" /></packageSource>
            {string.Concat(sources.Skip(1).Select(s => $"    <packageSource key=\"{s.Key}\"><package pattern=\"*\" /></packageSource>\n"))}  </packageSourceMapping>
            </configuration>
            """);

        var timeout = TimeSpan.FromMinutes(5);
        var install = await DotnetCli.RunAsync(apps, environment, timeout,
            "new", "install", packages.PackagePath("AgentIdentity.Templates"), "--debug:custom-hive", hive);
        var created = new Dictionary<string, CliRun>();
        var projects = new List<string>();
        foreach (var (shortName, folder) in Templates)
        {
            created[folder] = await DotnetCli.RunAsync(apps, environment, timeout,
                "new", shortName, "-o", folder, "--debug:custom-hive", hive, "--no-update-check");
            projects.Add($"{folder}/{folder}.csproj");
        }

        // The README's smallest complete program and its project file, as written.
        var readme = await File.ReadAllTextAsync(Path.Combine(PackedPackages.RepositoryRoot, "README.md"));
        var program = Markdown.AfterMarker(readme, "first-program", "csharp", out var programProblem);
        var projectFile = Markdown.AfterMarker(readme, "first-program-csproj", "xml", out var projectProblem);
        var firstProgramProblem = programProblem ?? projectProblem;
        if (program is not null && projectFile is not null)
        {
            var folder = Path.Combine(apps, FirstProgramFolder);
            System.IO.Directory.CreateDirectory(folder);
            await File.WriteAllTextAsync(Path.Combine(folder, "Program.cs"), program.Code);
            await File.WriteAllTextAsync(Path.Combine(folder, FirstProgramFolder + ".csproj"), projectFile.Code);
            projects.Add($"{FirstProgramFolder}/{FirstProgramFolder}.csproj");
        }

        // Each package README's program, with the packages its Install section adds.
        foreach (var project in PackedPackages.Projects.Where(p => !p.IsTool && !p.IsTemplate))
        {
            if (PackageReadmeProgram(project, packages.Version) is { } app)
            {
                var folder = Path.Combine(apps, ReadmeFolder(project.PackageId));
                System.IO.Directory.CreateDirectory(folder);
                await File.WriteAllTextAsync(Path.Combine(folder, "Program.cs"), app.Program);
                await File.WriteAllTextAsync(Path.Combine(folder, ReadmeFolder(project.PackageId) + ".csproj"), app.Project);
                projects.Add($"{ReadmeFolder(project.PackageId)}/{ReadmeFolder(project.PackageId)}.csproj");
            }
        }

        await File.WriteAllTextAsync(Path.Combine(apps, "FirstHour.slnx"),
            $"<Solution>\n{string.Concat(projects.Select(p => $"  <Project Path=\"{p}\" />\n"))}</Solution>\n");
        // Restore first, on its own: a project that fails to restore must not keep the others from building. One MSBuild node:
        // the other test projects run at the same time on the same cores.
        var restore = await DotnetCli.RunAsync(apps, environment, TimeSpan.FromMinutes(10), "restore", "FirstHour.slnx", "-nodeReuse:false", "-maxCpuCount:1");
        var build = await DotnetCli.RunAsync(apps, environment, TimeSpan.FromMinutes(15), "build", "FirstHour.slnx", "--no-restore", "-nodeReuse:false", "-maxCpuCount:1");
        return new FirstHourApps(apps, environment, install, created, firstProgramProblem, restore with { Output = restore.Output + build.Output, ExitCode = build.ExitCode });
    }

    /// <summary>The program of a package README (the first ```csharp block of "## A complete program") and a project file
    /// with the packages of its "## Install" section (<c>dotnet add package X</c>); warnings are errors.</summary>
    internal static (string Program, string Project)? PackageReadmeProgram(PackedProject project, string version)
    {
        var readme = File.ReadAllText(Path.Combine(project.Directory, "README.md"));
        if (Markdown.Section(readme, "## A complete program") is not { } section || Markdown.CodeBlocks(section).FirstOrDefault(b => b.Language == "csharp") is not { } program)
        {
            return null;
        }

        var install = Markdown.Section(readme, "## Install") ?? "";
        var references = AddPackage().Matches(install).Select(m => m.Groups[1].Value).Distinct().Select(id =>
            $"    <PackageReference Include=\"{id}\" Version=\"{(id.StartsWith("AgentIdentity.", StringComparison.Ordinal) ? version : PinnedVersion(id))}\" />\n");
        var sdk = program.Code.Contains("WebApplication.", StringComparison.Ordinal) ? "Microsoft.NET.Sdk.Web" : "Microsoft.NET.Sdk";
        return (program.Code, $"""
            <Project Sdk="{sdk}">
              <PropertyGroup>
                <OutputType>Exe</OutputType>
                <TargetFramework>net10.0</TargetFramework>
                <Nullable>enable</Nullable>
                <ImplicitUsings>enable</ImplicitUsings>
                <TreatWarningsAsErrors>true</TreatWarningsAsErrors>
                <!-- Restore may take the nearest version this machine has of a transitive dependency: not the README's fault. -->
                <NoWarn>$(NoWarn);NU1603</NoWarn>
              </PropertyGroup>
              <ItemGroup>
            {string.Concat(references)}  </ItemGroup>
            </Project>
            """);
    }

    /// <summary>The version the repository pins for a third-party package (Directory.Packages.props).</summary>
    private static string PinnedVersion(string id)
    {
        var props = XDocument.Load(Path.Combine(PackedPackages.RepositoryRoot, "Directory.Packages.props"));
        var version = props.Descendants("PackageVersion").FirstOrDefault(e => (string?)e.Attribute("Include") == id)?.Attribute("Version")?.Value
            ?? throw new InvalidOperationException($"{id}, which a package README installs, is not pinned in Directory.Packages.props");
        return PropertyReference().Replace(version, m => props.Descendants(m.Groups[1].Value).Single().Value);
    }

    [GeneratedRegex(@"dotnet add package ([A-Za-z0-9_.\-]+)")]
    private static partial Regex AddPackage();

    [GeneratedRegex(@"\$\(([A-Za-z0-9_]+)\)")]
    private static partial Regex PropertyReference();

    /// <summary>The build's lines that concern <paramref name="folder"/> (its errors and warnings), for a failure message.</summary>
    public string BuildLinesOf(string folder)
    {
        var lines = Build.Output.Split('\n').Where(l => l.Contains(Path.DirectorySeparatorChar + folder + Path.DirectorySeparatorChar, StringComparison.Ordinal)
            && (l.Contains("error", StringComparison.Ordinal) || l.Contains("warning", StringComparison.Ordinal))).Distinct();
        var text = new StringBuilder().AppendJoin('\n', lines).ToString();
        return text.Length > 0 ? text : Build.ToString();
    }
}
