using OnnxInterp.Checkpoints;
using OnnxInterp.Cli;
using OnnxInterp.Tests.Support;
using static OnnxInterp.Tests.Support.CliRunner;

namespace OnnxInterp.Tests.Cli;

/// <summary>The verbs as a user meets them: exit codes, messages, files.</summary>
public class CliTests
{
    [Test]
    public void SampleExportRunInspect_EndToEnd_WritesReadableSafetensors()
    {
        using var tmp = new TempDir();
        Assert.That(Run("sample", "--out", tmp.Sub("hf"), "--family", "qwen2", "--layers", "2").Code, Is.EqualTo(ExitCodes.Ok));
        var export = Run("export", tmp.Sub("hf"), "--out", tmp.Sub("onnx"));
        Assert.That(export.Code, Is.EqualTo(ExitCodes.Ok), export.Err);
        Assert.That(export.Out, Does.Contain("8 hook points"));

        var run = Run("run", tmp.Sub("onnx"), "--prompt", "The city of Paris is in France.", "--prompt", "Hi",
            "--hooks", "blocks.*.hook_resid_post", "--save", tmp.Sub("out.safetensors"));
        Assert.That(run.Code, Is.EqualTo(ExitCodes.Ok), run.Err);
        using var f = SafetensorsFile.Open(tmp.Sub("out.safetensors"));
        // BOS + 31 bytes for the longer prompt (byte-level tokenizer, no merges).
        Assert.That(f["logits"].Shape, Is.EqualTo(new long[] { 2, 32, 258 }));
        Assert.That(f["blocks.1.hook_resid_post"].Shape, Is.EqualTo(new long[] { 2, 32, 64 }));
        Assert.That(f["attention_mask"].DType, Is.EqualTo(TensorDType.I64));
        Assert.That(f.Contains("blocks.0.hook_resid_pre"), Is.False, "only the requested hooks are saved");

        var inspect = Run("inspect", tmp.Sub("onnx"));
        Assert.That(inspect.Out, Does.Contain("Qwen2ForCausalLM").And.Contain("blocks.1.mlp.hook_post [128]"));
        Assert.That(Run("inspect", tmp.Sub("onnx"), "--json").Out, Does.Contain("\"hooks\""));
    }

    [Test]
    public void Run_TokensEqualPromptTokens()
    {
        using var tmp = new TempDir();
        Run("sample", "--out", tmp.Sub("hf"), "--layers", "1");
        Run("export", tmp.Sub("hf"), "--out", tmp.Sub("onnx"), "--no-hash");
        // "Hi" is bytes 72, 105 after BOS 256.
        Assert.That(Run("run", tmp.Sub("onnx"), "--tokens", "256,72,105", "--save", tmp.Sub("a.safetensors")).Code, Is.Zero);
        Assert.That(Run("run", tmp.Sub("onnx"), "--prompt", "Hi", "--save", tmp.Sub("b.safetensors")).Code, Is.Zero);
        using var a = SafetensorsFile.Open(tmp.Sub("a.safetensors"));
        using var b = SafetensorsFile.Open(tmp.Sub("b.safetensors"));
        Assert.That(b.ReadFloat32("logits"), Is.EqualTo(a.ReadFloat32("logits")));
    }

