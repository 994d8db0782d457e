using System.Globalization;
using System.Text;

namespace AgentIdentity;

/// <summary>How untrusted input is quoted in error messages: one place, so that every message quotes it the same way.</summary>
internal static class DisplayText
{
    /// <summary>Shortens <paramref name="value"/> to <paramref name="maxLength"/> characters, marking the cut with an ellipsis, and
    /// escapes every character that is not printable (see <see cref="Escape"/>), so that quoted input cannot forge log lines.</summary>
    public static string Truncate(ReadOnlySpan<char> value, int maxLength = 100) =>
        value.Length <= maxLength ? Escape(value) : string.Concat(Escape(value[..maxLength]), "…");

    /// <summary>Escapes control characters (C0 such as NUL, CR and LF; DEL; C1), line and paragraph separators, bidirectional
    /// overrides and the byte-order mark as <c>\xNN</c> or <c>\uNNNN</c>, so that the result is one line that cannot pose as another
    /// log entry. Printable text is returned unchanged.</summary>
    public static string Escape(ReadOnlySpan<char> value)
    {
        var i = 0;
        while (i < value.Length && !NeedsEscape(value[i]))
        {
            i++;
        }

        if (i == value.Length)
        {
            return value.ToString();
        }

        var builder = new StringBuilder(value.Length + 16);
        builder.Append(value[..i]);
        for (; i < value.Length; i++)
        {
            var c = value[i];
            if (!NeedsEscape(c))
            {
                builder.Append(c);
            }
            else if (c <= 0xFF)
            {
                builder.Append(@"\x").Append(((int)c).ToString("X2", CultureInfo.InvariantCulture));
            }
            else
            {
                builder.Append(@"\u").Append(((int)c).ToString("X4", CultureInfo.InvariantCulture));
            }
        }

        return builder.ToString();
    }

    private static bool NeedsEscape(char c) =>
        c is < ' ' or (>= '\x7F' and <= '\x9F') or '\u2028' or '\u2029' or (>= '\u202A' and <= '\u202E') or (>= '\u2066' and <= '\u2069') or '\uFEFF';
}
