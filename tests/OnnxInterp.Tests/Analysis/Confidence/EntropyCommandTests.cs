using System.Text.Json;
using OnnxInterp.Checkpoints;
using OnnxInterp.Cli;
using OnnxInterp.Data;
using OnnxInterp.Tests.Support;
using OnnxInterp.Tokenization;
using static OnnxInterp.Tests.Support.CliRunner;

namespace OnnxInterp.Tests.Analysis.Confidence;

/// <summary>The entropy verb as a user meets it: weights from checkpoints or exports, the ablation on exports, errors.</summary>
public class EntropyCommandTests
{
    [Test]
    public void Entropy_CheckpointsAndExports_WritesTheReport_AndBadInputIsAnError()
    {
        using var tmp = new TempDir();
        var texts = SyntheticWorld.Generate(1, WorldSize.Family).ToDataset("cities").Statements.Select(s => s.Text + " This statement is: TRUE FALSE");
        var tokenizerJson = BpeTrainer.TrainByteLevel(texts, new BpeTrainer.Options(700, ["<s>", "</s>"], "<s>"));
        foreach (var (name, seed) in new[] { ("base", 1), ("post", 2) })
        {
            RandomCheckpoint.Write(tmp.Sub(name + "-hf"), new RandomCheckpointSpec { Layers = 2, Seed = seed, VocabSize = 700 });
            File.WriteAllText(Path.Combine(tmp.Sub(name + "-hf"), "tokenizer.json"), tokenizerJson);
            Assert.That(Run("export", tmp.Sub(name + "-hf"), "--out", tmp.Sub(name), "--no-hash").Code, Is.Zero);
        }

        // Weights only, from the checkpoints (exported on demand into the cache, as compare does).
        var weights = Run("entropy", "--base", tmp.Sub("base-hf"), "--post", tmp.Sub("post-hf"), "--top", "5", "--out", tmp.Sub("r1"), "--cache-dir", tmp.Sub("cache"));
        Assert.That(weights.Code, Is.EqualTo(ExitCodes.Ok), weights.Err);
        Assert.That(weights.Out, Does.Contain("base vs post-hf: overlap"));
        Assert.That(Directory.GetFiles(Path.Combine(tmp.Sub("r1"), "figures"), "*.png"), Has.Length.EqualTo(2));

        // The ablation on the exports; the same weights give the same neurons.
        var full = Run("entropy", "--base", tmp.Sub("base"), "--post", tmp.Sub("post"), "--top", "5", "--dataset", "synthetic:cities",
            "--max-statements", "4", "--out", tmp.Sub("r2"));
        Assert.That(full.Code, Is.EqualTo(ExitCodes.Ok), full.Err);
        // The analysis's own files sit in the report folder's data/entropy/, beside results.json's "entropy" section.
        using var a = JsonDocument.Parse(File.ReadAllText(Path.Combine(tmp.Sub("r1"), "data", "entropy", "entropy.json")));
        using var b = JsonDocument.Parse(File.ReadAllText(Path.Combine(tmp.Sub("r2"), "data", "entropy", "entropy.json")));
        string Neurons(JsonDocument d, int m) => string.Join(",", d.RootElement.GetProperty("models")[m].GetProperty("entropyNeurons").EnumerateArray().Select(n => n.GetProperty("index").GetInt32()));
        Assert.That(Neurons(b, 0), Is.EqualTo(Neurons(a, 0)));
        Assert.That(Neurons(b, 1), Is.EqualTo(Neurons(a, 1)));
        var ablations = b.RootElement.GetProperty("ablations");
        Assert.That(ablations.GetArrayLength(), Is.EqualTo(2));
        Assert.That(ablations[0].GetProperty("prompts").GetInt32(), Is.EqualTo(4));
        Assert.That(ablations[0].GetProperty("rows").GetArrayLength(), Is.EqualTo(6), "5 neurons and all together");
        Assert.That(File.ReadAllText(Path.Combine(tmp.Sub("r2"), "report.md")), Does.Contain("| base vs post |").And.Contain("ECE"));
        using (var results = JsonDocument.Parse(File.ReadAllText(Path.Combine(tmp.Sub("r1"), "results.json"))))
        {
            var root = results.RootElement;
            Assert.That(root.GetProperty("config").GetProperty("entropy").GetProperty("ablate").GetBoolean(), Is.False, "no --dataset: weights only");
            Assert.That(root.GetProperty("config").GetProperty("entropy").GetProperty("selection").GetProperty("top").GetInt32(), Is.EqualTo(5));
            Assert.That(root.GetProperty("entropy").GetProperty("ablations").ValueKind, Is.EqualTo(JsonValueKind.Null));
            Assert.That(root.GetProperty("entropy").GetProperty("overlaps")[0].GetProperty("b").GetString(), Is.EqualTo("post-hf"));
        }
        using (var results = JsonDocument.Parse(File.ReadAllText(Path.Combine(tmp.Sub("r2"), "results.json"))))
        {
            var section = results.RootElement.GetProperty("entropy");
            Assert.That(section.GetProperty("ablations")[1].GetProperty("ece").GetDouble(),
                Is.EqualTo(ablations[1].GetProperty("calibration").GetProperty("ece").GetDouble()).Within(1e-12), "the section carries the analysis's numbers");
        }

        // A checkpoint is exported on demand for the ablation too (formerly an error).
        var checkpoint = Run("entropy", "--base", tmp.Sub("base-hf"), "--dataset", "synthetic:cities", "--max-statements", "2", "--out", tmp.Sub("r3"), "--cache-dir", tmp.Sub("cache"));
        Assert.That(checkpoint.Code, Is.EqualTo(ExitCodes.Ok), checkpoint.Err);
        Assert.That(checkpoint.Out, Does.Contain("base: ECE"));
        var percentile = Run("entropy", "--base", tmp.Sub("base"), "--percentile", "100", "--out", tmp.Sub("r4"));
        Assert.That(percentile.Code, Is.EqualTo(ExitCodes.InvalidInput));
        Assert.That(percentile.Err, Does.Contain("percentile"));
        Assert.That(Run("entropy", "--base", tmp.Sub("missing"), "--out", tmp.Sub("r5")).Code, Is.EqualTo(ExitCodes.InvalidInput));
        Assert.That(Directory.Exists(tmp.Sub("r4")) || Directory.Exists(tmp.Sub("r5")), Is.False, "nothing written on error");
    }

    [Test]
    public void Help_HasExamples() =>
        Assert.That(Run("entropy", "--help").Out, Does.Contain("Examples:").And.Contain("--percentile"));
}
