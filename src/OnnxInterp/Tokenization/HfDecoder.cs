using System.Globalization;
using System.Text;
using System.Text.Json;

namespace OnnxInterp.Tokenization;

/// <summary>A tokenizer.json "decoder": turns token strings back into text, step by step as HF chains them.</summary>
sealed class HfDecoder
{
    delegate List<string> Step(List<string> tokens);

    readonly Step? _chain;
    readonly HashSet<string> _addedTokens;

    HfDecoder(Step? chain, HashSet<string> addedTokens)
    {
        _chain = chain;
        _addedTokens = addedTokens;
    }

    public string Decode(List<string> tokens) =>
        _chain is null ? string.Join(' ', tokens) : string.Concat(_chain(tokens));

    public static HfDecoder FromJson(JsonElement? spec, JsonReader r, HashSet<string> addedTokens)
    {
        var holder = new HfDecoder(null, addedTokens);
        return spec is null ? holder : new HfDecoder(holder.Build(spec.Value, "decoder", r), addedTokens);
    }

    Step Build(JsonElement spec, string path, JsonReader r)
    {
        string type = r.ReqString(spec, "type", path);
        switch (type)
        {
            case "Sequence":
            {
                var steps = new List<Step>();
                int i = 0;
                foreach (var d in r.ReqArray(spec, "decoders", path).EnumerateArray())
                    steps.Add(Build(d, $"{path}.decoders[{i++}]", r));
                return tokens => { foreach (var s in steps) tokens = s(tokens); return tokens; };
            }
            case "ByteLevel":
                return ByteLevel;
            case "Replace":
            {
                string content = r.ReqString(spec, "content", path);
                var pattern = r.Req(spec, "pattern", path);
                string literal = r.OptString(pattern, "String", $"{path}.pattern")
                    ?? throw r.Unsupported("Only a literal String pattern is supported in a Replace decoder", $"{path}.pattern", JsonReader.Show(pattern));
                return tokens => tokens.ConvertAll(t => literal.Length == 0 ? t : t.Replace(literal, content, StringComparison.Ordinal));
            }
            case "ByteFallback":
                return ByteFallback;
            case "Fuse":
                return tokens => [string.Concat(tokens)];
            case "Strip":
            {
                string content = r.ReqString(spec, "content", path);
                if (content.Length != 1) throw r.Invalid("Strip content must be one character", $"{path}.content", spec.GetProperty("content"));
                int start = r.OptInt(spec, "start", path) ?? 0, stop = r.OptInt(spec, "stop", path) ?? 0;
                char c = content[0];
                return tokens => tokens.ConvertAll(t =>
                {
                    int a = 0;
                    while (a < start && a < t.Length && t[a] == c) a++;
                    int b = t.Length, cut = 0;
                    while (cut < stop && b > a && t[b - 1] == c) { b--; cut++; }
                    return t[a..b];
                });
            }
            case "Metaspace":
            {
                string replacement = r.OptChar(spec, "replacement", path) ?? "\u2581";
                string scheme = r.OptString(spec, "prepend_scheme", path)
                    ?? ((r.OptBool(spec, "add_prefix_space", path) ?? true) ? "always" : "never");
                return tokens =>
                {
                    var result = new List<string>(tokens.Count);
                    for (int i = 0; i < tokens.Count; i++)
                    {
                        string t = tokens[i].Replace(replacement, " ", StringComparison.Ordinal);
                        if (i == 0 && scheme != "never" && t.StartsWith(' ')) t = t[1..];
                        result.Add(t);
                    }
                    return result;
                };
            }
            default:
                throw r.Unsupported("This decoder type is not supported", $"{path}.type", type);
        }
    }

    List<string> ByteLevel(List<string> tokens)
    {
        // Added tokens pass through as they are; runs of other tokens are mapped back to bytes and decoded.
        var result = new List<string>();
        var bytes = new List<byte>();
        void Flush()
        {
            if (bytes.Count == 0) return;
            result.Add(Encoding.UTF8.GetString(bytes.ToArray()));
            bytes.Clear();
        }
        foreach (var t in tokens)
        {
            if (_addedTokens.Contains(t)) { Flush(); result.Add(t); }
            else ByteLevelAlphabet.AppendBytes(t, bytes);
        }
        Flush();
        return result;
    }

    static List<string> ByteFallback(List<string> tokens)
    {
        var result = new List<string>(tokens.Count);
        var bytes = new List<byte>();
        void Flush()
        {
            if (bytes.Count == 0) return;
            result.Add(Encoding.UTF8.GetString(bytes.ToArray()));
            bytes.Clear();
        }
        foreach (var t in tokens)
        {
            if (TryParseByteToken(t, out byte b)) bytes.Add(b);
            else { Flush(); result.Add(t); }
        }
        Flush();
        return result;
    }

    /// <summary>Parses SentencePiece's byte pieces, "&lt;0x41&gt;".</summary>
    public static bool TryParseByteToken(string token, out byte value)
    {
        value = 0;
        return token.Length == 6 && token.StartsWith("<0x", StringComparison.Ordinal) && token[5] == '>'
            && byte.TryParse(token.AsSpan(3, 2), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out value);
    }
}
