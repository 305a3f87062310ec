using System.Text.Json.Nodes;
using OnnxInterp.Checkpoints;
using OnnxInterp.Export;
using OnnxInterp.Fuzz;
using OnnxInterp.Runtime;
using OnnxInterp.Tests.Support;
using OnnxInterp.Tokenization;

namespace OnnxInterp.Tests.Reliability;

/// <summary>One test per reader defect the fuzzer found: each input used to escape as an untyped exception.</summary>
public class ReaderDefectTests
{
    static string Tokenizer(TempDir tmp, Action<JsonObject> editJson, Action<JsonObject>? editConfig = null)
    {
        var dir = tmp.Sub("tok");
        Directory.CreateDirectory(dir);
        Seeds.ByteLevelTokenizer(dir);
        Edit(Path.Combine(dir, "tokenizer.json"), editJson);
        if (editConfig is not null) Edit(Path.Combine(dir, "tokenizer_config.json"), editConfig);
        return dir;
    }

    static void Edit(string path, Action<JsonObject> edit)
    {
        var o = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        edit(o);
        File.WriteAllText(path, o.ToJsonString());
    }

    [Test]
    public void Tokenizer_TwoTokensShareAnId_InvalidFileNamingToken()
    {
        using var tmp = new TempDir();
        var dir = Tokenizer(tmp, o => o["model"]!["vocab"]!["x"] = 0);   // was ArgumentException from Microsoft.ML.Tokenizers
        var e = Assert.Throws<InvalidFileException>(() => HfTokenizer.FromDirectory(dir))!;
        Assert.That(e.Field, Is.AnyOf("model.vocab.x", "model.vocab.!"));
        Assert.That(e.Value, Is.EqualTo("0"));
    }

    [TestCase("decoder", "")]
    [TestCase("decoder", "ab")]
    [TestCase("pre_tokenizer", "")]
    public void Tokenizer_MetaspaceReplacementNotOneCharacter_InvalidFileNamingIt(string part, string replacement)
    {
        // Found by the fuzz tool: an empty decoder replacement threw ArgumentException from string.Replace when decoding.
        using var tmp = new TempDir();
        var dir = Tokenizer(tmp, o => o[part] = new JsonObject { ["type"] = "Metaspace", ["replacement"] = replacement, ["prepend_scheme"] = "always" });
        var e = Assert.Throws<InvalidFileException>(() => HfTokenizer.FromDirectory(dir))!;
        Assert.That(e.Field, Is.EqualTo($"{part}.replacement"));
    }

    [Test]
    public void Tokenizer_MergesNotAnArray_InvalidFileNamingMerges()
    {
        using var tmp = new TempDir();
        var dir = Tokenizer(tmp, o => o["model"]!["merges"] = "a b");   // was InvalidOperationException
        Assert.That(Assert.Throws<InvalidFileException>(() => HfTokenizer.FromDirectory(dir))!.Field, Is.EqualTo("model.merges"));
    }

    [Test]
    public void Tokenizer_AddedTokensNotAnArray_InvalidFile()
    {
        using var tmp = new TempDir();
        var dir = Tokenizer(tmp, o => o["added_tokens"] = new JsonObject());
        Assert.That(Assert.Throws<InvalidFileException>(() => HfTokenizer.FromDirectory(dir))!.Field, Is.EqualTo("added_tokens"));
    }

    [Test]
    public void Tokenizer_ConfigGivesAnAddedTokenAnotherId_FirstIdWins()
    {
        using var tmp = new TempDir();
        // tokenizer.json says <|begin_of_text|> is 267; tokenizer_config.json adds it again as 500 (was ArgumentException).
        // transformers adds a config token only when its content is new, so 267 stays and 500 is unknown.
        var dir = Tokenizer(tmp, _ => { }, c => c["added_tokens_decoder"]!["500"] = new JsonObject { ["content"] = "<|begin_of_text|>", ["special"] = true });
        var tok = HfTokenizer.FromDirectory(dir);
        Assert.That(tok.TokenToId("<|begin_of_text|>"), Is.EqualTo(267));
        Assert.That(tok.Encode("<|begin_of_text|>hi", addSpecialTokens: false)[0], Is.EqualTo(267));
        Assert.That(tok.IdToToken(500), Is.Null);
    }

    [Test]
    public void Tokenizer_PostProcessorIdOutsideVocabulary_InvalidFileAtLoad()
    {
        using var tmp = new TempDir();
        // Was accepted, then Decode of Encode's own output threw InvalidArgumentException.
        var dir = Tokenizer(tmp, o => o["post_processor"]!["processors"]![1]!["special_tokens"]!["<|begin_of_text|>"]!["ids"] = new JsonArray(99999));
        var e = Assert.Throws<InvalidFileException>(() => HfTokenizer.FromDirectory(dir))!;
        Assert.That((e.Field, e.Value), Is.EqualTo(("post_processor", "<|begin_of_text|> = 99999")));
    }

