using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using OnnxInterp.Internals;

namespace OnnxInterp.Tokenization;

/// <summary>
/// Trains a GPT-2 style byte-level BPE on a corpus and writes it as a Hugging Face tokenizer.json: the 256 byte
/// symbols, then one merge at a time (the most frequent adjacent pair; ties broken by the pair's text, so the
/// result is deterministic), then the special tokens. Used for the embedded model family.
/// </summary>
public static class BpeTrainer
{
    /// <summary>GPT-2's pre-tokenization pattern, which the ByteLevel pre-tokenizer applies with use_regex.</summary>
    static readonly Regex Gpt2 = new(@"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+", RegexOptions.Compiled);

    public sealed record Options(int VocabSize, IReadOnlyList<string> SpecialTokens, string? BosToken, int MinPairCount = 2);

    public static string TrainByteLevel(IEnumerable<string> texts, Options o)
    {
        if (o.VocabSize < 256 + o.SpecialTokens.Count) Throw.Argument("vocabulary must hold 256 bytes plus the special tokens", "vocab_size", o.VocabSize);
        if (o.BosToken is not null && !o.SpecialTokens.Contains(o.BosToken)) Throw.Argument("BOS must be one of the special tokens", "bos", o.BosToken);

        // Word frequencies over byte-level symbol sequences.
        var counts = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var text in texts)
            foreach (Match m in Gpt2.Matches(text))
            {
                var w = ByteLevelAlphabet.Encode(m.Value);
                counts[w] = counts.TryGetValue(w, out int c) ? c + 1 : 1;
            }
        var words = counts.Select(kv => (Symbols: kv.Key.Select(ch => ch.ToString()).ToList(), Count: kv.Value)).ToList();

        var vocab = new List<string>();
        for (int b = 0; b < 256; b++) vocab.Add(ByteLevelAlphabet.ByteToChar((byte)b).ToString());
        var merges = new List<(string, string)>();
        int budget = o.VocabSize - o.SpecialTokens.Count;
        while (vocab.Count < budget)
        {
            var pairs = new Dictionary<(string, string), int>();
            foreach (var (symbols, count) in words)
                for (int i = 0; i + 1 < symbols.Count; i++)
                {
                    var p = (symbols[i], symbols[i + 1]);
                    pairs[p] = pairs.TryGetValue(p, out int c) ? c + count : count;
                }
            if (pairs.Count == 0) break;
            var best = pairs.OrderByDescending(kv => kv.Value).ThenBy(kv => kv.Key.Item1 + " " + kv.Key.Item2, StringComparer.Ordinal).First();
            if (best.Value < o.MinPairCount) break;
            var (a, bb) = best.Key;
            string merged = a + bb;
            merges.Add((a, bb));
            vocab.Add(merged);
            foreach (var (symbols, _) in words)
                for (int i = 0; i + 1 < symbols.Count; i++)
                    if (symbols[i] == a && symbols[i + 1] == bb)
                    {
                        symbols[i] = merged;
                        symbols.RemoveAt(i + 1);
                    }
        }
        return ToJson(vocab, merges, o);
    }

    static string ToJson(List<string> vocab, List<(string, string)> merges, Options o)
    {
        var v = new JsonObject();
        for (int i = 0; i < vocab.Count; i++) v[vocab[i]] = i;
        var added = new JsonArray();
        for (int i = 0; i < o.SpecialTokens.Count; i++)
            added.Add(new JsonObject
            {
                ["id"] = vocab.Count + i, ["content"] = o.SpecialTokens[i], ["single_word"] = false, ["lstrip"] = false,
                ["rstrip"] = false, ["normalized"] = false, ["special"] = true,
            });
        JsonNode? post = null;
        if (o.BosToken is { } bos)
        {
            int bosId = vocab.Count + o.SpecialTokens.ToList().IndexOf(bos);
            post = new JsonObject
            {
                ["type"] = "TemplateProcessing",
                ["single"] = new JsonArray(new JsonObject { ["SpecialToken"] = new JsonObject { ["id"] = bos, ["type_id"] = 0 } },
                    new JsonObject { ["Sequence"] = new JsonObject { ["id"] = "A", ["type_id"] = 0 } }),
                ["pair"] = new JsonArray(new JsonObject { ["SpecialToken"] = new JsonObject { ["id"] = bos, ["type_id"] = 0 } },
                    new JsonObject { ["Sequence"] = new JsonObject { ["id"] = "A", ["type_id"] = 0 } },
                    new JsonObject { ["Sequence"] = new JsonObject { ["id"] = "B", ["type_id"] = 1 } }),
                ["special_tokens"] = new JsonObject { [bos] = new JsonObject { ["id"] = bos, ["ids"] = new JsonArray(bosId), ["tokens"] = new JsonArray(bos) } },
            };
        }
        var root = new JsonObject
        {
            ["version"] = "1.0",
            ["truncation"] = null,
            ["padding"] = null,
            ["added_tokens"] = added,
            ["normalizer"] = null,
            ["pre_tokenizer"] = new JsonObject { ["type"] = "ByteLevel", ["add_prefix_space"] = false, ["trim_offsets"] = true, ["use_regex"] = true },
            ["post_processor"] = post,
            ["decoder"] = new JsonObject { ["type"] = "ByteLevel", ["add_prefix_space"] = true, ["trim_offsets"] = true, ["use_regex"] = true },
            ["model"] = new JsonObject
            {
                ["type"] = "BPE", ["dropout"] = null, ["unk_token"] = null, ["continuing_subword_prefix"] = null, ["end_of_word_suffix"] = null,
                ["fuse_unk"] = false, ["byte_fallback"] = false, ["ignore_merges"] = false,
                ["vocab"] = v,
                ["merges"] = new JsonArray(merges.Select(m => (JsonNode)new JsonArray(m.Item1, m.Item2)).ToArray()),
            },
        };
        return root.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true });
    }
}
