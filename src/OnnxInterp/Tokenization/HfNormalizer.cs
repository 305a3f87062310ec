using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace OnnxInterp.Tokenization;

/// <summary>A tokenizer.json "normalizer" as a Microsoft.ML.Tokenizers <see cref="Microsoft.ML.Tokenizers.Normalizer"/>.</summary>
sealed class HfNormalizer : Microsoft.ML.Tokenizers.Normalizer
{
    readonly Func<string, string> _apply;

    HfNormalizer(Func<string, string> apply) => _apply = apply;

    public override string Normalize(string original) => original.Length == 0 ? original : _apply(original);

    public override string Normalize(ReadOnlySpan<char> original) => Normalize(original.ToString());

    /// <summary>Builds the normalizer, or returns null for a JSON null / absent one.</summary>
    public static HfNormalizer? FromJson(JsonElement? spec, JsonReader r) =>
        spec is null ? null : new HfNormalizer(Build(spec.Value, "normalizer", r));

    static Func<string, string> Build(JsonElement spec, string path, JsonReader r)
    {
        string type = r.ReqString(spec, "type", path);
        switch (type)
        {
            case "Sequence":
            {
                var parts = new List<Func<string, string>>();
                int i = 0;
                foreach (var n in r.ReqArray(spec, "normalizers", path).EnumerateArray())
                    parts.Add(Build(n, $"{path}.normalizers[{i++}]", r));
                return s => { foreach (var p in parts) s = p(s); return s; };
            }
            case "Prepend":
            {
                string prepend = r.ReqString(spec, "prepend", path);
                return s => s.Length == 0 ? s : prepend + s;
            }
            case "Replace":
            {
                string content = r.ReqString(spec, "content", path);
                var pattern = r.Req(spec, "pattern", path);
                if (r.OptString(pattern, "String", $"{path}.pattern") is { } literal)
                    return literal.Length == 0 ? s => s : s => s.Replace(literal, content, StringComparison.Ordinal);
                string regex = r.ReqString(pattern, "Regex", $"{path}.pattern");
                Regex re;
                try { re = new Regex(regex, RegexOptions.CultureInvariant, CodePointRegex.UntrustedTimeout); }
                catch (ArgumentException e) { throw r.Unsupported($"The normalizer regex does not compile on .NET: {e.Message}", $"{path}.pattern.Regex", regex); }
                string replacement = content.Replace("$", "$$", StringComparison.Ordinal), file = r.File, field = $"{path}.pattern.Regex";
                return s =>
                {
                    try { return re.Replace(s, replacement); }
                    catch (RegexMatchTimeoutException e) { throw CodePointRegex.TimedOut(e, file, field); }
                };
            }
            case "NFC": return s => s.Normalize(NormalizationForm.FormC);
            case "NFD": return s => s.Normalize(NormalizationForm.FormD);
            case "NFKC": return s => s.Normalize(NormalizationForm.FormKC);
            case "NFKD": return s => s.Normalize(NormalizationForm.FormKD);
            case "Lowercase": return s => s.ToLowerInvariant();
            case "Strip":
            {
                bool left = r.OptBool(spec, "strip_left", path) ?? true, right = r.OptBool(spec, "strip_right", path) ?? true;
                return s => left && right ? s.Trim() : left ? s.TrimStart() : right ? s.TrimEnd() : s;
            }
            case "StripAccents":
                return s =>
                {
                    var sb = new StringBuilder(s.Length);
                    foreach (char c in s)
                        if (CharUnicodeInfo.GetUnicodeCategory(c) != UnicodeCategory.NonSpacingMark) sb.Append(c);
                    return sb.ToString();
                };
            default:
                throw r.Unsupported("This normalizer type is not supported", $"{path}.type", type);
        }
    }
}
