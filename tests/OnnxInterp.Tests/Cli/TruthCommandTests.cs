using System.Text.Json;
using OnnxInterp.Checkpoints;
using OnnxInterp.Cli;
using OnnxInterp.Data;
using OnnxInterp.Tests.Support;
using OnnxInterp.Tokenization;
using static OnnxInterp.Tests.Support.CliRunner;

namespace OnnxInterp.Tests.Cli;

/// <summary>The truth verb as a user meets it: exit codes, messages, files.</summary>
public class TruthCommandTests
{
    [Test]
    public void Truth_TwoModels_WritesTheReport_AndBadInputIsAnError()
    {
        using var tmp = new TempDir();
        var world = SyntheticWorld.Generate(1, WorldSize.Family);
        var texts = world.ToDataset("cities").Statements.Select(s => s.Text + " This statement is: TRUE FALSE");
        var tokenizerJson = BpeTrainer.TrainByteLevel(texts, new BpeTrainer.Options(700, ["<s>", "</s>"], "<s>"));
        foreach (var (name, seed) in new[] { ("base", 1), ("post", 2) })
        {
            RandomCheckpoint.Write(tmp.Sub(name + "-hf"), new RandomCheckpointSpec { Layers = 2, Seed = seed, VocabSize = 700 });
            File.WriteAllText(Path.Combine(tmp.Sub(name + "-hf"), "tokenizer.json"), tokenizerJson);
            Assert.That(Run("export", tmp.Sub(name + "-hf"), "--out", tmp.Sub(name), "--no-hash").Code, Is.Zero);
        }
        var ok = Run("truth", "--base", tmp.Sub("base"), "--post", tmp.Sub("post"), "--datasets", "synthetic:cities", "--datasets", "synthetic:animal_class",
            "--max-statements", "20", "--max-intervention-statements", "2", "--layer", "1", "--intervention-scale", "2", "--out", tmp.Sub("report"));
        Assert.That(ok.Code, Is.EqualTo(ExitCodes.Ok), ok.Err);
        Assert.That(ok.Out, Does.Contain("probe layer 1 (leave-one-dataset-out)").And.Contain("base").And.Contain("post"));
        // The report folder of the comparison: the "truth" section of results.json, the analysis's own files in data/truth/.
        var results = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Path.Combine(tmp.Sub("report"), "results.json")))!;
        Assert.That(results["config"]!["analyses"]!.AsArray().Select(a => a!.GetValue<string>()), Is.EqualTo(new[] { "truth" }));
        Assert.That(results["truth"]!["intervention"]!["scale"]!.GetValue<double>(), Is.EqualTo(2));
        using (var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(tmp.Sub("report"), "data", "truth", "truth.json"))))
        {
            var root = json.RootElement;
            Assert.That(root.GetProperty("datasets").EnumerateArray().Select(d => d.GetProperty("statements").GetInt32()), Is.EqualTo(new[] { 20, 20 }));
            Assert.That(root.GetProperty("intervention").GetProperty("scale").GetDouble(), Is.EqualTo(2));
            Assert.That(root.GetProperty("intervention").GetProperty("trueStatements").GetInt32(), Is.EqualTo(2));
        }
        Assert.That(File.ReadAllText(Path.Combine(tmp.Sub("report"), "data", "truth", "truth.md")), Does.Contain("Table 2").And.Contain("Table 3"));
        Assert.That(Directory.GetFiles(Path.Combine(tmp.Sub("report"), "figures"), "truth_probe_accuracy_*.png"), Has.Length.EqualTo(2));

        var judgement = Run("truth", "--base", tmp.Sub("base"), "--datasets", "synthetic:cities", "--datasets", "synthetic:animal_class",
            "--reading", "judgement", "--max-statements", "12", "--no-intervention", "--no-logistic", "--out", tmp.Sub("r-judgement"));
        Assert.That(judgement.Code, Is.EqualTo(ExitCodes.Ok), judgement.Err);
        Assert.That(File.ReadAllText(Path.Combine(tmp.Sub("r-judgement"), "data", "truth", "truth.json")), Does.Contain("\"Judgement\"").And.Contain("\"intervention\": null"));
        Assert.That(File.ReadAllText(Path.Combine(tmp.Sub("r-judgement"), "report.md")), Does.Contain("Truth is read where the judgement is asked for"));

        var unknown = Run("truth", "--base", tmp.Sub("base"), "--datasets", "synthetic:planets", "--out", tmp.Sub("r2"));
        Assert.That(unknown.Code, Is.EqualTo(ExitCodes.InvalidInput));
        Assert.That(unknown.Err, Does.Contain("synthetic:planets"));
        var missing = Run("truth", "--base", tmp.Sub("base"), "--datasets", tmp.Sub("nope.csv"), "--out", tmp.Sub("r3"));
        Assert.That(missing.Code, Is.EqualTo(ExitCodes.InvalidInput));
        var badLayer = Run("truth", "--base", tmp.Sub("base"), "--datasets", "synthetic:cities", "--layer", "7", "--max-statements", "10", "--out", tmp.Sub("r4"));
        Assert.That(badLayer.Code, Is.EqualTo(ExitCodes.InvalidInput));
        Assert.That(badLayer.Err, Does.Contain("truth.layer"));

        // The paper's CSVs: few-shot examples for cities and sp_en_trans come from the paper's prompts.
        var paper = Path.Combine(ShippedFamily.RepositoryRoot, "..", "shared", "datasets", "paper");
        if (Directory.Exists(paper))
        {
            var csv = Run("truth", "--base", tmp.Sub("base"), "--datasets", Path.Combine(paper, "cities.csv"), "--datasets", Path.Combine(paper, "sp_en_trans.csv"),
                "--max-statements", "16", "--max-intervention-statements", "2", "--no-logistic", "--out", tmp.Sub("r5"));
            Assert.That(csv.Code, Is.EqualTo(ExitCodes.Ok), csv.Err);
            Assert.That(File.ReadAllText(Path.Combine(tmp.Sub("r5"), "report.md")), Does.Contain("intervention effects on cities"));
        }
    }

    [Test]
    public void Truth_Help_HasExamples()
    {
        var help = Run("truth", "--help");
        Assert.That(help.Out, Does.Contain("Examples:").And.Contain("--reading").And.Contain("--intervention-scale"));
    }
}
