using System.Text.Json;
using OnnxInterp.Tokenization;

namespace OnnxInterp.Tests.Tokenization;

/// <summary>
/// Compares HfTokenizer with goldens made by transformers.js (tools/goldens/tokenizer-goldens.mjs): exact ids,
/// token strings, ids without special tokens, and decoding with and without special tokens.
/// </summary>
[TestFixture]
public class HfTokenizerGoldenTests
{
    sealed record GoldenCase(string Text, int[] Ids, string[] Tokens, int[] IdsNoSpecial, string Decoded, string DecodedSkipSpecial);

    sealed record GoldenFile(string Name, string Source, string Sha256, string Reference, List<GoldenCase> Cases);

    static readonly Dictionary<string, HfTokenizer> s_loaded = new();
    static string? s_syntheticRoot;

    static GoldenFile Load(string name)
    {
        string path = Path.Combine(TokenizerTestPaths.GoldenDir, name + ".json");
        using var doc = JsonDocument.Parse(File.ReadAllText(path));
        var root = doc.RootElement;
        var cases = root.GetProperty("cases").EnumerateArray().Select(c => new GoldenCase(
            c.GetProperty("text").GetString()!,
            c.GetProperty("ids").EnumerateArray().Select(x => x.GetInt32()).ToArray(),
            c.GetProperty("tokens").EnumerateArray().Select(x => x.GetString()!).ToArray(),
            c.GetProperty("ids_no_special").EnumerateArray().Select(x => x.GetInt32()).ToArray(),
            c.GetProperty("decoded").GetString()!,
            c.GetProperty("decoded_skip_special").GetString()!)).ToList();
        return new GoldenFile(name, root.GetProperty("source").GetString()!, root.GetProperty("tokenizer_json_sha256").GetString()!,
            root.GetProperty("reference").GetString()!, cases);
    }

    public static IEnumerable<TestCaseData> Cases()
    {
        foreach (string name in new[] { "llama2", "phi-2", "llama3-synthetic", "qwen2-synthetic" })
        {
            GoldenFile g;
            try { g = Load(name); }
            catch (Exception e) when (e is IOException or InvalidOperationException) { continue; }
            for (int i = 0; i < g.Cases.Count; i++)
                yield return new TestCaseData(name, i).SetName($"Golden({name}, {i:D2})").SetDescription(g.Cases[i].Text);
        }
    }

    static HfTokenizer Tokenizer(GoldenFile g)
    {
        lock (s_loaded)
        {
            if (s_loaded.TryGetValue(g.Name, out var t)) return t;
            string dir;
            if (g.Source.StartsWith("synthetic:", StringComparison.Ordinal))
            {
                s_syntheticRoot ??= Directory.CreateTempSubdirectory("onnxinterp-tok-").FullName;
                dir = Path.Combine(s_syntheticRoot, g.Name.Replace("-synthetic", "", StringComparison.Ordinal));
                if (!Directory.Exists(dir)) SyntheticTokenizers.WriteAll(s_syntheticRoot);
            }
            else dir = TokenizerTestPaths.RequireShared(g.Name);
            Assert.That(SyntheticTokenizers.Sha256(Path.Combine(dir, "tokenizer.json")), Is.EqualTo(g.Sha256),
                $"{dir}/tokenizer.json is not the file the goldens were made from; rerun tools/goldens/tokenizer-goldens.mjs");
            t = HfTokenizer.FromDirectory(dir);
            s_loaded[g.Name] = t;
            return t;
        }
    }

    [OneTimeTearDown]
    public void CleanUp()
    {
        if (s_syntheticRoot is not null && Directory.Exists(s_syntheticRoot)) Directory.Delete(s_syntheticRoot, recursive: true);
        s_syntheticRoot = null;
        lock (s_loaded) s_loaded.Clear();
    }

    static readonly Dictionary<string, GoldenFile> s_goldens = new();

    [TestCaseSource(nameof(Cases))]
    public void Golden(string name, int index)
    {
        GoldenFile g;
        lock (s_goldens) { if (!s_goldens.TryGetValue(name, out g!)) s_goldens[name] = g = Load(name); }
        var c = g.Cases[index];
        var tok = Tokenizer(g);
        Assert.Multiple(() =>
        {
            Assert.That(tok.Encode(c.Text), Is.EqualTo(c.Ids), $"ids of {Show(c.Text)} ({g.Reference})");
            // transformers.js reports an added token matched in normalized text by the matched text ("▁<s>" for
            // Llama-2's normalized <s>); HfTokenizer (like HF's Rust tokenizers) reports the token's content, "<s>".
            var tokens = tok.EncodeToTokens(c.Text);
            var expected = c.Tokens.Select((t, i) => i < c.Ids.Length && tok.IdToToken(c.Ids[i]) is { } content && t != content && t.EndsWith(content, StringComparison.Ordinal) ? content : t).ToArray();
            Assert.That(tokens, Is.EqualTo(expected), $"tokens of {Show(c.Text)}");
            Assert.That(tokens, Is.EqualTo(c.Ids.Select(i => tok.IdToToken(i)).ToArray()), $"tokens agree with IdToToken for {Show(c.Text)}");
            Assert.That(tok.Encode(c.Text, addSpecialTokens: false), Is.EqualTo(c.IdsNoSpecial), $"ids without special tokens of {Show(c.Text)}");
            Assert.That(tok.Decode(c.Ids), Is.EqualTo(c.Decoded), $"decode of {Show(c.Text)}");
            Assert.That(tok.Decode(c.Ids, skipSpecialTokens: true), Is.EqualTo(c.DecodedSkipSpecial), $"decode skipping special tokens of {Show(c.Text)}");
        });
    }

    static string Show(string s) => JsonSerializer.Serialize(s);
}
