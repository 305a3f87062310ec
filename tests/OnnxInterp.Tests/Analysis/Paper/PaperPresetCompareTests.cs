using System.Text.Json.Nodes;
using OnnxInterp.Checkpoints;
using OnnxInterp.Tests.Support;

namespace OnnxInterp.Tests.Analysis.Paper;

/// <summary>
/// `compare --preset paper` as a user runs it on checkpoints carrying a real tokenizer: tiny random Llama models whose
/// vocabulary is Llama-2's (SentencePiece-style, byte fallback) or Llama-3's, on the paper's six traced datasets.
/// </summary>
[TestFixture]
public class PaperPresetCompareTests
{
    static readonly string[] s_datasets = ["cities", "neg_cities", "larger_than", "smaller_than", "sp_en_trans", "neg_sp_en_trans"];

    [TestCase("llama2", 32000)]
    [TestCase("llama3.1", 128256)]
    [TestCase("phi-2", 50295)]
    public void Compare_PresetPaper_RunsEveryAnalysisOnThePapersTracedDatasets(string tokenizer, int vocab)
    {
        using var tmp = new TempDir();
        PaperInputs.WriteTinyCheckpoint(tmp.Sub("base"), tokenizer, 1);
        PaperInputs.WriteTinyCheckpoint(tmp.Sub("instruct"), tokenizer, 2);
        string datasets = string.Join(",", s_datasets.Select(d => PaperInputs.Dataset(d + ".csv")));
        // Every analysis, as `compare` runs them by default; sizes bounded so the test stays short (truth reads every statement).
        var (code, stdout, stderr) = CliRunner.Run("compare", "--base", tmp.Sub("base"), "--post", tmp.Sub("instruct"), "--preset", "paper",
            "--datasets", datasets, "--set", "knowledge.maxPairs=2", "--set", "truth.maxInterventionStatements=2",
            "--set", "refusal.maxTrain=8", "--set", "refusal.maxTest=4", "--cache-dir", tmp.Sub("cache"), "--out", tmp.Sub("report"));
        Assert.That(code, Is.EqualTo(0), stderr + stdout);

        var results = JsonNode.Parse(File.ReadAllText(tmp.Sub("report/results.json")))!;
        Assert.That(results["config"]!["preset"]!.GetValue<string>(), Is.EqualTo("paper"));
        foreach (var analysis in new[] { "knowledge", "truth", "refusal", "entropy" })
        {
            Assert.That(results["config"]![analysis]!["protocol"]!.GetValue<string>(), Is.EqualTo("Paper"), analysis);
            Assert.That(results[analysis], Is.Not.Null.And.Property("Count").GreaterThan(0), analysis);
        }
        using (var session = OnnxInterp.Runtime.ModelSession.Open(Directory.GetDirectories(tmp.Sub("cache/exports"))[0]))
            Assert.That(session.Manifest.Config.VocabSize, Is.EqualTo(vocab), "the checkpoint's vocabulary is the tokenizer's");
        foreach (var d in s_datasets)
        {
            var k = results["knowledge"]![d]!;
            Assert.That(k["protocol"]!.GetValue<string>(), Is.EqualTo("paper"), d);
            Assert.That(k["pairsCurated"]!.GetValue<int>(), Is.GreaterThan(10), d);
            Assert.That(k["pairsTraced"]!.GetValue<int>(), Is.InRange(1, 2), d);
            var labels = k["labels"]!.AsArray().Select(l => l!.GetValue<string>()).ToList();
            Assert.That(labels.TakeLast(4), Is.EqualTo(new[] { "This", "statement", "is", ":" }), d);
            Assert.That(labels.Count(l => l.Length >= 2 && l[0] == 's' && char.IsDigit(l[1])), Is.GreaterThan(0), d);
            Assert.That(k["matrices"]!.AsArray(), Has.Count.EqualTo(4), d);  // base, instruct, base->instruct, instruct->base
        }
        string report = File.ReadAllText(tmp.Sub("report/report.md"));
        Assert.That(report, Does.Contain("### Table 1: knowledge storage"));
        Assert.That(report, Does.Contain("| instruct | curated pairs (traced) |"));
    }

    [Test]
    public void Compare_PresetPaper_TuluExtracted_CollapsesColumnsAsThePaper()
    {
        using var tmp = new TempDir();
        foreach (var (name, seed) in new[] { ("base", 1), ("sft", 2) })
            PaperInputs.WriteTinyCheckpoint(tmp.Sub(name), "llama2", seed);
        var (code, stdout, stderr) = CliRunner.Run("compare", "--base", tmp.Sub("base"), "--post", tmp.Sub("sft"), "--preset", "paper",
            "--datasets", PaperInputs.Dataset("tulu_extracted.csv"), "--only", "knowledge", "--set", "knowledge.maxPairs=3",
            "--cache-dir", tmp.Sub("cache"), "--out", tmp.Sub("report"));
        Assert.That(code, Is.EqualTo(0), stderr + stdout);
        var k = JsonNode.Parse(File.ReadAllText(tmp.Sub("report/results.json")))!["knowledge"]!["tulu_extracted"]!;
        Assert.That(k["labels"]!.AsArray().Select(l => l!.GetValue<string>()), Is.EqualTo(new[] { "knowledge", "other", "last" }));
        Assert.That(k["pairsTraced"]!.GetValue<int>(), Is.EqualTo(3));
        var raw = k["matrices"]![0]!["raw"]!.AsArray();
        Assert.That(raw, Has.Count.EqualTo(2));
        Assert.That(raw[0]!.AsArray(), Has.Count.EqualTo(3));
        Assert.That(double.IsFinite(k["comparisons"]![0]!["maxAbsDiffK"]!.GetValue<double>()), Is.True);
    }

    [Test]
    public void Trace_PresetPaper_Llama2Tokenizer_CuratesAsThePaperAndTraces()
    {
        using var tmp = new TempDir();
        foreach (var (name, seed) in new[] { ("base", 1), ("post", 2) })
        {
            PaperInputs.WriteTinyCheckpoint(tmp.Sub(name + "-hf"), "llama2", seed);
            OnnxInterp.Export.ModelExporter.Export(tmp.Sub(name + "-hf"), tmp.Sub(name));
        }
        var (code, stdout, stderr) = CliRunner.Run("trace", "--base", tmp.Sub("base"), "--post", tmp.Sub("post"), "--preset", "paper",
            "--dataset", PaperInputs.Dataset("cities.csv"), "--max-pairs", "2", "--out", tmp.Sub("trace"));
        Assert.That(code, Is.EqualTo(0), stderr + stdout);
        // The paper's Llama-2 pattern for cities: 3 subject tokens, 1 object token (patching_process_data.py lines 77-81).
        Assert.That(stdout, Does.Contain("cities: 208 pairs curated, 2 traced (3 subject, 1 object tokens)"));
        var k = JsonNode.Parse(File.ReadAllText(tmp.Sub("trace/results.json")))!["knowledge"]!["cities"]!;
        Assert.That(k["protocol"]!.GetValue<string>(), Is.EqualTo("paper"));
    }
}
