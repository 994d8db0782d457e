// The benchmarks start PostgreSQL with the tests' own harness (tests/AgentIdentity.Sdk.Testing/PostgreSqlServer.cs, linked into this
// project). It implements xunit's IAsyncLifetime for the test fixtures; this project does not reference xunit, so the one interface
// the harness names is declared here.
namespace Xunit;

/// <summary>The shape of xunit's <c>IAsyncLifetime</c>, for the linked PostgreSQL harness.</summary>
internal interface IAsyncLifetime
{
    Task InitializeAsync();

    Task DisposeAsync();
}
