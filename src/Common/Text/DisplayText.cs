namespace AgentIdentity;

/// <summary>How untrusted input is quoted in error messages: one place, so that every message quotes it the same way.</summary>
internal static class DisplayText
{
    /// <summary>Shortens <paramref name="value"/> to <paramref name="maxLength"/> characters, marking the cut with an ellipsis.</summary>
    public static string Truncate(ReadOnlySpan<char> value, int maxLength = 100) =>
        value.Length <= maxLength ? value.ToString() : string.Concat(value[..maxLength], "…");
}