    [Test]
    public void Run_InterventionsFile_ScalesTheHook_AndBadFilesAreErrors()
    {
        using var tmp = new TempDir();
        Run("sample", "--out", tmp.Sub("hf"), "--layers", "2");
        Run("export", tmp.Sub("hf"), "--out", tmp.Sub("onnx"), "--no-hash");
        File.WriteAllText(tmp.Sub("steer.json"), """[{"Hook": "blocks.0.hook_resid_post", "Op": "Scale", "Factor": 0, "Positions": [-1]}]""");
        string[] Args(string save, params string[] more) =>
            ["run", tmp.Sub("onnx"), "--prompt", "Hi there", "--hooks", "blocks.0.hook_resid_post", "--save", tmp.Sub(save), .. more];
        Assert.That(Run(Args("plain.safetensors")).Code, Is.Zero);
        var steered = Run(Args("steered.safetensors", "--interventions", tmp.Sub("steer.json")));
        Assert.That(steered.Code, Is.Zero, steered.Err);
        using var plain = SafetensorsFile.Open(tmp.Sub("plain.safetensors"));
        using var edited = SafetensorsFile.Open(tmp.Sub("steered.safetensors"));
        float[] h0 = plain.ReadFloat32("blocks.0.hook_resid_post"), h1 = edited.ReadFloat32("blocks.0.hook_resid_post");
        int d = 64, n = h0.Length / d;
        // BOS + 8 bytes: positions before the last are untouched, the last is scaled to zero.
        Assert.That(h1.Take((n - 1) * d), Is.EqualTo(h0.Take((n - 1) * d)));
        Assert.That(h1.Skip((n - 1) * d), Is.All.EqualTo(0f));
        Assert.That(h0.Skip((n - 1) * d).Any(v => v != 0f));
        Assert.That(edited.ReadFloat32("logits").Skip((n - 1) * 258), Is.Not.EqualTo(plain.ReadFloat32("logits").Skip((n - 1) * 258)));

        File.WriteAllText(tmp.Sub("bad.json"), """[{"Hook": "blocks.0.hook_resid_post", "Op": "Twist"}]""");
        var bad = Run(Args("x.safetensors", "--interventions", tmp.Sub("bad.json")));
        Assert.That(bad.Code, Is.EqualTo(ExitCodes.InvalidInput));
        Assert.That(bad.Err, Does.Contain("bad.json").And.Not.Contain("   at "));
        File.WriteAllText(tmp.Sub("unknown.json"), """[{"Hook": "blocks.9.hook_resid_post", "Op": "Scale", "Factor": 2}]""");
        var unknown = Run(Args("y.safetensors", "--interventions", tmp.Sub("unknown.json")));
        Assert.That(unknown.Code, Is.EqualTo(ExitCodes.InvalidInput));
        Assert.That(unknown.Err, Does.Contain("blocks.9.hook_resid_post"));
        Assert.That(File.Exists(tmp.Sub("x.safetensors")) || File.Exists(tmp.Sub("y.safetensors")), Is.False, "nothing written on bad input");
    }

    [Test]
    public void BadArguments_GiveMessagesAndExitCodes_NotStackTraces()
    {
        using var tmp = new TempDir();
        var missing = Run("export", tmp.Sub("nope"), "--out", tmp.Sub("x"));
        Assert.That(missing.Code, Is.EqualTo(ExitCodes.InvalidInput));
        Assert.That(missing.Err, Does.StartWith("error: checkpoint folder does not exist").And.Not.Contain("   at "));
        Assert.That(Directory.Exists(tmp.Sub("x")), Is.False, "nothing half-written");

        Assert.That(Run("export", tmp.Sub("nope")).Code, Is.EqualTo(ExitCodes.Usage), "--out is required");
        Assert.That(Run("export", tmp.Sub("nope"), "--out", "x", "--dtype", "int3").Code, Is.EqualTo(ExitCodes.Usage));
        Assert.That(Run("frobnicate").Code, Is.EqualTo(ExitCodes.Usage));

        Run("sample", "--out", tmp.Sub("hf"), "--layers", "1");
        Run("export", tmp.Sub("hf"), "--out", tmp.Sub("onnx"), "--no-hash");
        var both = Run("run", tmp.Sub("onnx"), "--tokens", "1", "--prompt", "x", "--save", tmp.Sub("o.safetensors"));
        Assert.That(both.Code, Is.EqualTo(ExitCodes.Usage));
        var badToken = Run("run", tmp.Sub("onnx"), "--tokens", "1,99999", "--save", tmp.Sub("o.safetensors"));
        Assert.That((badToken.Code, badToken.Err), Is.EqualTo((ExitCodes.InvalidInput, "error: token id outside the vocabulary of 258 (field 'input_ids', value '99999')" + Environment.NewLine)));
        var badHook = Run("run", tmp.Sub("onnx"), "--tokens", "1", "--hooks", "blocks.7.*", "--save", tmp.Sub("o.safetensors"));
        Assert.That(badHook.Err, Does.Contain("no hook point matches"));
        Assert.That(File.Exists(tmp.Sub("o.safetensors")), Is.False);

        File.WriteAllText(Path.Combine(tmp.Sub("onnx"), "manifest.json"), "{ not json");
        var corrupt = Run("inspect", tmp.Sub("onnx"));
        Assert.That(corrupt.Code, Is.EqualTo(ExitCodes.InvalidInput));
        Assert.That(corrupt.Err, Does.Contain("manifest.json"));
    }

