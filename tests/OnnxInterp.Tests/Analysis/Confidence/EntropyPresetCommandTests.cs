using System.Text.Json;
using OnnxInterp.Checkpoints;
using OnnxInterp.Cli;
using OnnxInterp.Data;
using OnnxInterp.Tests.Support;
using OnnxInterp.Tokenization;
using static OnnxInterp.Tests.Support.CliRunner;

namespace OnnxInterp.Tests.Analysis.Confidence;

/// <summary>`entropy --preset paper` as a user runs it: the paper's pairs and ratio, its Table 14 in the report.</summary>
public class EntropyPresetCommandTests
{
    [Test]
    public void Entropy_PresetPaper_BaseAgainstEachPostTrainedModel_PositiveRatios_Table14InTheReport()
    {
        using var tmp = new TempDir();
        var texts = SyntheticWorld.Generate(1, WorldSize.Family).ToDataset("cities").Statements.Select(s => s.Text);
        var tokenizerJson = BpeTrainer.TrainByteLevel(texts, new BpeTrainer.Options(500, ["<s>", "</s>"], "<s>"));
        var models = new[] { ("base", 1), ("sft", 2), ("instruct", 3) };
        foreach (var (name, seed) in models)
        {
            RandomCheckpoint.Write(tmp.Sub(name), new RandomCheckpointSpec { Layers = 2, Seed = seed, VocabSize = 500 });
            File.WriteAllText(Path.Combine(tmp.Sub(name), "tokenizer.json"), tokenizerJson);
        }

        var run = Run("entropy", "--base", tmp.Sub("base"), "--post", tmp.Sub("sft"), "--post", tmp.Sub("instruct"), "--preset", "paper",
            "--out", tmp.Sub("r"), "--cache-dir", tmp.Sub("cache"));
        Assert.That(run.Code, Is.EqualTo(ExitCodes.Ok), run.Err);
        Assert.That(run.Out, Does.Contain("protocol Paper, ratio NormOverLogitVar").And.Contain("base vs sft: overlap").And.Contain("base vs instruct: overlap"));
        Assert.That(run.Out, Does.Not.Contain("sft vs instruct"), "IoU.py compares the base with a post-trained model");

        using var results = JsonDocument.Parse(File.ReadAllText(Path.Combine(tmp.Sub("r"), "results.json")));
        var config = results.RootElement.GetProperty("config");
        Assert.That(config.GetProperty("preset").GetString(), Is.EqualTo("paper"));
        Assert.That(config.GetProperty("entropy").GetProperty("ablate").GetBoolean(), Is.False, "the paper's Table 14 reads no data");
        var section = results.RootElement.GetProperty("entropy");
        Assert.That(section.GetProperty("protocol").GetString(), Is.EqualTo("Paper"));
        Assert.That(section.GetProperty("overlaps").GetArrayLength(), Is.EqualTo(2));
        foreach (var m in section.GetProperty("models").EnumerateArray())
        {
            Assert.That(m.GetProperty("entropyNeurons").GetArrayLength(), Is.EqualTo(10));
            Assert.That(m.GetProperty("paperModel").ValueKind, Is.EqualTo(JsonValueKind.Null), "random models are not the paper's");
            foreach (var n in m.GetProperty("entropyNeurons").EnumerateArray())
                Assert.That(n.GetProperty("ratio").GetDouble(), Is.EqualTo(n.GetProperty("norm").GetDouble() / n.GetProperty("logitVar").GetDouble()).Within(1e-9).Percent);
        }
        var report = File.ReadAllText(Path.Combine(tmp.Sub("r"), "report.md"));
        Assert.That(report, Does.Contain("the paper's Table 14 (protocol: paper)").And.Contain("| base | sft |").And.Contain("| base | instruct |"));

        // The same models under the default protocol: every pair, the log ratio.
        var standard = Run("entropy", "--base", tmp.Sub("base"), "--post", tmp.Sub("sft"), "--post", tmp.Sub("instruct"),
            "--out", tmp.Sub("d"), "--cache-dir", tmp.Sub("cache"));
        Assert.That(standard.Code, Is.EqualTo(ExitCodes.Ok), standard.Err);
        Assert.That(standard.Out, Does.Contain("protocol Default, ratio NormOverLogLogitVar").And.Contain("sft vs instruct: overlap"));
    }
}
