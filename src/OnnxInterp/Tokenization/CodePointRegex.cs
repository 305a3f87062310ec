using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace OnnxInterp.Tokenization;

/// <summary>
/// Runs a tokenizer.json split regex with code-point semantics. .NET's Regex sees a character outside the
/// BMP as two surrogates, whose category is neither letter nor number, while HF (Rust regex / onig) and
/// transformers.js (the 'u' flag) see one code point. So "😀abc" would split differently. Each
/// supplementary code point is replaced by one BMP stand-in of the same Unicode category before matching,
/// and the match positions are mapped back onto the original string.
/// </summary>
sealed class CodePointRegex
{
    static readonly char[] s_standIns = BuildStandIns();
    readonly Regex _regex;
    readonly string? _file, _field;

    /// <summary>
    /// Match time allowed to a regex from a tokenizer file: a pattern with catastrophic backtracking (<c>(a+)+$</c>)
    /// would otherwise stall encoding. Tests lower it.
    /// </summary>
    internal static TimeSpan UntrustedTimeout { get; set; } = TimeSpan.FromSeconds(10);

    public CodePointRegex(string pattern, string file, string field)
    {
        try
        {
            _regex = new Regex(pattern, RegexOptions.CultureInvariant, UntrustedTimeout);
        }
        catch (ArgumentException e)
        {
            throw new UnsupportedModelException($"The split regex does not compile on .NET: {e.Message}", file, field, pattern);
        }
        (_file, _field) = (file, field);
    }

    /// <summary>The typed error for a file's regex that ran out of time on some text.</summary>
    public static InvalidFileException TimedOut(RegexMatchTimeoutException e, string file, string field) =>
        new($"The regex ran longer than {e.MatchTimeout.TotalSeconds:0.###} s on a {e.Input.Length}-character text (catastrophic backtracking)",
            file, field, e.Pattern, e);

    public CodePointRegex(Regex regex) => _regex = regex;

    static char[] BuildStandIns()
    {
        var standIns = new char[32];
        var found = new bool[32];
        for (int c = 0x80; c < 0x10000; c++)
        {
            if (c is >= 0xD800 and <= 0xDFFF) continue;
            int cat = (int)CharUnicodeInfo.GetUnicodeCategory((char)c);
            if (!found[cat]) { found[cat] = true; standIns[cat] = (char)c; }
        }
        for (int i = 0; i < standIns.Length; i++)
            if (!found[i]) standIns[i] = '\uE000'; // private use: neither letter, number nor space
        return standIns;
    }

    /// <summary>The (start, length) of every match, in UTF-16 units of <paramref name="text"/>.</summary>
    public List<(int Start, int Length)> Matches(string text)
    {
        try
        {
            return MatchesCore(text);
        }
        catch (RegexMatchTimeoutException e) when (_file is not null)
        {
            throw TimedOut(e, _file, _field!);
        }
    }

    List<(int Start, int Length)> MatchesCore(string text)
    {
        bool hasSurrogatePair = false;
        for (int i = 0; i + 1 < text.Length; i++)
            if (char.IsHighSurrogate(text[i]) && char.IsLowSurrogate(text[i + 1])) { hasSurrogatePair = true; break; }

        var result = new List<(int, int)>();
        if (!hasSurrogatePair)
        {
            for (Match m = _regex.Match(text); m.Success; m = m.NextMatch())
                if (m.Length > 0) result.Add((m.Index, m.Length));
            return result;
        }

        // Build the stand-in string and a map from its indices to the original's (one extra entry for the end).
        var sb = new StringBuilder(text.Length);
        var map = new List<int>(text.Length + 1);
        for (int i = 0; i < text.Length; i++)
        {
            map.Add(i);
            if (char.IsHighSurrogate(text[i]) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                int cp = char.ConvertToUtf32(text[i], text[i + 1]);
                sb.Append(s_standIns[(int)CharUnicodeInfo.GetUnicodeCategory(cp)]);
                i++;
            }
            else sb.Append(text[i]);
        }
        map.Add(text.Length);
        string stood = sb.ToString();
        for (Match m = _regex.Match(stood); m.Success; m = m.NextMatch())
        {
            if (m.Length == 0) continue;
            int start = map[m.Index], end = map[m.Index + m.Length];
            result.Add((start, end - start));
        }
        return result;
    }
}
