using System.Text.Json.Nodes;
using OnnxInterp.Checkpoints;
using OnnxInterp.Cli;
using OnnxInterp.Tests.Analysis.Paper;
using OnnxInterp.Tests.Support;

namespace OnnxInterp.Tests.Analysis.Truth;

/// <summary>
/// `truth --preset paper` as a user runs it: tiny random Llama models carrying a real tokenizer, on the paper's CSVs
/// with few_shot_samples.json beside them (the examples in the file's order).
/// </summary>
public class TruthPaperPresetCliTests
{
    static readonly string[] s_datasets = ["cities", "sp_en_trans", "animal_class", "inventors", "element_symb", "facts"];

    [TestCase("llama3.1", -6, -5)]
    [TestCase("llama2", -6, -5)]
    public void Truth_PresetPaper_TrainsOnTheFive_TestsAndIntervenesOnCities(string tokenizer, int before, int period)
    {
        using var tmp = new TempDir();
        foreach (var (name, seed) in new[] { ("base", 1), ("instruct", 2) })
            PaperInputs.WriteTinyCheckpoint(tmp.Sub(name), tokenizer, seed);
        string datasets = string.Join(",", s_datasets.Select(d => PaperInputs.Dataset(d + ".csv")));
        var (code, stdout, stderr) = CliRunner.Run("truth", "--base", tmp.Sub("base"), "--post", tmp.Sub("instruct"), "--preset", "paper",
            "--datasets", datasets, "--max-statements", "30", "--max-intervention-statements", "3", "--cache-dir", tmp.Sub("cache"), "--out", tmp.Sub("report"));
        Assert.That(code, Is.EqualTo(ExitCodes.Ok), stderr + stdout);
        Assert.That(stdout, Does.Contain("protocol paper; probe layer 1 (trained on sp_en_trans, animal_class, inventors, element_symb, facts; tested on cities)"));

        var results = JsonNode.Parse(File.ReadAllText(tmp.Sub("report/results.json")))!;
        Assert.That(results["config"]!["truth"]!["protocol"]!.GetValue<string>(), Is.EqualTo("Paper"));
        var t = results["truth"]!;
        Assert.That(t["protocol"]!.GetValue<string>(), Is.EqualTo("Paper"));
        Assert.That(t["trainingDatasets"]!.AsArray().Select(d => d!.GetValue<string>()), Is.EqualTo(new[] { "sp_en_trans", "animal_class", "inventors", "element_symb", "facts" }));
        Assert.That(t["missingTrainingDatasets"]!.AsArray(), Is.Empty);
        // 2-layer models are not the paper's: probe layer round(12·2/32) = 1, intervention layers 1..1.
        Assert.That(t["paperLayers"]!.AsArray().Select(p => (p!["fromTable"]!.GetValue<bool>(), p["probeLayer"]!.GetValue<int>())), Is.All.EqualTo((false, 1)));
        Assert.That(t["transfer"]!.AsArray().Select(r => r!["dataset"]!.GetValue<string>()), Is.EqualTo(new[] { "cities", "mean" }));
        var iv = t["intervention"]!;
        Assert.That(iv["dataset"]!.GetValue<string>(), Is.EqualTo("cities"));
        Assert.That(iv["layers"]!.AsArray().Select(l => l!.GetValue<int>()), Is.EqualTo(new[] { 1 }));
        // BOS + "This statement is:" in four tokens: the period and the token before it (interventions.py:30, 41).
        Assert.That(iv["positions"]!.AsArray().Select(p => p!.GetValue<int>()), Is.EqualTo(new[] { before, period }));
        Assert.That(iv["effects"]!.AsArray(), Has.Count.EqualTo(4));
        string report = File.ReadAllText(tmp.Sub("report/report.md"));
        Assert.That(report, Does.Contain("Protocol: paper").And.Contain("Table 2").And.Contain("Table 3"));

        // A dataset the paper gives no few-shot examples for, as the intervention's: a typed error naming it and what to pass.
        var bad = CliRunner.Run("truth", "--base", tmp.Sub("base"), "--preset", "paper", "--datasets", datasets + "," + PaperInputs.Dataset("neg_facts.csv"),
            "--intervention-dataset", "neg_facts", "--max-statements", "30", "--cache-dir", tmp.Sub("cache"), "--out", tmp.Sub("bad"));
        Assert.That(bad.Code, Is.EqualTo(ExitCodes.InvalidInput), bad.Err + bad.Out);
        Assert.That(bad.Err, Does.Contain("no few-shot examples for neg_facts").And.Contain("truth.interventionDataset").And.Contain("cities"));
    }
}
