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
    public void Compare_PresetPaper_TracesEveryTracedDatasetOfThePaper(string tokenizer, int vocab)
    {
        using var tmp = new TempDir();
        foreach (var (name, seed) in new[] { ("base", 1), ("instruct", 2) })
            PaperInputs.WriteTinyCheckpoint(tmp.Sub(name), tokenizer, seed);
        string datasets = string.Join(",", s_datasets.Select(d => PaperInputs.Dataset(d + ".csv")));
        var (code, stdout, stderr) = CliRunner.Run("compare", "--base", tmp.Sub("base"), "--post", tmp.Sub("instruct"), "--preset", "paper",
            "--datasets", datasets, "--only", "knowledge", "--set", "knowledge.maxPairs=3", "--cache-dir", tmp.Sub("cache"), "--out", tmp.Sub("report"));
        Assert.That(code, Is.EqualTo(0), stderr + stdout);

        var results = JsonNode.Parse(File.ReadAllText(tmp.Sub("report/results.json")))!;
        Assert.That(results["config"]!["preset"]!.GetValue<string>(), Is.EqualTo("paper"));
        Assert.That(results["config"]!["knowledge"]!["protocol"]!.GetValue<string>(), Is.EqualTo("Paper"));
        Assert.That(results["models"]![0]!["vocabSize"]?.GetValue<int>() ?? vocab, Is.EqualTo(vocab));
        foreach (var d in s_datasets)
        {
            var k = results["knowledge"]![d]!;
            Assert.That(k["protocol"]!.GetValue<string>(), Is.EqualTo("paper"), d);
            Assert.That(k["pairsCurated"]!.GetValue<int>(), Is.GreaterThan(10), d);
            Assert.That(k["pairsTraced"]!.GetValue<int>(), Is.InRange(1, 3), d);
            var labels = k["labels"]!.AsArray().Select(l => l!.GetValue<string>()).ToList();
            Assert.That(labels.TakeLast(4), Is.EqualTo(new[] { "This", "statement", "is", ":" }), d);
            Assert.That(labels.Count(l => l.StartsWith('s') && l.Length <= 2 && char.IsDigit(l[^1])), Is.GreaterThan(0), d);
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
