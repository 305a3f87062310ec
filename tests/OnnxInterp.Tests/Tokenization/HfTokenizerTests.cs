using System.Text;
using Microsoft.ML.Tokenizers;
using OnnxInterp.Tokenization;

namespace OnnxInterp.Tests.Tokenization;

[TestFixture]
public class UnicodeNormalizationTests
{
    // Expected values from Python's unicodedata.normalize (Unicode 14).
    [TestCase("cafe\u0301", NormalizationForm.FormC, "caf\u00E9")]
    [TestCase("e\u0301\u0323", NormalizationForm.FormC, "\u1EB9\u0301")]
    [TestCase("\u1100\u1161\u11A8", NormalizationForm.FormC, "\uAC01")]
    [TestCase("\uFB01", NormalizationForm.FormC, "\uFB01")]
    [TestCase("\u2460", NormalizationForm.FormC, "\u2460")]
    [TestCase("\u212B", NormalizationForm.FormC, "\u00C5")]
    [TestCase("\u0958", NormalizationForm.FormC, "\u0915\u093C")]
    [TestCase("A\u030A\u0301", NormalizationForm.FormC, "\u01FA")]
    [TestCase("\u1E9B\u0323", NormalizationForm.FormC, "\u1E9B\u0323")]
    [TestCase("Hello", NormalizationForm.FormC, "Hello")]
    [TestCase("\uAC00\u11A8", NormalizationForm.FormC, "\uAC01")]
    [TestCase("cafe\u0301", NormalizationForm.FormD, "cafe\u0301")]
    [TestCase("e\u0301\u0323", NormalizationForm.FormD, "e\u0323\u0301")]
    [TestCase("\u1100\u1161\u11A8", NormalizationForm.FormD, "\u1100\u1161\u11A8")]
    [TestCase("\uFB01", NormalizationForm.FormD, "\uFB01")]
    [TestCase("\u2460", NormalizationForm.FormD, "\u2460")]
    [TestCase("\u212B", NormalizationForm.FormD, "A\u030A")]
    [TestCase("\u0958", NormalizationForm.FormD, "\u0915\u093C")]
    [TestCase("A\u030A\u0301", NormalizationForm.FormD, "A\u030A\u0301")]
    [TestCase("\u1E9B\u0323", NormalizationForm.FormD, "\u017F\u0323\u0307")]
    [TestCase("Hello", NormalizationForm.FormD, "Hello")]
    [TestCase("\uAC00\u11A8", NormalizationForm.FormD, "\u1100\u1161\u11A8")]
    [TestCase("cafe\u0301", NormalizationForm.FormKC, "caf\u00E9")]
    [TestCase("e\u0301\u0323", NormalizationForm.FormKC, "\u1EB9\u0301")]
    [TestCase("\u1100\u1161\u11A8", NormalizationForm.FormKC, "\uAC01")]
    [TestCase("\uFB01", NormalizationForm.FormKC, "fi")]
    [TestCase("\u2460", NormalizationForm.FormKC, "1")]
    [TestCase("\u212B", NormalizationForm.FormKC, "\u00C5")]
    [TestCase("\u0958", NormalizationForm.FormKC, "\u0915\u093C")]
    [TestCase("A\u030A\u0301", NormalizationForm.FormKC, "\u01FA")]
    [TestCase("\u1E9B\u0323", NormalizationForm.FormKC, "\u1E69")]
    [TestCase("Hello", NormalizationForm.FormKC, "Hello")]
    [TestCase("\uAC00\u11A8", NormalizationForm.FormKC, "\uAC01")]
    [TestCase("cafe\u0301", NormalizationForm.FormKD, "cafe\u0301")]
    [TestCase("e\u0301\u0323", NormalizationForm.FormKD, "e\u0323\u0301")]
    [TestCase("\u1100\u1161\u11A8", NormalizationForm.FormKD, "\u1100\u1161\u11A8")]
    [TestCase("\uFB01", NormalizationForm.FormKD, "fi")]
    [TestCase("\u2460", NormalizationForm.FormKD, "1")]
    [TestCase("\u212B", NormalizationForm.FormKD, "A\u030A")]
    [TestCase("\u0958", NormalizationForm.FormKD, "\u0915\u093C")]
    [TestCase("A\u030A\u0301", NormalizationForm.FormKD, "A\u030A\u0301")]
    [TestCase("\u1E9B\u0323", NormalizationForm.FormKD, "s\u0323\u0307")]
    [TestCase("Hello", NormalizationForm.FormKD, "Hello")]
    [TestCase("\uAC00\u11A8", NormalizationForm.FormKD, "\u1100\u1161\u11A8")]
    public void MatchesPythonUnicodedata(string input, NormalizationForm form, string expected) =>
        Assert.That(input.Normalize(form), Is.EqualTo(expected), "ICU normalization must be active (no InvariantGlobalization)");
}

