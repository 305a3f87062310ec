using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace OnnxInterp.Tests.Tokenization;

/// <summary>
/// Builds small but real byte-level BPE tokenizer folders in the shape of Llama-3's and Qwen2's (no such files
/// ship with the repository): a few hundred merges trained here, deterministically, on a fixed corpus.
/// tools/goldens/tokenizer-goldens.mjs reads the same folders (see <see cref="WriteAll"/>), and the goldens record
/// the tokenizer.json hash so a change here that would stale them fails the golden tests.
/// </summary>
static class SyntheticTokenizers
{
    public const string Llama3Regex = @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
    public const string Qwen2Regex = @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    const string Corpus = """
        The city of Paris is in France. This statement is: TRUE
        The city of Rome is in Spain. This statement is: FALSE
        The capital of Germany is Berlin. The capital of Japan is Tokyo.
        Hello world! Hello there, how are you doing today? I'm fine, thanks.
        I don't know what they'll say, but we've seen it and she's sure it'd work.
        In 2024 there were 12345 people and 678 cats; 3.14159 is pi, 1000000 is a million.
        def main(): return f(x) + 2 * y  # a comment
            indented line with    several   spaces
        Tabs	separate	columns	here.
        Caf\u00e9 na\u00efve r\u00e9sum\u00e9 Z\u00fcrich \u00e9l\u00e8ve
        \u6771\u4eac\u306f\u65e5\u672c\u306e\u9996\u90fd\u3067\u3059\u3002 \u4e2d\u6587\u6d4b\u8bd5
        The model answers TRUE or FALSE for each statement about the world.
        the the the of of and and in in is is statement statement city city
        """;

    static readonly (string Content, bool Special)[] s_llama3Added =
    [
        ("<|begin_of_text|>", true), ("<|end_of_text|>", true), ("<|start_header_id|>", true), ("<|end_header_id|>", true), ("<|eot_id|>", true),
    ];

    static readonly (string Content, bool Special)[] s_qwen2Added =
    [
        ("<|endoftext|>", true), ("<|im_start|>", true), ("<|im_end|>", true),
    ];

    /// <summary>Writes llama3/ and qwen2/ under <paramref name="root"/>.</summary>
    public static void WriteAll(string root)
    {
        WriteLlama3(Path.Combine(root, "llama3"));
        WriteQwen2(Path.Combine(root, "qwen2"));
    }

