using System.Text.Json;
using System.Text.RegularExpressions;

namespace OnnxInterp.Tokenization;

/// <summary>
/// A tokenizer.json "pre_tokenizer" as a Microsoft.ML.Tokenizers <see cref="Microsoft.ML.Tokenizers.PreTokenizer"/>.
/// A final ByteLevel step only splits (and adds the prefix space): its byte-to-character mapping is left to
/// the BPE model, which is built with <c>ByteLevel = true</c>.
/// </summary>
sealed class HfPreTokenizer : Microsoft.ML.Tokenizers.PreTokenizer
{
    // GPT-2's split, as HF's ByteLevel pre-tokenizer applies it when use_regex is true.
    const string Gpt2Pattern = @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";
    static readonly CodePointRegex s_gpt2 = new(new Regex(Gpt2Pattern, RegexOptions.CultureInvariant));

    delegate void Step(string piece, int sectionIndex, List<string> output);

    readonly List<Step> _steps;

    HfPreTokenizer(List<Step> steps, bool byteLevel)
    {
        _steps = steps;
        ByteLevel = byteLevel;
    }

    /// <summary>True when the last step is ByteLevel, so the model must work on UTF-8 bytes.</summary>
    public bool ByteLevel { get; }

    /// <summary>Splits one section of normalized text; <paramref name="sectionIndex"/> is its index among the sections cut by added tokens.</summary>
    public List<string> Split(string text, int sectionIndex)
    {
        var pieces = new List<string> { text };
        foreach (var step in _steps)
        {
            var next = new List<string>(pieces.Count * 2);
            foreach (var p in pieces) step(p, sectionIndex, next);
            pieces = next;
        }
        pieces.RemoveAll(p => p.Length == 0);
        return pieces;
    }

    public override IEnumerable<(int Offset, int Length)> PreTokenize(string text)
    {
        // Offsets are only exact when no step inserts characters (ByteLevel prefix space, Metaspace); the
        // HfTokenizer pipeline does not use this entry point, it calls Split and feeds the model piece by piece.
        int offset = 0;
        foreach (var p in Split(text, 0))
        {
            int idx = text.IndexOf(p, offset, StringComparison.Ordinal);
            if (idx < 0) { yield return (offset, text.Length - offset); yield break; }
            yield return (idx, p.Length);
            offset = idx + p.Length;
        }
    }

    public override IEnumerable<(int Offset, int Length)> PreTokenize(ReadOnlySpan<char> text) => PreTokenize(text.ToString());

    public static HfPreTokenizer FromJson(JsonElement? spec, JsonReader r)
    {
        var steps = new List<Step>();
        bool byteLevel = false;
        if (spec is not null) Add(spec.Value, "pre_tokenizer", r, steps, ref byteLevel, isLast: true);
        return new HfPreTokenizer(steps, byteLevel);
    }