    [Test]
    public void Trace_TwoModels_WritesTheReport_AndBadDatasetsAreErrors()
    {
        using var tmp = new TempDir();
        var texts = OnnxInterp.Data.SyntheticWorld.Generate(1, OnnxInterp.Data.WorldSize.Family).ToDataset("cities").Statements
            .Select(s => s.Text + " This statement is: TRUE FALSE");
        var tokenizerJson = OnnxInterp.Tokenization.BpeTrainer.TrainByteLevel(texts, new OnnxInterp.Tokenization.BpeTrainer.Options(700, ["<s>", "</s>"], "<s>"));
        foreach (var (name, seed) in new[] { ("base", "1"), ("post", "2") })
        {
            Run("sample", "--out", tmp.Sub(name + "-hf"), "--layers", "2", "--seed", seed);
            // Widen the sample's vocabulary to the trained tokenizer's by writing a fresh checkpoint with it.
            RandomCheckpoint.Write(tmp.Sub(name + "-hf"), new RandomCheckpointSpec { Layers = 2, Seed = int.Parse(seed), VocabSize = 700 });
            File.WriteAllText(Path.Combine(tmp.Sub(name + "-hf"), "tokenizer.json"), tokenizerJson);
            Assert.That(Run("export", tmp.Sub(name + "-hf"), "--out", tmp.Sub(name), "--no-hash").Code, Is.Zero);
        }
        var ok = Run("trace", "--base", tmp.Sub("base"), "--post", tmp.Sub("post"), "--dataset", "synthetic:cities", "--max-pairs", "2", "--out", tmp.Sub("report"));
        Assert.That(ok.Code, Is.EqualTo(ExitCodes.Ok), ok.Err);
        Assert.That(ok.Out, Does.Contain("base").And.Contain("corr"));
        // The report folder of the comparison (trace runs through the runner): the analysis's own files in data/knowledge.cities/.
        var own = Path.Combine(tmp.Sub("report"), "data", "knowledge.cities", "knowledge_cities.json");
        Assert.That(File.Exists(own));
        // results.json carries the same "knowledge" section as compare's, with the numbers of the report's JSON.
        var results = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Path.Combine(tmp.Sub("report"), "results.json")))!;
        var report = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(own))!;
        var section = results["knowledge"]!["cities"]!;
        Assert.That(section["pairsTraced"]!.GetValue<int>(), Is.EqualTo(report["curation"]!["traced"]!.GetValue<int>()));
        Assert.That(section["comparisons"]![0]!["corr"]!.GetValue<double>(), Is.EqualTo(report["comparisons"]![0]!["corr"]!.GetValue<double>()).Within(1e-12));
        Assert.That(section["matrices"]!.AsArray().Select(m => m!["model"]!.GetValue<string>()), Does.Contain("base").And.Contain("post"));
        Assert.That(Directory.GetFiles(Path.Combine(tmp.Sub("report"), "figures")), Is.Not.Empty);
        Assert.That(results["config"]!["knowledge"]!["maxPairs"]!.GetValue<int>(), Is.EqualTo(2));

        // Through the runner, trace resumes: the same command again runs nothing; without --max-pairs it traces every pair.
        var again = Run("trace", "--base", tmp.Sub("base"), "--post", tmp.Sub("post"), "--dataset", "synthetic:cities", "--max-pairs", "2", "--out", tmp.Sub("report"));
        Assert.That(again.Code, Is.EqualTo(ExitCodes.Ok), again.Err);
        Assert.That(again.Out, Does.Contain("(0 steps run, 1 resumed from the journal)").And.Contain("cities: "));
        var help = Run("trace", "--help").Out;
        Assert.That(help, Does.Contain("--max-pairs").And.Contain("every curated pair"));

        var unknown = Run("trace", "--base", tmp.Sub("base"), "--dataset", "synthetic:planets", "--out", tmp.Sub("r2"));
        Assert.That(unknown.Code, Is.EqualTo(ExitCodes.InvalidInput));
        Assert.That(unknown.Err, Does.Contain("synthetic:planets"));
        var missing = Run("trace", "--base", tmp.Sub("base"), "--dataset", tmp.Sub("nope.csv"), "--out", tmp.Sub("r3"));
        Assert.That(missing.Code, Is.EqualTo(ExitCodes.InvalidInput));
    }

    [Test]
    public void Help_ListsVerbsWithExamples()
    {
        var help = Run("--help");
        Assert.That(help.Out, Does.Contain("export").And.Contain("run").And.Contain("inspect").And.Contain("sample"));
        foreach (var verb in new[] { "export", "run", "inspect", "sample", "trace" })
            Assert.That(Run(verb, "--help").Out, Does.Contain("Examples:"), verb);
    }
}
