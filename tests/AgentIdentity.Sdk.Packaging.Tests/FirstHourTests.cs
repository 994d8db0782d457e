using System.Net.Http.Json;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace AgentIdentity.Packaging.Tests;

/// <summary>The first hour as a user: from the packed packages only, the template pack installs, each template's project and
/// the README's first program build and run with the one command their README gives, and each package README's program builds.</summary>
[Collection(PackagingTests.Name)]
public sealed partial class FirstHourTests(PackedPackages packages)
{
    private static readonly TimeSpan RunTimeout = TimeSpan.FromMinutes(3);

    public static TheoryData<string> LibraryPackageIds => [.. PackedPackages.Projects.Where(p => !p.IsTool && !p.IsTemplate).Select(p => p.PackageId)];

    [Fact]
    public async Task The_template_pack_installs_from_the_feed_and_creates_each_template()
    {
        var apps = await packages.GetFirstHourAppsAsync();
        Assert.True(apps.Install.ExitCode == 0, apps.Install.ToString());
        foreach (var (_, folder) in FirstHourApps.Templates)
        {
            var created = apps.Created[folder];
            Assert.True(created.ExitCode == 0, created.ToString());
            // The template's project references this build's packages (the version token was replaced at pack time).
            var project = await File.ReadAllTextAsync(Path.Combine(apps.Folder(folder), folder + ".csproj"));
            Assert.Contains($"Version=\"{packages.Version}\"", project, StringComparison.Ordinal);
            Assert.DoesNotContain("AGENTIDENTITY_PACKAGE_VERSION", project, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task The_agent_template_runs_with_its_README_command_and_prints_its_SPIFFE_ID()
    {
        var apps = await packages.GetFirstHourAppsAsync();
        var command = await RunCommandAsync(apps, "MyAgent");
        var run = await DotnetCli.RunAsync(apps.Folder("MyAgent"), apps.Environment, RunTimeout, command);
        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Matches(@"I am spiffe://corp\.example/agent/agent/[a-z2-7]{26}, certificate [0-9A-F]+, valid until ", run.Output);
    }

    [Fact]
    public async Task The_agent_template_outside_Development_refuses_the_development_CA()
    {
        var apps = await packages.GetFirstHourAppsAsync();
        Assert.True(apps.IsBuilt("MyAgent"), apps.BuildLinesOf("MyAgent"));
        var run = await DotnetCli.RunAsync(apps.Folder("MyAgent"), apps.Environment, RunTimeout, "run", "--no-build", "--no-launch-profile");
        Assert.NotEqual(0, run.ExitCode);
        Assert.Contains("Production", run.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("I am spiffe://", run.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_service_template_serves_its_demo_agent_over_mTLS_and_refuses_a_client_without_a_certificate()
    {
        var apps = await packages.GetFirstHourAppsAsync();
        var command = await RunCommandAsync(apps, "MyService");
        var environment = new Dictionary<string, string>(apps.Environment) { ["PORT"] = "0" };
        await using var service = await DotnetCli.StartAsync(apps.Folder("MyService"), environment,
            line => line.StartsWith("Listening on https://", StringComparison.Ordinal), RunTimeout, command);
        var address = (await service.Ready)["Listening on ".Length..];

        var answer = await service.WaitForLineAsync(l => l.StartsWith("demo agent GET /hello:", StringComparison.Ordinal), RunTimeout);
        Assert.Matches(@"^demo agent GET /hello: 200 hello spiffe://corp\.example/agent/caller/[a-z2-7]{26}$", answer);

        // Anyone else: no client certificate, no TLS session.
        using var handler = new HttpClientHandler { ServerCertificateCustomValidationCallback = (_, _, _, _) => true };
        using var client = new HttpClient(handler);
        await Assert.ThrowsAsync<HttpRequestException>(() => client.GetAsync(new Uri(address + "/hello")));
    }

    [Fact]
    public async Task The_issuer_template_runs_with_its_README_command_and_serves_the_SPIFFE_bundle()
    {
        var apps = await packages.GetFirstHourAppsAsync();
        var command = await RunCommandAsync(apps, "MyIssuer");
        var environment = new Dictionary<string, string>(apps.Environment) { ["PORT"] = "0" };
        environment.Remove("AGENTIDENTITY_ISSUER_KEK");
        await using var issuer = await DotnetCli.StartAsync(apps.Folder("MyIssuer"), environment,
            line => line.StartsWith("SPIFFE bundle: https://", StringComparison.Ordinal), RunTimeout, command);
        var bundleUrl = (await issuer.Ready)["SPIFFE bundle: ".Length..];
        Assert.Matches(@"Issuer spiffe://corp\.example/agent-identity/issuer listening on https://127\.0\.0\.1:\d+/agent-identity/", issuer.Output);

        // The bundle endpoint needs no client certificate (SPIFFE federation); its answer is the trust domain's bundle.
        using var handler = new HttpClientHandler { ServerCertificateCustomValidationCallback = (_, _, _, _) => true };
        using var client = new HttpClient(handler);
        using var bundle = await client.GetFromJsonAsync<JsonDocument>(new Uri(bundleUrl));
        Assert.True(bundle!.RootElement.GetProperty("keys").GetArrayLength() > 0, bundle.RootElement.ToString());
        Assert.True(bundle.RootElement.TryGetProperty("spiffe_sequence", out _), bundle.RootElement.ToString());
        Assert.True(File.Exists(Path.Combine(apps.Folder("MyIssuer"), "issuer.db")), "the issuer keeps its state in issuer.db beside the project");
    }

    [Fact]
    public async Task The_issuer_template_outside_Development_requires_a_key_encryption_key()
    {
        var apps = await packages.GetFirstHourAppsAsync();
        Assert.True(apps.IsBuilt("MyIssuer"), apps.BuildLinesOf("MyIssuer"));
        var environment = new Dictionary<string, string>(apps.Environment) { ["PORT"] = "0" };
        environment.Remove("AGENTIDENTITY_ISSUER_KEK");
        var run = await DotnetCli.RunAsync(apps.Folder("MyIssuer"), environment, RunTimeout, "run", "--no-build", "--no-launch-profile");
        Assert.NotEqual(0, run.ExitCode);
        Assert.Contains("AGENTIDENTITY_ISSUER_KEK", run.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("SPIFFE bundle:", run.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_README_first_program_builds_and_runs_as_written()
    {
        var apps = await packages.GetFirstHourAppsAsync();
        Assert.True(apps.FirstProgramProblem is null,
            $"The README's smallest complete program cannot be found: {apps.FirstProgramProblem}. It is the ```csharp block right after the line " +
            "'<!-- snippet: first-program -->' and its project file the ```xml block right after '<!-- snippet: first-program-csproj -->'.");
        var project = await File.ReadAllTextAsync(Path.Combine(apps.Folder(FirstHourApps.FirstProgramFolder), FirstHourApps.FirstProgramFolder + ".csproj"));
        Assert.True(project.Contains($"Include=\"AgentIdentity.Sdk\" Version=\"{packages.Version}\"", StringComparison.Ordinal),
            $"The README's first program must reference AgentIdentity.Sdk {packages.Version}, this build's version (Directory.Build.props):\n{project}");
        Assert.True(apps.IsBuilt(FirstHourApps.FirstProgramFolder), apps.BuildLinesOf(FirstHourApps.FirstProgramFolder));
        var run = await DotnetCli.RunAsync(apps.Folder(FirstHourApps.FirstProgramFolder), apps.Environment, RunTimeout, "run");
        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Matches(@"spiffe://[a-z0-9.\-_]+/agent/[a-z0-9.\-_]+/[a-z2-7]{26}", run.Output);
    }

    [Theory]
    [MemberData(nameof(LibraryPackageIds))]
    public async Task The_package_README_program_builds_with_the_packages_its_Install_section_adds(string packageId)
    {
        var apps = await packages.GetFirstHourAppsAsync();
        Assert.True(FirstHourApps.PackageReadmeProgram(PackedPackages.Project(packageId), packages.Version) is not null,
            $"{packageId}'s README has no ```csharp block under '## A complete program'");
        var folder = FirstHourApps.ReadmeFolder(packageId);
        Assert.True(apps.IsBuilt(folder), apps.BuildLinesOf(folder));
    }

    /// <summary>The one command the template's README gives (the ```bash block after "Run it:"), as arguments of dotnet.</summary>
    private static async Task<string[]> RunCommandAsync(FirstHourApps apps, string folder)
    {
        Assert.True(apps.Created[folder].ExitCode == 0, apps.Created[folder].ToString());
        Assert.True(apps.IsBuilt(folder), apps.BuildLinesOf(folder));
        var readme = await File.ReadAllTextAsync(Path.Combine(apps.Folder(folder), "README.md"));
        var runIt = readme.IndexOf("Run it:", StringComparison.Ordinal);
        Assert.True(runIt >= 0, $"{folder}/README.md does not say 'Run it:'");
        var block = Markdown.CodeBlocks(readme[runIt..])[0];
        var lines = block.Code.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.True(lines.Length == 1 && lines[0].StartsWith("dotnet ", StringComparison.Ordinal), $"{folder}/README.md gives not one dotnet command: {block.Code}");
        return Whitespace().Split(lines[0])[1..];
    }

    [GeneratedRegex(@"\s+")]
    private static partial Regex Whitespace();
}