    static void Add(JsonElement spec, string path, JsonReader r, List<Step> steps, ref bool byteLevel, bool isLast)
    {
        string type = r.ReqString(spec, "type", path);
        switch (type)
        {
            case "Sequence":
            {
                var items = r.ReqArray(spec, "pretokenizers", path).EnumerateArray().ToList();
                for (int i = 0; i < items.Count; i++)
                    Add(items[i], $"{path}.pretokenizers[{i}]", r, steps, ref byteLevel, isLast && i == items.Count - 1);
                return;
            }
            case "ByteLevel":
            {
                if (!isLast)
                    throw r.Unsupported("A ByteLevel pre-tokenizer is only supported as the last step", $"{path}.type", type);
                bool addPrefixSpace = r.OptBool(spec, "add_prefix_space", path) ?? false;
                bool useRegex = r.OptBool(spec, "use_regex", path) ?? true;
                byteLevel = true;
                steps.Add((piece, _, output) =>
                {
                    if (addPrefixSpace && !piece.StartsWith(' ')) piece = " " + piece;
                    if (useRegex) SplitByMatches(piece, s_gpt2.Matches(piece), "Isolated", output);
                    else output.Add(piece);
                });
                return;
            }
            case "Split":
            {
                var pattern = r.Req(spec, "pattern", path);
                CodePointRegex regex;
                if (r.OptString(pattern, "String", $"{path}.pattern") is { } literal)
                    regex = new CodePointRegex(new Regex(Regex.Escape(literal), RegexOptions.CultureInvariant));
                else
                    regex = new CodePointRegex(r.ReqString(pattern, "Regex", $"{path}.pattern"), r.File, $"{path}.pattern.Regex");
                string behavior = r.OptString(spec, "behavior", path) ?? "Isolated";
                if (behavior is not ("Removed" or "Isolated" or "MergedWithPrevious" or "MergedWithNext" or "Contiguous"))
                    throw r.Unsupported("This Split behavior is not supported", $"{path}.behavior", behavior);
                bool invert = r.OptBool(spec, "invert", path) ?? false;
                steps.Add((piece, _, output) =>
                {
                    var matches = regex.Matches(piece);
                    if (invert) matches = Complement(matches, piece.Length);
                    SplitByMatches(piece, matches, behavior, output);
                });
                return;
            }
            case "Metaspace":
            {
                string replacement = r.OptChar(spec, "replacement", path) ?? "\u2581";
                string scheme = r.OptString(spec, "prepend_scheme", path)
                    ?? ((r.OptBool(spec, "add_prefix_space", path) ?? true) ? "always" : "never");
                if (scheme is not ("always" or "first" or "never"))
                    throw r.Unsupported("This Metaspace prepend_scheme is not supported", $"{path}.prepend_scheme", scheme);
                bool split = r.OptBool(spec, "split", path) ?? true;
                var splitter = new CodePointRegex(new Regex(Regex.Escape(replacement), RegexOptions.CultureInvariant));
                steps.Add((piece, sectionIndex, output) =>
                {
                    string s = piece.Replace(" ", replacement, StringComparison.Ordinal);
                    if (!s.StartsWith(replacement, StringComparison.Ordinal) && (scheme == "always" || (scheme == "first" && sectionIndex == 0)))
                        s = replacement + s;
                    if (split) SplitByMatches(s, splitter.Matches(s), "MergedWithNext", output);
                    else output.Add(s);
                });
                return;
            }
            case "Digits":
            {
                bool individual = r.OptBool(spec, "individual_digits", path) ?? false;
                var digits = new CodePointRegex(new Regex(individual ? @"\p{Nd}" : @"\p{Nd}+", RegexOptions.CultureInvariant));
                steps.Add((piece, _, output) => SplitByMatches(piece, digits.Matches(piece), "Isolated", output));
                return;
            }
            case "Whitespace":
            {
                var words = new CodePointRegex(new Regex(@"\w+|[^\w\s]+", RegexOptions.CultureInvariant));
                steps.Add((piece, _, output) =>
                {
                    foreach (var (start, length) in words.Matches(piece)) output.Add(piece.Substring(start, length));
                });
                return;
            }
            case "WhitespaceSplit":
                steps.Add((piece, _, output) => output.AddRange(piece.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries)));
                return;
            default:
                throw r.Unsupported("This pre-tokenizer type is not supported", $"{path}.type", type);
        }
    }

    static List<(int Start, int Length)> Complement(List<(int Start, int Length)> matches, int length)
    {
        var result = new List<(int, int)>();
        int pos = 0;
        foreach (var (start, len) in matches)
        {
            if (start > pos) result.Add((pos, start - pos));
            pos = start + len;
        }
        if (pos < length) result.Add((pos, length - pos));
        return result;
    }

    /// <summary>HF's <c>NormalizedString::split</c> with the given delimiter behavior.</summary>
    static void SplitByMatches(string s, List<(int Start, int Length)> matches, string behavior, List<string> output)
    {
        // Every span of the string, flagged as match or not.
        var spans = new List<(int Start, int Length, bool IsMatch)>();
        int pos = 0;
        foreach (var (start, len) in matches)
        {
            if (start > pos) spans.Add((pos, start - pos, false));
            spans.Add((start, len, true));
            pos = start + len;
        }
        if (pos < s.Length) spans.Add((pos, s.Length - pos, false));

        switch (behavior)
        {
            case "Removed":
                foreach (var sp in spans) if (!sp.IsMatch) output.Add(s.Substring(sp.Start, sp.Length));
                break;
            case "Isolated":
                foreach (var sp in spans) output.Add(s.Substring(sp.Start, sp.Length));
                break;
            case "MergedWithPrevious":
            {
                var merged = new List<(int Start, int End)>();
                foreach (var sp in spans)
                {
                    if (sp.IsMatch && merged.Count > 0) merged[^1] = (merged[^1].Start, sp.Start + sp.Length);
                    else merged.Add((sp.Start, sp.Start + sp.Length));
                }
                foreach (var (a, b) in merged) output.Add(s[a..b]);
                break;
            }
            case "MergedWithNext":
            {
                var merged = new List<(int Start, int End)>();
                bool previousWasMatch = false;
                foreach (var sp in spans)
                {
                    if (previousWasMatch && !sp.IsMatch && merged.Count > 0) merged[^1] = (merged[^1].Start, sp.Start + sp.Length);
                    else merged.Add((sp.Start, sp.Start + sp.Length));
                    previousWasMatch = sp.IsMatch;
                }
                foreach (var (a, b) in merged) output.Add(s[a..b]);
                break;
            }
            case "Contiguous":
            {
                var merged = new List<(int Start, int End, bool IsMatch)>();
                foreach (var sp in spans)
                {
                    if (sp.IsMatch && merged.Count > 0 && merged[^1].IsMatch) merged[^1] = (merged[^1].Start, sp.Start + sp.Length, true);
                    else merged.Add((sp.Start, sp.Start + sp.Length, sp.IsMatch));
                }
                foreach (var (a, b, _) in merged) output.Add(s[a..b]);
                break;
            }
        }
    }
}
