using System.Diagnostics;
using System.Reflection;

namespace AgentIdentity.Samples.Tests.TestInfrastructure;

/// <summary>Runs a built sample as a process (<c>dotnet Sample.dll</c>), as a user would, and collects its exit code and output.</summary>
internal static class SampleProcess
{
    /// <param name="pathKey">The assembly-metadata key holding the sample's built path (set in the test project file).</param>
    /// <param name="variables">Environment variables to set for the sample.</param>
    /// <param name="removed">Environment variables of this machine that must not leak into the sample.</param>
    public static async Task<SampleRun> RunAsync(string pathKey, Dictionary<string, string> variables, string[] removed)
    {
        var path = typeof(SampleProcess).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == pathKey).Value!;
        Assert.True(File.Exists(path), $"the sample is not built at {path}");
        var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host ? host : "dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(path);
        foreach (var name in removed)
        {
            start.Environment.Remove(name);
        }

        foreach (var (name, value) in variables)
        {
            start.Environment[name] = value;
        }

        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        try
        {
            await process.WaitForExitAsync().WaitAsync(TimeSpan.FromMinutes(3));
        }
        catch (TimeoutException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }

        return new SampleRun(process.ExitCode, await output, await error);
    }
}

/// <summary>A finished sample run.</summary>
internal sealed record SampleRun(int ExitCode, string Output, string Error)
{
    public override string ToString() => $"exit code {ExitCode}\n--- stdout\n{Output}\n--- stderr\n{Error}";
}