[TestFixture]
public class HfTokenizerTests
{
    string _dir = "";

    [SetUp]
    public void SetUp() => _dir = Directory.CreateTempSubdirectory("onnxinterp-tok-unit-").FullName;

    [TearDown]
    public void TearDown() => Directory.Delete(_dir, recursive: true);

    string Llama3() { SyntheticTokenizers.WriteLlama3(Path.Combine(_dir, "llama3")); return Path.Combine(_dir, "llama3"); }

    string Qwen2() { SyntheticTokenizers.WriteQwen2(Path.Combine(_dir, "qwen2")); return Path.Combine(_dir, "qwen2"); }

    /// <summary>Copies a tokenizer folder's tokenizer.json with one JSON edit, to test error paths.</summary>
    string Edited(string sourceDir, Func<System.Text.Json.Nodes.JsonNode, System.Text.Json.Nodes.JsonNode> edit)
    {
        var node = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Path.Combine(sourceDir, "tokenizer.json")))!;
        string path = Path.Combine(_dir, "edited.json");
        File.WriteAllText(path, edit(node).ToJsonString());
        return path;
    }

    [Test]
    public void Llama3StyleSpecialIdsAndBos()
    {
        var tok = HfTokenizer.FromDirectory(Llama3());
        int bot = tok.TokenToId("<|begin_of_text|>")!.Value;
        Assert.Multiple(() =>
        {
            Assert.That(tok.BosTokenId, Is.EqualTo(bot));
            Assert.That(tok.EosTokenIds, Is.EqualTo(new[] { tok.TokenToId("<|end_of_text|>")!.Value }));
            Assert.That(tok.PadTokenId, Is.Null);
            Assert.That(tok.Encode("Hello")[0], Is.EqualTo(bot));
            Assert.That(tok.Encode("Hello", addSpecialTokens: false), Does.Not.Contain(bot));
            Assert.That(tok.Inner, Is.InstanceOf<BpeTokenizer>());
            Assert.That(tok.VocabSize, Is.EqualTo(bot + 5));
            Assert.That(tok.IdToToken(bot), Is.EqualTo("<|begin_of_text|>"));
            Assert.That(tok.IdToToken(-1), Is.Null);
            Assert.That(tok.TokenToId("no such token"), Is.Null);
        });
    }

    [Test]
    public void Llama3StyleIgnoreMergesReachesWholeWordTokens()
    {
        // "Ġstatement" is in the vocabulary with no merge path: only ignore_merges finds it, as in HF.
        var tok = HfTokenizer.FromDirectory(Llama3());
        Assert.That(tok.EncodeToTokens(" statement", addSpecialTokens: false), Is.EqualTo(new[] { "Ġstatement" }));
    }

    [Test]
    public void Llama3StyleSplitsDigitsInGroupsOfThree()
    {
        var tok = HfTokenizer.FromDirectory(Llama3());
        string joined = string.Join("|", tok.EncodeToTokens("1234567", addSpecialTokens: false));
        Assert.That(joined.Replace("|", "", StringComparison.Ordinal), Is.EqualTo("1234567"));
        Assert.That(tok.EncodeToTokens("1234567", addSpecialTokens: false).All(t => t.Length <= 3), Is.True);
    }

    [Test]
    public void Qwen2StyleHasNoBosAndReadsEosAndPad()
    {
        var tok = HfTokenizer.FromDirectory(Qwen2());
        Assert.Multiple(() =>
        {
            Assert.That(tok.BosTokenId, Is.Null);
            Assert.That(tok.EosTokenIds, Is.EqualTo(new[] { tok.TokenToId("<|im_end|>")!.Value }));
            Assert.That(tok.PadTokenId, Is.EqualTo(tok.TokenToId("<|endoftext|>")));
            Assert.That(tok.Encode("Hi"), Is.EqualTo(tok.Encode("Hi", addSpecialTokens: false)));
            Assert.That(tok.Decode(tok.Encode("<|im_start|>user\nHi<|im_end|>"), skipSpecialTokens: true), Is.EqualTo("user\nHi"));
        });
    }

    [Test]
    public void GenerationConfigAddsEosIds()
    {
        string dir = Llama3();
        int eot = HfTokenizer.FromDirectory(dir).TokenToId("<|eot_id|>")!.Value;
        File.WriteAllText(Path.Combine(dir, "generation_config.json"), $"{{\"eos_token_id\": [{eot - 3}, {eot}]}}");
        var tok = HfTokenizer.FromDirectory(dir);
        Assert.That(tok.EosTokenIds, Is.EqualTo(new[] { eot - 3, eot }));
    }

    [Test]
    public void FromFilesWithoutConfigTakesBosFromTemplate()
    {
        var tok = HfTokenizer.FromFiles(Path.Combine(Llama3(), "tokenizer.json"), null);
        Assert.That(tok.BosTokenId, Is.EqualTo(tok.TokenToId("<|begin_of_text|>")));
        Assert.That(tok.EosTokenIds, Is.Empty);
    }

    [Test]
    public void RoundTripsArbitraryTextByteLevel()
    {
        var tok = HfTokenizer.FromDirectory(Qwen2());
        foreach (string s in new[] { "naïve 😀 test\t\n  x", "𝐀𝐁𝐂 letters outside the BMP", "😀abc", "日本語 and English" })
            Assert.That(tok.Decode(tok.Encode(s)), Is.EqualTo(s.Normalize()), s);
    }

    [Test]
    public void UnknownModelTypeIsUnsupported()
    {
        string path = Edited(Llama3(), n => { n["model"]!["type"] = "WordPiece"; return n; });
        var e = Assert.Throws<UnsupportedModelException>(() => HfTokenizer.FromFiles(path, null))!;
        Assert.Multiple(() =>
        {
            Assert.That(e.Field, Is.EqualTo("model.type"));
            Assert.That(e.Value, Is.EqualTo("WordPiece"));
            Assert.That(e.File, Is.EqualTo(path));
        });
    }

    [Test]
    public void UnknownPreTokenizerIsUnsupported()
    {
        string path = Edited(Llama3(), n => { n["pre_tokenizer"]!["pretokenizers"]![0]!["type"] = "UnicodeScripts"; return n; });
        var e = Assert.Throws<UnsupportedModelException>(() => HfTokenizer.FromFiles(path, null))!;
        Assert.That(e.Field, Is.EqualTo("pre_tokenizer.pretokenizers[0].type"));
        Assert.That(e.Value, Is.EqualTo("UnicodeScripts"));
    }

    [Test]
    public void UnknownNormalizerAndDecoderAreUnsupported()
    {
        string dir = Qwen2();
        string p1 = Edited(dir, n => { n["normalizer"]!["type"] = "Precompiled"; return n; });
        Assert.That(Assert.Throws<UnsupportedModelException>(() => HfTokenizer.FromFiles(p1, null))!.Field, Is.EqualTo("normalizer.type"));
        string p2 = Edited(dir, n => { n["decoder"]!["type"] = "CTC"; return n; });
        Assert.That(Assert.Throws<UnsupportedModelException>(() => HfTokenizer.FromFiles(p2, null))!.Value, Is.EqualTo("CTC"));
    }

    [Test]
    public void MalformedJsonIsInvalidFile()
    {
        string path = Path.Combine(_dir, "bad.json");
        File.WriteAllText(path, "{ \"model\": ");
        var e = Assert.Throws<InvalidFileException>(() => HfTokenizer.FromFiles(path, null))!;
        Assert.That(e.File, Is.EqualTo(path));
    }

    [Test]
    public void MissingFilesAreInvalidFile()
    {
        Assert.Throws<InvalidFileException>(() => HfTokenizer.FromDirectory(Path.Combine(_dir, "nowhere")));
        Assert.Throws<InvalidFileException>(() => HfTokenizer.FromDirectory(_dir));
    }

    [Test]
    public void BadVocabValueNamesTheField()
    {
        string path = Edited(Qwen2(), n => { n["model"]!["vocab"]!["a"] = "x"; return n; });
        var e = Assert.Throws<InvalidFileException>(() => HfTokenizer.FromFiles(path, null))!;
        Assert.That(e.Field, Is.EqualTo("model.vocab.a"));
        Assert.That(e.Value, Is.EqualTo("x"));
    }

    [Test]
    public void ConfigTokenThatIsNotInVocabularyNamesTheField()
    {
        string dir = Qwen2();
        File.WriteAllText(Path.Combine(dir, "tokenizer_config.json"), "{\"eos_token\": {\"content\": \"<|nope|>\"}}");
        var e = Assert.Throws<InvalidFileException>(() => HfTokenizer.FromDirectory(dir))!;
        Assert.That(e.Field, Is.EqualTo("eos_token"));
        Assert.That(e.Value, Is.EqualTo("<|nope|>"));
    }

    [Test]
    public void DecodeOfUnknownIdThrows()
    {
        var tok = HfTokenizer.FromDirectory(Qwen2());
        Assert.Throws<InvalidArgumentException>(() => tok.Decode([1_000_000]));
    }

    [Test]
    public void Llama2EncodesPaperPromptWithBosAndByteFallback()
    {
        var tok = HfTokenizer.FromDirectory(TokenizerTestPaths.RequireShared("llama2"));
        Assert.Multiple(() =>
        {
            Assert.That(tok.BosTokenId, Is.EqualTo(1));
            Assert.That(tok.EosTokenIds, Is.EqualTo(new[] { 2 }));
            Assert.That(tok.VocabSize, Is.EqualTo(32000));
            Assert.That(tok.Encode("Hi")[0], Is.EqualTo(1));
            Assert.That(tok.EncodeToTokens("🤗", addSpecialTokens: false), Is.EqualTo(new[] { "▁", "<0xF0>", "<0x9F>", "<0xA4>", "<0x97>" }));
            Assert.That(tok.Decode(tok.Encode("The city of Paris is in France. This statement is: TRUE"), skipSpecialTokens: true),
                Is.EqualTo("The city of Paris is in France. This statement is: TRUE"));
        });
    }

    [Test]
    public void Llama2ConfigAddEosTokenAppendsEos()
    {
        string src = TokenizerTestPaths.RequireShared("llama2");
        string dir = Path.Combine(_dir, "llama2-eos");
        Directory.CreateDirectory(dir);
        File.Copy(Path.Combine(src, "tokenizer.json"), Path.Combine(dir, "tokenizer.json"));
        File.WriteAllText(Path.Combine(dir, "tokenizer_config.json"),
            "{\"add_bos_token\": true, \"add_eos_token\": true, \"bos_token\": \"<s>\", \"eos_token\": \"</s>\", \"tokenizer_class\": \"LlamaTokenizer\"}");
        var ids = HfTokenizer.FromDirectory(dir).Encode("Hi");
        Assert.That(ids[0], Is.EqualTo(1));
        Assert.That(ids[^1], Is.EqualTo(2));
    }

    [Test]
    public void Phi2HasNoBosAndEndOfTextEos()
    {
        var tok = HfTokenizer.FromDirectory(TokenizerTestPaths.RequireShared("phi-2"));
        Assert.Multiple(() =>
        {
            Assert.That(tok.BosTokenId, Is.EqualTo(50256));
            Assert.That(tok.EosTokenIds, Is.EqualTo(new[] { 50256 }));
            Assert.That(tok.Encode("Hello world"), Is.EqualTo(new[] { 15496, 995 }));
        });
    }

    [Test]
    public void MalformedSentencePieceModelIsInvalidFile()
    {
        string dir = Path.Combine(_dir, "sp");
        Directory.CreateDirectory(dir);
        string model = Path.Combine(dir, "tokenizer.model");
        File.WriteAllBytes(model, [0xFF, 0xFF, 0xFF, 0x01]);
        var e = Assert.Throws<InvalidFileException>(() => HfTokenizer.FromDirectory(dir))!;
        Assert.That(e.File, Is.EqualTo(model));
    }
}