    [TestCase("pre_tokenizer")]
    [TestCase("normalizer")]
    public void Tokenizer_CatastrophicRegex_TimesOutAsInvalidFile(string where)
    {
        using var tmp = new TempDir();
        var evil = new JsonObject { ["Regex"] = "(a+)+$" };
        var dir = Tokenizer(tmp, o =>
        {
            if (where == "pre_tokenizer") o["pre_tokenizer"]!["pretokenizers"]![0]!["pattern"] = evil;
            else o["normalizer"] = new JsonObject { ["type"] = "Replace", ["pattern"] = evil, ["content"] = "b" };
        });
        var saved = CodePointRegex.UntrustedTimeout;
        CodePointRegex.UntrustedTimeout = TimeSpan.FromMilliseconds(200);
        try
        {
            var tok = HfTokenizer.FromDirectory(dir);   // regexes take the timeout when built
            // Was a RegexMatchTimeoutException after 10 s (pre-tokenizer) or a hang (the normalizer had no timeout).
            var e = Assert.Throws<InvalidFileException>(() => tok.Encode(new string('a', 40) + "!"))!;
            Assert.That((e.Field, e.Value), Is.EqualTo(($"{(where == "pre_tokenizer" ? "pre_tokenizer.pretokenizers[0]" : "normalizer")}.pattern.Regex", "(a+)+$")));
        }
        finally
        {
            CodePointRegex.UntrustedTimeout = saved;
        }
    }

    [Test]
    public void StoreMetadata_NullValue_InvalidFile()
    {
        using var tmp = new TempDir();
        Seeds.NpyStore(tmp.Path);
        File.WriteAllText(Path.Combine(tmp.Sub("store"), "metadata.json"), """{"model": null}""");   // was a NullReferenceException on use
        var e = Assert.Throws<InvalidFileException>(() => ActivationStoreReader.Open(tmp.Sub("store")).Dispose())!;
        Assert.That((e.Field, e.Value), Is.EqualTo(("model", "null")));
    }

    [Test]
    public void CheckpointIndex_NotAnObject_InvalidFile()
    {
        using var tmp = new TempDir();
        Seeds.ShardedCheckpoint(tmp.Path);
        File.WriteAllText(Path.Combine(tmp.Path, HfCheckpoint.IndexFile), "-1");   // was InvalidOperationException
        Assert.That(Assert.Throws<InvalidFileException>(() => HfCheckpoint.Open(tmp.Path).Dispose())!.Field, Is.EqualTo("weight_map"));
    }

    [Test]
    public void Config_LyingLayerCount_RejectedWithoutAllocating()
    {
        var json = """{"architectures": ["MistralForCausalLM"], "hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 2000000000,""" +
                   """ "num_attention_heads": 2, "vocab_size": 100}""";
        long before = GC.GetAllocatedBytesForCurrentThread();
        var e = Assert.Throws<InvalidFileException>(() => ModelConfigReader.Parse(json))!;   // was a 2 GB bool array (sliding layers)
        Assert.That(GC.GetAllocatedBytesForCurrentThread() - before, Is.LessThan(1 << 20));
        Assert.That((e.Field, e.Value), Is.EqualTo(("num_hidden_layers", "2000000000")));
    }

    static string Manifest(TempDir tmp, Func<string, string> edit)
    {
        Seeds.Export(tmp.Path, ExportDType.Fp32);
        var path = Path.Combine(tmp.Path, ModelManifest.FileName);
        File.WriteAllText(path, edit(File.ReadAllText(path)));
        return tmp.Path;
    }

    [TestCase("\"hooks\": [", "\"hooks\": [null, ", "hooks")]                       // was NullReferenceException
    [TestCase("\"modelFile\": \"model.onnx\"", "\"modelFile\": null", "modelFile")]  // was NullReferenceException
    [TestCase("\"numLayers\": 2", "\"numLayers\": 2000000000", "config.numLayers")] // was OverflowException sizing the layer sessions
    [TestCase("\"numKvHeads\": 1", "\"numKvHeads\": 0", "config.numKvHeads")]      // was DivideByZeroException (KvGroups)
    public void Manifest_LyingField_InvalidFileNamingIt(string from, string to, string field)
    {
        using var tmp = new TempDir();
        var dir = Manifest(tmp, s => s.Contains(from) ? s.Replace(from, to) : throw new AssertionException($"seed manifest lacks {from}"));
        Assert.That(Assert.Throws<InvalidFileException>(() => ModelManifest.Read(dir))!.Field, Is.EqualTo(field));
    }

    [Test]
    public void Manifest_DuplicateHookName_InvalidFile()
    {
        using var tmp = new TempDir();
        // Was ArgumentException building the session's hook table.
        var dir = Manifest(tmp, s => s.Replace("\"name\": \"blocks.0.hook_resid_mid\"", "\"name\": \"blocks.0.hook_resid_pre\""));
        var e = Assert.Throws<InvalidFileException>(() => ModelManifest.Read(dir))!;
        Assert.That((e.Field, e.Value), Is.EqualTo(("hooks", "blocks.0.hook_resid_pre")));
    }
}