    public static string Sha256(string file) => Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(file)));

    public static void WriteLlama3(string dir)
    {
        Directory.CreateDirectory(dir);
        var (vocab, merges) = Train(Llama3Regex, normalizeNfc: false, mergeCount: 300);
        // Whole words with no merge path, as real Llama-3 vocabularies have: only ignore_merges reaches them.
        foreach (var w in new[] { "Ġstatement", "ĠTRUE", "ĠFALSE" })
            vocab.TryAdd(w, vocab.Count);
        int first = vocab.Count;
        Write(Path.Combine(dir, "tokenizer.json"), w =>
        {
            w.WriteString("version", "1.0");
            w.WriteNull("truncation");
            w.WriteNull("padding");
            WriteAdded(w, s_llama3Added, first);
            w.WriteNull("normalizer");
            w.WriteStartObject("pre_tokenizer");
            w.WriteString("type", "Sequence");
            w.WriteStartArray("pretokenizers");
            WriteSplit(w, Llama3Regex);
            WriteByteLevel(w, addPrefixSpace: false, trimOffsets: true, useRegex: false);
            w.WriteEndArray();
            w.WriteEndObject();
            w.WriteStartObject("post_processor");
            w.WriteString("type", "Sequence");
            w.WriteStartArray("processors");
            WriteByteLevel(w, addPrefixSpace: true, trimOffsets: false, useRegex: true);
            w.WriteStartObject();
            w.WriteString("type", "TemplateProcessing");
            w.WriteStartArray("single");
            WriteTemplateSpecial(w, "<|begin_of_text|>", 0);
            WriteTemplateSequence(w, "A", 0);
            w.WriteEndArray();
            w.WriteStartArray("pair");
            WriteTemplateSpecial(w, "<|begin_of_text|>", 0);
            WriteTemplateSequence(w, "A", 0);
            WriteTemplateSpecial(w, "<|begin_of_text|>", 1);
            WriteTemplateSequence(w, "B", 1);
            w.WriteEndArray();
            w.WriteStartObject("special_tokens");
            w.WriteStartObject("<|begin_of_text|>");
            w.WriteString("id", "<|begin_of_text|>");
            w.WriteStartArray("ids"); w.WriteNumberValue(first); w.WriteEndArray();
            w.WriteStartArray("tokens"); w.WriteStringValue("<|begin_of_text|>"); w.WriteEndArray();
            w.WriteEndObject();
            w.WriteEndObject();
            w.WriteEndObject();
            w.WriteEndArray();
            w.WriteEndObject();
            w.WritePropertyName("decoder");
            WriteByteLevel(w, addPrefixSpace: true, trimOffsets: true, useRegex: true);
            WriteModel(w, vocab, merges, ignoreMerges: true, mergesAsArrays: true);
        });
        Write(Path.Combine(dir, "tokenizer_config.json"), w =>
        {
            WriteAddedDecoder(w, s_llama3Added, first);
            w.WriteString("bos_token", "<|begin_of_text|>");
            w.WriteBoolean("clean_up_tokenization_spaces", true);
            w.WriteString("eos_token", "<|end_of_text|>");
            w.WriteNumber("model_max_length", 131072);
            w.WriteString("tokenizer_class", "PreTrainedTokenizerFast");
        });
    }

    public static void WriteQwen2(string dir)
    {
        Directory.CreateDirectory(dir);
        var (vocab, merges) = Train(Qwen2Regex, normalizeNfc: true, mergeCount: 300);
        int first = vocab.Count;
        Write(Path.Combine(dir, "tokenizer.json"), w =>
        {
            w.WriteString("version", "1.0");
            w.WriteNull("truncation");
            w.WriteNull("padding");
            WriteAdded(w, s_qwen2Added, first);
            w.WriteStartObject("normalizer");
            w.WriteString("type", "NFC");
            w.WriteEndObject();
            w.WriteStartObject("pre_tokenizer");
            w.WriteString("type", "Sequence");
            w.WriteStartArray("pretokenizers");
            WriteSplit(w, Qwen2Regex);
            WriteByteLevel(w, addPrefixSpace: false, trimOffsets: false, useRegex: false);
            w.WriteEndArray();
            w.WriteEndObject();
            w.WritePropertyName("post_processor");
            WriteByteLevel(w, addPrefixSpace: false, trimOffsets: false, useRegex: false);
            w.WritePropertyName("decoder");
            WriteByteLevel(w, addPrefixSpace: false, trimOffsets: false, useRegex: false);
            WriteModel(w, vocab, merges, ignoreMerges: false, mergesAsArrays: false);
        });
        Write(Path.Combine(dir, "tokenizer_config.json"), w =>
        {
            w.WriteBoolean("add_prefix_space", false);
            WriteAddedDecoder(w, s_qwen2Added, first);
            w.WriteNull("bos_token");
            w.WriteBoolean("clean_up_tokenization_spaces", false);
            w.WriteString("eos_token", "<|im_end|>");
            w.WriteString("errors", "replace");
            w.WriteNumber("model_max_length", 32768);
            w.WriteString("pad_token", "<|endoftext|>");
            w.WriteString("tokenizer_class", "Qwen2Tokenizer");
            w.WriteNull("unk_token");
        });
    }

    /// <summary>Byte-level BPE training: the 256 byte characters, then the most frequent pair again and again (ties: ordinal).</summary>
    static (Dictionary<string, int> Vocab, List<(string A, string B)> Merges) Train(string splitRegex, bool normalizeNfc, int mergeCount)
    {
        string text = Regex.Unescape(Corpus);
        if (normalizeNfc) text = text.Normalize(NormalizationForm.FormC);
        var words = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (Match m in Regex.Matches(text, splitRegex))
        {
            string mapped = ByteLevel(m.Value);
            words[mapped] = words.GetValueOrDefault(mapped) + 1;
        }
        var vocab = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int b = 0; b < 256; b++) vocab[ByteLevel([(byte)b])] = b;
        var split = words.ToDictionary(kv => kv.Key, kv => kv.Key.Select(c => c.ToString()).ToList(), StringComparer.Ordinal);
        var merges = new List<(string, string)>();
        while (merges.Count < mergeCount)
        {
            var counts = new Dictionary<(string, string), int>();
            foreach (var (word, freq) in words)
            {
                var s = split[word];
                for (int i = 0; i + 1 < s.Count; i++) counts[(s[i], s[i + 1])] = counts.GetValueOrDefault((s[i], s[i + 1])) + freq;
            }
            if (counts.Count == 0) break;
            var best = counts.OrderByDescending(kv => kv.Value)
                .ThenBy(kv => kv.Key.Item1, StringComparer.Ordinal).ThenBy(kv => kv.Key.Item2, StringComparer.Ordinal).First().Key;
            merges.Add(best);
            string merged = best.Item1 + best.Item2;
            vocab.TryAdd(merged, vocab.Count);
            foreach (var s in split.Values)
                for (int i = 0; i + 1 < s.Count; i++)
                    if (s[i] == best.Item1 && s[i + 1] == best.Item2) { s[i] = merged; s.RemoveAt(i + 1); }
        }
        return (vocab, merges);
    }

    static string ByteLevel(string s) => ByteLevel(Encoding.UTF8.GetBytes(s));

    static string ByteLevel(byte[] bytes)
    {
        var sb = new StringBuilder();
        foreach (byte b in bytes)
        {
            bool printable = b is >= (byte)'!' and <= (byte)'~' or >= 0xA1 and <= 0xAC or >= 0xAE;
            if (printable) sb.Append((char)b);
            else
            {
                int n = 0;
                for (int x = 0; x < b; x++)
                    if (!(x is >= '!' and <= '~' or >= 0xA1 and <= 0xAC or >= 0xAE)) n++;
                sb.Append((char)(256 + n));
            }
        }
        return sb.ToString();
    }

    static void Write(string path, Action<Utf8JsonWriter> body)
    {
        using var stream = File.Create(path);
        using var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
        w.WriteStartObject();
        body(w);
        w.WriteEndObject();
    }

    static void WriteAdded(Utf8JsonWriter w, (string Content, bool Special)[] added, int first)
    {
        w.WriteStartArray("added_tokens");
        for (int i = 0; i < added.Length; i++)
        {
            w.WriteStartObject();
            w.WriteNumber("id", first + i);
            w.WriteString("content", added[i].Content);
            w.WriteBoolean("single_word", false);
            w.WriteBoolean("lstrip", false);
            w.WriteBoolean("rstrip", false);
            w.WriteBoolean("normalized", false);
            w.WriteBoolean("special", added[i].Special);
            w.WriteEndObject();
        }
        w.WriteEndArray();
    }

    static void WriteAddedDecoder(Utf8JsonWriter w, (string Content, bool Special)[] added, int first)
    {
        w.WriteStartObject("added_tokens_decoder");
        for (int i = 0; i < added.Length; i++)
        {
            w.WriteStartObject((first + i).ToString(System.Globalization.CultureInfo.InvariantCulture));
            w.WriteString("content", added[i].Content);
            w.WriteBoolean("lstrip", false);
            w.WriteBoolean("normalized", false);
            w.WriteBoolean("rstrip", false);
            w.WriteBoolean("single_word", false);
            w.WriteBoolean("special", added[i].Special);
            w.WriteEndObject();
        }
        w.WriteEndObject();
    }

    static void WriteSplit(Utf8JsonWriter w, string regex)
    {
        w.WriteStartObject();
        w.WriteString("type", "Split");
        w.WriteStartObject("pattern");
        w.WriteString("Regex", regex);
        w.WriteEndObject();
        w.WriteString("behavior", "Isolated");
        w.WriteBoolean("invert", false);
        w.WriteEndObject();
    }

    static void WriteByteLevel(Utf8JsonWriter w, bool addPrefixSpace, bool trimOffsets, bool useRegex)
    {
        w.WriteStartObject();
        w.WriteString("type", "ByteLevel");
        w.WriteBoolean("add_prefix_space", addPrefixSpace);
        w.WriteBoolean("trim_offsets", trimOffsets);
        w.WriteBoolean("use_regex", useRegex);
        w.WriteEndObject();
    }

    static void WriteTemplateSpecial(Utf8JsonWriter w, string id, int typeId)
    {
        w.WriteStartObject();
        w.WriteStartObject("SpecialToken");
        w.WriteString("id", id);
        w.WriteNumber("type_id", typeId);
        w.WriteEndObject();
        w.WriteEndObject();
    }

    static void WriteTemplateSequence(Utf8JsonWriter w, string id, int typeId)
    {
        w.WriteStartObject();
        w.WriteStartObject("Sequence");
        w.WriteString("id", id);
        w.WriteNumber("type_id", typeId);
        w.WriteEndObject();
        w.WriteEndObject();
    }

    static void WriteModel(Utf8JsonWriter w, Dictionary<string, int> vocab, List<(string A, string B)> merges, bool ignoreMerges, bool mergesAsArrays)
    {
        w.WriteStartObject("model");
        w.WriteString("type", "BPE");
        w.WriteNull("dropout");
        w.WriteNull("unk_token");
        w.WriteNull("continuing_subword_prefix");
        w.WriteNull("end_of_word_suffix");
        w.WriteBoolean("fuse_unk", false);
        w.WriteBoolean("byte_fallback", false);
        w.WriteBoolean("ignore_merges", ignoreMerges);
        w.WriteStartObject("vocab");
        foreach (var (token, id) in vocab.OrderBy(kv => kv.Value)) w.WriteNumber(token, id);
        w.WriteEndObject();
        w.WriteStartArray("merges");
        foreach (var (a, b) in merges)
        {
            if (mergesAsArrays) { w.WriteStartArray(); w.WriteStringValue(a); w.WriteStringValue(b); w.WriteEndArray(); }
            else w.WriteStringValue($"{a} {b}");
        }
        w.WriteEndArray();
        w.WriteEndObject();
    }
}
