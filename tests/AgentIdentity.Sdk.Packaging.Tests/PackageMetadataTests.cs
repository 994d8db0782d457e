using System.IO.Compression;
using System.Reflection.Metadata;
using System.Reflection.PortableExecutable;
using System.Text.Json;
using System.Xml.Linq;

namespace AgentIdentity.Packaging.Tests;

/// <summary>Each package, as <c>dotnet pack</c> makes it, is publishable as the .NET ecosystem expects: its own README and
/// icon, license, repository URL and commit, a symbols package whose PDBs match the assemblies and link to the sources.</summary>
[Collection(PackagingTests.Name)]
public sealed class PackageMetadataTests(PackedPackages packages)
{
    private const string RepositoryUrl = "https://github.com/agentidentity/agentidentity-dotnet";
    private static readonly Guid SourceLinkKind = new("CC110556-A091-4D38-9FEC-25AB9A351A6A");

    [Fact]
    public void The_pack_packs_every_published_project_and_nothing_else()
    {
        Assert.True(packages.Pack.ExitCode == 0, packages.Pack.ToString());
        var expected = PackedPackages.Projects.Select(p => $"{p.PackageId}.{packages.Version}.nupkg")
            .Concat(PackedPackages.Projects.Where(p => !p.IsTemplate).Select(p => $"{p.PackageId}.{packages.Version}.snupkg"))
            .Order(StringComparer.Ordinal);
        Assert.Equal(expected, Directory.GetFiles(packages.Feed).Select(Path.GetFileName).Order(StringComparer.Ordinal));
    }

    [Theory]
    [MemberData(nameof(PackedPackages.PackageIds), MemberType = typeof(PackedPackages))]
    public void The_nuspec_names_the_package_its_license_repository_readme_and_icon(string packageId)
    {
        using var package = OpenPackage(packageId);
        var nuspec = Nuspec(package);
        var ns = nuspec.Root!.Name.Namespace;
        var metadata = nuspec.Root.Element(ns + "metadata")!;
        string? Value(string name) => metadata.Element(ns + name)?.Value;

        Assert.Equal(packageId, Value("id"));
        Assert.Equal(packages.Version, Value("version"));
        Assert.Equal("MIT", Value("license"));
        Assert.Equal("expression", metadata.Element(ns + "license")!.Attribute("type")?.Value);
        Assert.Equal(RepositoryUrl, Value("projectUrl"));
        Assert.False(string.IsNullOrWhiteSpace(Value("description")));
        var repository = metadata.Element(ns + "repository")!;
        Assert.Equal("git", repository.Attribute("type")?.Value);
        Assert.Equal(RepositoryUrl, repository.Attribute("url")?.Value);
        Assert.Equal(packages.Commit, repository.Attribute("commit")?.Value);

        // The package's own README (not the repository's) and the icon, both in the package.
        Assert.Equal("README.md", Value("readme"));
        var project = PackedPackages.Project(packageId);
        Assert.Equal(File.ReadAllBytes(Path.Combine(project.Directory, "README.md")), ReadEntry(package, "README.md"));
        Assert.Equal("icon.png", Value("icon"));
        var icon = ReadEntry(package, "icon.png");
        Assert.Equal(File.ReadAllBytes(Path.Combine(PackedPackages.RepositoryRoot, "eng", "packaging", "icon.png")), icon);
        Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, icon[..4]);

        var types = metadata.Element(ns + "packageTypes")?.Elements(ns + "packageType").Select(e => e.Attribute("name")!.Value).ToArray() ?? [];
        if (project.IsTemplate)
        {
            Assert.Equal(["Template"], types);
        }
        else if (project.IsTool)
        {
            Assert.Equal(["DotnetTool"], types);
        }
        else
        {
            Assert.Empty(types);
        }
    }

    [Theory]
    [MemberData(nameof(PackedPackages.PackageIds), MemberType = typeof(PackedPackages))]
    public void Each_assembly_has_a_matching_deterministic_pdb_in_the_symbols_package_with_SourceLink_to_the_commit(string packageId)
    {
        var project = PackedPackages.Project(packageId);
        if (project.IsTemplate)
        {
            Assert.False(File.Exists(packages.PackagePath(packageId, "snupkg")), "a template pack has no assembly, so no symbols package");
            return;
        }

        using var package = OpenPackage(packageId);
        using var symbols = ZipFile.OpenRead(packages.PackagePath(packageId, "snupkg"));
        // The package's own assemblies: lib/<tfm>/ for a library, tools/<tfm>/any/ for a tool (with the AgentIdentity ones it ships).
        var assemblies = package.Entries.Where(e => e.FullName.EndsWith(".dll", StringComparison.Ordinal)
            && (e.FullName.StartsWith("lib/", StringComparison.Ordinal) ? true : Path.GetFileName(e.FullName) == packageId + ".dll")).ToList();
        Assert.NotEmpty(assemblies);
        foreach (var assembly in assemblies)
        {
            var pdbPath = Path.ChangeExtension(assembly.FullName, ".pdb");
            var pdbEntry = symbols.GetEntry(pdbPath);
            Assert.True(pdbEntry is not null, $"{packageId}.{packages.Version}.snupkg has no {pdbPath}");

            using var pe = new PEReader(new MemoryStream(ReadEntry(package, assembly.FullName)));
            var debug = pe.ReadDebugDirectory();
            Assert.Contains(debug, d => d.Type == DebugDirectoryEntryType.Reproducible); // a deterministic build
            var codeView = pe.ReadCodeViewDebugDirectoryData(debug.Single(d => d.Type == DebugDirectoryEntryType.CodeView));

            using var pdbProvider = MetadataReaderProvider.FromPortablePdbStream(new MemoryStream(ReadEntry(symbols, pdbPath)));
            var pdb = pdbProvider.GetMetadataReader();
            Assert.Equal(codeView.Guid, new BlobContentId(pdb.DebugMetadataHeader!.Id).Guid); // the PDB of this very assembly

            var sourceLink = pdb.GetCustomDebugInformation(EntityHandle.ModuleDefinition)
                .Select(pdb.GetCustomDebugInformation)
                .Where(c => pdb.GetGuid(c.Kind) == SourceLinkKind)
                .Select(c => pdb.GetBlobBytes(c.Value))
                .SingleOrDefault();
            Assert.True(sourceLink is not null, $"{pdbPath} of {packageId} has no SourceLink");
            var documents = JsonDocument.Parse(sourceLink).RootElement.GetProperty("documents").EnumerateObject().Select(p => p.Value.GetString()).ToList();
            Assert.NotEmpty(documents);
            // The commit the PDB links to is the one the nuspec names (and HEAD): an assembly built before the last commit and
            // packed after it would point debuggers at other sources than the package claims. Rebuild, then pack.
            Assert.All(documents, url => Assert.True(url == $"https://raw.githubusercontent.com/agentidentity/agentidentity-dotnet/{packages.Commit}/*",
                $"{pdbPath} links its sources to {url}, not to the commit {packages.Commit} (HEAD, in the nuspec); the assemblies were built at another commit: rebuild before packing"));
        }
    }

    [Theory]
    [MemberData(nameof(PackedPackages.PackageIds), MemberType = typeof(PackedPackages))]
    public void The_README_says_what_the_package_is_for_how_to_install_it_and_links_absolutely(string packageId)
    {
        var project = PackedPackages.Project(packageId);
        var readme = File.ReadAllText(Path.Combine(project.Directory, "README.md"));

        Assert.StartsWith($"# {packageId}", readme, StringComparison.Ordinal);
        var install = Markdown.Section(readme, "## Install");
        Assert.True(install is not null, $"{packageId}'s README has no '## Install' section");
        var command = project.IsTemplate ? $"dotnet new install {packageId}"
            : project.IsTool ? $"dotnet tool install --global {packageId}"
            : $"dotnet add package {packageId}";
        Assert.Contains(command, install, StringComparison.Ordinal);

        // A program (or, for the tool, its commands) to copy.
        var usage = project.IsTool ? Markdown.Section(readme, "## Use it") : project.IsTemplate ? Markdown.Section(readme, "## Templates") : Markdown.Section(readme, "## A complete program");
        Assert.True(usage is not null, $"{packageId}'s README does not show how to use it");
        if (!project.IsTool && !project.IsTemplate)
        {
            Assert.Contains(Markdown.CodeBlocks(usage!), b => b.Language == "csharp");
        }

        // NuGet renders absolute links only; nothing that exists only in a clone of the repository.
        var links = Markdown.LinkTargets(readme).ToList();
        Assert.Contains(links, l => l.StartsWith(RepositoryUrl, StringComparison.Ordinal));
        Assert.All(links, l => Assert.StartsWith("https://", l, StringComparison.Ordinal));
        Assert.DoesNotContain("eng/test.sh", readme, StringComparison.Ordinal);
        Assert.DoesNotContain("--project samples", readme, StringComparison.Ordinal);
    }

    private ZipArchive OpenPackage(string packageId)
    {
        Assert.True(packages.Pack.ExitCode == 0, packages.Pack.ToString());
        return ZipFile.OpenRead(packages.PackagePath(packageId));
    }

    private static XDocument Nuspec(ZipArchive package)
    {
        using var stream = package.Entries.Single(e => e.FullName.EndsWith(".nuspec", StringComparison.Ordinal) && !e.FullName.Contains('/', StringComparison.Ordinal)).Open();
        return XDocument.Load(stream);
    }

    private static byte[] ReadEntry(ZipArchive archive, string path)
    {
        var entry = archive.GetEntry(path);
        Assert.True(entry is not null, $"the package has no {path}");
        using var stream = entry.Open();
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return copy.ToArray();
    }
}
