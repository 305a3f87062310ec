using System.Globalization;
using System.Text.Json.Nodes;
using OnnxInterp.Analysis.Confidence;
using OnnxInterp.Analysis.Knowledge;
using OnnxInterp.Analysis.Refusal;
using OnnxInterp.Analysis.Truth;
using OnnxInterp.Checkpoints;
using OnnxInterp.Comparison;
using OnnxInterp.Data;
using OnnxInterp.Runtime;
using OnnxInterp.Tests.Support;
using OnnxInterp.Tokenization;

namespace OnnxInterp.Tests.Comparison;

/// <summary>
/// The comparison end to end on two tiny random Hugging Face checkpoints (byte-level tokenizer, so the answers are
/// "TRUE"/"FALSE", whose first bytes differ): export on demand, journal, resume, report files.
/// </summary>
public partial class ComparisonRunnerTests
{
    TempDir _tmp = null!;
    string _full = null!;
    ComparisonOutcome _reference = null!;

    internal static ComparisonConfig TinyConfig => TinySettings.Aggregate(new ComparisonConfig
    {
        Datasets = ["synthetic:cities", "synthetic:element_symb"],
    }, (c, s) => c.Set(s));

    /// <summary>
    /// Small settings for every analysis on the tiny checkpoints (their byte-level tokenizer makes " TRUE" and " FALSE"
    /// start with the same token, so the answers drop the space). The refusal direction sits at the last block's input.
    /// </summary>
    internal static readonly string[] TinySettings =
    [
        "knowledge.maxPairs=3", "knowledge.trueAnswer=T", "knowledge.falseAnswer=F",
        "refusal.layer=-1", "refusal.position=-1", "refusal.maxTrain=8", "refusal.maxTest=3", "refusal.maxNewTokens=3",
        "entropy.maxStatements=4", "entropy.trueAnswer=T", "entropy.falseAnswer=F",
        "truth.maxStatementsPerDataset=12", "truth.maxInterventionStatements=2", "truth.trueAnswer=T", "truth.falseAnswer=F",
    ];

    internal static void WriteTinyPair(string root)
    {
        RandomCheckpoint.Write(Path.Combine(root, "base"), new RandomCheckpointSpec { Layers = 2, Seed = 1 });
        RandomCheckpoint.Write(Path.Combine(root, "post"), new RandomCheckpointSpec { Layers = 2, Seed = 2 });
    }

    ComparisonRequest Request(string outDir, ComparisonConfig? config = null) => new()
    {
        Models = [new ModelSpec("base", _tmp.Sub("base")), new ModelSpec("post", _tmp.Sub("post"))],
        OutputDirectory = outDir,
        Config = config ?? TinyConfig,
        CacheDirectory = _tmp.Sub("cache"),
    };

    [OneTimeSetUp]
    public void SetUp()
    {
        _tmp = new TempDir();
        WriteTinyPair(_tmp.Path);
        _full = _tmp.Sub("full");
        _reference = ComparisonRunner.Run(Request(_full));
    }

    [OneTimeTearDown]
    public void TearDown() => _tmp.Dispose();

    static JsonObject ReadJson(string path) => JsonNode.Parse(File.ReadAllText(path))!.AsObject();

    [Test]
    public void Run_TinyCheckpoints_ResultsJsonHasVersionsHashesConfigAndNumbers()
    {
        Assert.That((_reference.Ran, _reference.Resumed), Is.EqualTo((5, 0)), "knowledge per dataset, refusal, entropy, truth");
        var r = ReadJson(Path.Combine(_full, "results.json"));
        Assert.That(r["schema"]!.GetValue<string>(), Is.EqualTo(ComparisonRunner.ResultsSchema));
        Assert.That(r["tool"]!["onnxRuntime"]!.GetValue<string>(), Does.Match(@"^\d+\.\d+\.\d+"));
        Assert.That(r["tool"]!["version"]!.GetValue<string>(), Is.Not.Empty);
        // Model hashes against the checkpoint's own hash (config.json and safetensors bytes).
        foreach (var (m, i) in new[] { ("base", 0), ("post", 1) })
        {
            using var ckpt = HfCheckpoint.Open(_tmp.Sub(m));
            Assert.That(r["models"]![i]!["hash"]!.GetValue<string>(), Is.EqualTo("sha256:" + ckpt.ComputeHash()));
            Assert.That(r["models"]![i]!["format"]!.GetValue<string>(), Is.EqualTo("checkpoint"));
        }
        Assert.That(r["config"]!["knowledge"]!["maxPairs"]!.GetValue<int>(), Is.EqualTo(3));
        Assert.That(r["config"]!["knowledge"]!["transfer"]!.GetValue<bool>(), Is.True, "defaults are written out in full");
        Assert.That(r["config"]!["datasets"]!.AsArray().Select(d => d!.GetValue<string>()), Is.EqualTo(new[] { "synthetic:cities", "synthetic:element_symb" }));
        var rows = r["knowledge"]!["cities"]!["comparisons"]!.AsArray();
        Assert.That(rows.Select(c => (c!["a"]!.GetValue<string>(), c["b"]!.GetValue<string>())),
            Is.EqualTo(new[] { ("base", "post"), ("post", "base->post"), ("base", "post->base") }));
        Assert.That(rows.Select(c => c!["corr"]!.GetValue<double>()), Has.All.InRange(-1.0, 1.0));
        Assert.That(Directory.GetDirectories(_tmp.Sub("cache/exports")), Has.Length.EqualTo(2));
        Assert.That(Directory.GetDirectories(_tmp.Sub("cache/exports"), ".*"), Is.Empty, "no half-written exports");
    }

    [Test]
    public void Run_TinyCheckpoints_NumbersEqualTheAnalysisRunDirectly()
    {
        // The adapter must pass numbers through unchanged: rerun the analysis on the cached exports by hand.
        var world = SyntheticWorld.Generate(1, WorldSize.Family);
        using var b = ModelSession.Open(_reference.Models[0].Exported);
        using var p = ModelSession.Open(_reference.Models[1].Exported);
        var tokenizer = HfTokenizer.FromDirectory(_reference.Models[0].Exported);
        var direct = KnowledgeAnalysis.Run(world.ToDataset("element_symb"), tokenizer, [new KnowledgeModel("base", b), new KnowledgeModel("post", p)],
            world.FewShot("element_symb"), new KnowledgeOptions { MaxPairs = 3, TrueAnswer = "T", FalseAnswer = "F" });
        var r = ReadJson(Path.Combine(_full, "results.json"))["knowledge"]!["element_symb"]!;
        var rows = r["comparisons"]!.AsArray();
        for (int i = 0; i < direct.Comparisons.Count; i++)
        {
            Assert.That(rows[i]!["corr"]!.GetValue<double>(), Is.EqualTo(direct.Comparisons[i].Corr).Within(1e-12));
            Assert.That(rows[i]!["maxAbsDiff"]!.GetValue<double>(), Is.EqualTo(direct.Comparisons[i].MaxAbsDiff).Within(1e-12));
        }
        var raw = r["matrices"]![1]!["raw"]!.AsArray();
        Assert.That(raw[1]![0]!.GetValue<double>(), Is.EqualTo(direct.Matrices[1].Values[1, 0]).Within(1e-12));
        Assert.That(r["pairsTraced"]!.GetValue<int>(), Is.EqualTo(direct.Prompts.Count));
    }

    [Test]
    public void Run_TinyCheckpoints_RefusalAndEntropySectionsEqualTheAnalysesRunDirectly()
    {
        using var b = ModelSession.Open(_reference.Models[0].Exported);
        using var p = ModelSession.Open(_reference.Models[1].Exported);
        var r = ReadJson(Path.Combine(_full, "results.json"));

        // Refusal: the step resolves layer -1 to the last block (1 of 2) and prompts each model in its template (plain here).
        var refusal = RefusalAnalysis.Run([RefusalModel.FromSession("base", b, "plain"), RefusalModel.FromSession("post", p, "plain")],
            InstructionSet.Synthetic(1), new RefusalOptions { Layer = 1, Position = -1, MaxTrain = 8, MaxTest = 3, MaxNewTokens = 3 });
        var section = r["refusal"]!;
        Assert.That(section["directions"]!.AsArray().Select(d => (d!["model"]!.GetValue<string>(), d["layer"]!.GetValue<int>(), d["position"]!.GetValue<int>(), d["selected"]!.GetValue<bool>())),
            Is.EqualTo(new[] { ("base", 1, -1, false), ("post", 1, -1, false) }));
        Assert.That(section["split"]!["test"]!["harmful"]!.GetValue<int>(), Is.EqualTo(3));
        foreach (var row in refusal.Table())
        {
            var score = section["scores"]!.AsArray().Single(x => x!["model"]!.GetValue<string>() == row.Model)!;
            Assert.That(score["harmful"]!.GetValue<double>(), Is.EqualTo(row.HarmfulBaseline).Within(1e-12));
            Assert.That(score["harmless"]!.GetValue<double>(), Is.EqualTo(row.HarmlessBaseline).Within(1e-12));
            foreach (var d in refusal.Models)
            {
                var effect = section["effects"]!.AsArray().Single(x => x!["model"]!.GetValue<string>() == row.Model && x["direction"]!.GetValue<string>() == d)!;
                Assert.That(effect["ablated"]!.GetValue<double>(), Is.EqualTo(row.HarmfulAblated[d]).Within(1e-12));
                Assert.That(effect["added"]!.GetValue<double>(), Is.EqualTo(row.HarmlessAdded[d]).Within(1e-12));
                Assert.That(effect["ablationDrop"]!.GetValue<double>(), Is.EqualTo(row.HarmfulBaseline - row.HarmfulAblated[d]).Within(1e-12));
                Assert.That(effect["additionRise"]!.GetValue<double>(), Is.EqualTo(row.HarmlessAdded[d] - row.HarmlessBaseline).Within(1e-12));
            }
        }
        var cosine = section["cosines"]!.AsArray().Single()!;
        Assert.That((cosine["a"]!.GetValue<string>(), cosine["b"]!.GetValue<string>()), Is.EqualTo(("base", "post")));
        Assert.That(cosine["cosine"]!.GetValue<double>(), Is.EqualTo(refusal.Cosines[0][1]).Within(1e-12));
        Assert.That(File.Exists(Path.Combine(_full, "data", "refusal", "refusal.json")));

        // Entropy: the weights of the exports, the first dataset's held-out statements.
        var world = SyntheticWorld.Generate(1, WorldSize.Family);
        var data = new ConfidenceData(world.ToDataset("cities", heldOutOnly: true), world.FewShot("cities"), HfTokenizer.FromDirectory(_reference.Models[0].Exported));
        var confidence = ConfidenceAnalysis.Run(
            [new ConfidenceModel("base", LastLayerWeights.Read(_reference.Models[0].Exported), b), new ConfidenceModel("post", LastLayerWeights.Read(_reference.Models[1].Exported), p)],
            data, new ConfidenceOptions { MaxStatements = 4, TrueAnswer = "T", FalseAnswer = "F" });
        var entropy = r["entropy"]!;
        Assert.That((entropy["dataset"]!.GetValue<string>(), entropy["statements"]!.GetValue<int>()), Is.EqualTo(("cities", 4)));
        for (int m = 0; m < 2; m++)
            Assert.That(entropy["models"]![m]!["entropyNeurons"]!.AsArray().Select(n => n!["index"]!.GetValue<int>()), Is.EqualTo(confidence.Models[m].Indices));
        var overlap = entropy["overlaps"]!.AsArray().Single()!;
        Assert.That(overlap["overlap"]!.GetValue<int>(), Is.EqualTo(confidence.Overlaps[0].Overlap));
        Assert.That(overlap["iou"]!.GetValue<double>(), Is.EqualTo(confidence.Overlaps[0].Iou).Within(1e-12));
        for (int m = 0; m < 2; m++)
        {
            var a = entropy["ablations"]![m]!;
            var direct = confidence.Ablations![m];
            Assert.That(a["model"]!.GetValue<string>(), Is.EqualTo(direct.Model));
            Assert.That(a["ece"]!.GetValue<double>(), Is.EqualTo(direct.Calibration.Ece).Within(1e-12));
            Assert.That(a["cleanEntropy"]!.GetValue<double>(), Is.EqualTo(direct.CleanEntropy).Within(1e-12));
            Assert.That(a["allAblated"]!["entropyChange"]!.GetValue<double>(), Is.EqualTo(direct.Rows[^1].EntropyChange).Within(1e-12));
            Assert.That(a["neurons"]!.AsArray().Select(n => n!["neuron"]!.GetValue<int>()), Is.EqualTo(confidence.Models[m].Indices));
        }
    }

    [Test]
    public void Run_TinyCheckpoints_TruthSectionEqualsTheAnalysisRunDirectly()
    {
        using var b = ModelSession.Open(_reference.Models[0].Exported);
        using var p = ModelSession.Open(_reference.Models[1].Exported);
        var world = SyntheticWorld.Generate(1, WorldSize.Family);
        var datasets = new[] { "cities", "element_symb" }.Select(n => new TruthDataset(world.ToDataset(n), world.FewShot(n))).ToList();
        var direct = TruthAnalysis.Run(datasets, HfTokenizer.FromDirectory(_reference.Models[0].Exported), [new TruthModel("base", b), new TruthModel("post", p)],
            new TruthOptions { MaxStatementsPerDataset = 12, MaxInterventionStatements = 2, TrueAnswer = "T", FalseAnswer = "F" });
        var t = ReadJson(Path.Combine(_full, "results.json"))["truth"]!;

        Assert.That((t["reading"]!.GetValue<string>(), t["evaluation"]!.GetValue<string>(), t["probeLayer"]!.GetValue<int>()),
            Is.EqualTo(("Statement", "leave-one-dataset-out", direct.ProbeLayer)));
        Assert.That(t["datasets"]!.AsArray().Select(d => (d!["dataset"]!.GetValue<string>(), d["statements"]!.GetValue<int>())),
            Is.EqualTo(new[] { ("cities", 12), ("element_symb", 12) }));
        foreach (var probes in direct.Probes)
        {
            var row = t["probes"]!.AsArray().Single(x => x!["model"]!.GetValue<string>() == probes.Model)!;
            Assert.That(row["bestLayer"]!.GetValue<int>(), Is.EqualTo(probes.BestLayer));
            Assert.That(row["bestAccuracy"]!.GetValue<double>(), Is.EqualTo(probes.Layers.Max(l => l.MassMean)).Within(1e-12));
            Assert.That(row["accuracy"]!.GetValue<double>(), Is.EqualTo(probes.At(direct.ProbeLayer).MassMean).Within(1e-12));
            Assert.That(row["layers"]!.AsArray().Select(l => l!["logistic"]!.GetValue<double>()), Is.EqualTo(probes.Layers.Select(l => l.Logistic!.Value)).Within(1e-12));
        }
        var cosine = t["cosines"]!.AsArray().Single()!;
        Assert.That(cosine["cosine"]!.GetValue<double>(), Is.EqualTo(direct.Cosines.Single(c => c.Layer == direct.ProbeLayer).Matrix[0][1]).Within(1e-12));
        // Table 2: one row per held-out dataset, then their mean (a hand average).
        var transfer = t["transfer"]!.AsArray();
        Assert.That(transfer.Select(x => $"{x!["model"]} {x["dataset"]}"), Is.EqualTo(new[] { "post cities", "post element_symb", "post mean" }));
        double sum = 0;
        foreach (var row in direct.Transfer)
        {
            var x = transfer.Single(r => r!["dataset"]!.GetValue<string>() == row.Dataset)!;
            Assert.That(x["own"]!.GetValue<double>(), Is.EqualTo(row.Own).Within(1e-12));
            Assert.That(x["difference"]!.GetValue<double>(), Is.EqualTo(row.BaseProbe - row.Own).Within(1e-12));
            sum += row.BaseProbe - row.Own;
        }
        Assert.That(MetricPath.Parse("truth.transfer[model=post,dataset=mean].difference").Resolve(ReadJson(Path.Combine(_full, "results.json")), out _).Single().Value!.GetValue<double>(),
            Is.EqualTo(sum / 2).Within(1e-12));
        // Table 3: every (direction, model) cell; own = the diagonal's mean IE, cross = the rest.
        var iv = t["intervention"]!;
        Assert.That((iv["dataset"]!.GetValue<string>(), iv["trueStatements"]!.GetValue<int>(), iv["falseStatements"]!.GetValue<int>()), Is.EqualTo(("cities", 2, 2)));
        var effects = direct.Intervention!.Effects;
        Assert.That(iv["effects"]!.AsArray().Select(e => e!["meanEffect"]!.GetValue<double>()), Is.EqualTo(effects.Select(e => e.MeanEffect)).Within(1e-12));
        Assert.That(iv["ownMeanEffect"]!.GetValue<double>(), Is.EqualTo((effects[0].MeanEffect + effects[3].MeanEffect) / 2).Within(1e-12));
        Assert.That(iv["crossMeanEffect"]!.GetValue<double>(), Is.EqualTo((effects[1].MeanEffect + effects[2].MeanEffect) / 2).Within(1e-12));
        Assert.That(File.Exists(Path.Combine(_full, "data", "truth", "truth.json")));
    }

    [Test]
    public void Run_TinyCheckpoints_ReportHasEverySectionWithNumbersAndEveryFigure()
    {
        var md = File.ReadAllText(Path.Combine(_full, "report.md"));
        var results = ReadJson(Path.Combine(_full, "results.json"));
        foreach (var heading in new[] { "## Models", "## Summary", "## Configuration", "### cities", "### element_symb" })
            Assert.That(md, Does.Contain("\n" + heading + "\n"), heading);
        foreach (var step in ComparisonSteps.Select(TinyConfig))
            Assert.That(md, Does.Contain("\n## " + step.Title + "\n"));
        var summary = results["summary"]!.AsArray();
        Assert.That(summary, Has.Count.EqualTo(4 + 7 + 5 + 6),
            "knowledge: map and transfer correlation per dataset; refusal: 3 per model and a cosine; entropy: an IoU, 2 ECEs and 2 counts of selected neurons with the signature; " +
            "truth: 2 accuracies, a cosine, a transfer difference, own and cross IE");
        foreach (var s in summary)
        {
            var line = $"| {s!["label"]} | {ComparisonReport.Number(s["value"]!.GetValue<double>())} |";
            Assert.That(md, Does.Contain(line));
            // The summary's path leads back to the same number.
            var found = MetricPath.Parse(s["metric"]!.GetValue<string>()).Resolve(results, out _);
            Assert.That(found.Single().Value!.GetValue<double>(), Is.EqualTo(s["value"]!.GetValue<double>()));
        }
        var corr = results["knowledge"]!["cities"]!["comparisons"]![0]!["corr"]!.GetValue<double>();
        Assert.That(md, Does.Contain($"| base | post | {corr.ToString("0.000", CultureInfo.InvariantCulture)} |"));

        var figures = results["steps"]!.AsArray().SelectMany(s => s!["figures"]!.AsArray().Select(f => f!.GetValue<string>())).ToList();
        Assert.That(figures, Has.Count.EqualTo(2 * 5 + 2 + 2), "knowledge per dataset: 2 models, 2 transfers, 1 difference; entropy and truth: 1 per model");
        Assert.That(figures.Count(f => f.StartsWith("figures/entropy_", StringComparison.Ordinal)), Is.EqualTo(2));
        Assert.That(figures.Where(f => f.StartsWith("figures/truth_", StringComparison.Ordinal)), Is.EquivalentTo(new[] { "figures/truth_probe_accuracy_base.png", "figures/truth_probe_accuracy_post.png" }));
        foreach (var f in figures) Assert.That(File.Exists(Path.Combine(_full, f)), f);
        Assert.That(Directory.GetFiles(Path.Combine(_full, "figures")), Has.Length.EqualTo(figures.Count));
        Assert.That(File.Exists(Path.Combine(_full, "data", "knowledge.cities", "knowledge_cities.json")));

        var html = File.ReadAllText(Path.Combine(_full, "report.html"));
        Assert.That(CountOf(html, "src=\"data:image/png;base64,"), Is.EqualTo(figures.Count));
        Assert.That(html, Does.Not.Contain("src=\"figures/").And.Not.Contain("<script").And.Not.Contain("<link"));
        Assert.That(CountOf(html, "<table>"), Is.EqualTo(md.Split('\n').Count(l => TableRule().IsMatch(l))), "every Markdown table became an HTML table");
    }

    [System.Text.RegularExpressions.GeneratedRegex(@"^\|\s*:?-{3,}")]
    private static partial System.Text.RegularExpressions.Regex TableRule();

    static int CountOf(string s, string what)
    {
        int n = 0;
        for (int i = s.IndexOf(what, StringComparison.Ordinal); i >= 0; i = s.IndexOf(what, i + what.Length, StringComparison.Ordinal)) n++;
        return n;
    }

    [Test]
    public void ReportHtml_HeadlessChromium_RendersWithoutConsoleErrors()
    {
        var page = HeadlessChromium.Load(new Uri(Path.Combine(_full, "report.html")).AbsoluteUri);
        Assert.That(page.ConsoleErrors, Is.Empty);
        Assert.That(page.Screenshot.AsSpan(0, 8).ToArray(), Is.EqualTo(new byte[] { 137, 80, 78, 71, 13, 10, 26, 10 }), "a PNG screenshot");
        Assert.That(page.ContentHeight, Is.GreaterThan(2000), "the whole report laid out, figures included");
        File.WriteAllBytes(_tmp.Sub("report-screenshot.png"), page.Screenshot);
    }

    [Test]
    public void HeadlessChromium_BrokenPage_ReportsConsoleErrors()
    {
        // The check above must be able to fail: a missing image and a console.error are both caught.
        var page = _tmp.Sub("broken.html");
        File.WriteAllText(page, "<!DOCTYPE html><html><body><img src=\"figures/missing.png\"><script>console.error('boom')</script></body></html>");
        var load = HeadlessChromium.Load(new Uri(page).AbsoluteUri);
        Assert.That(load.ConsoleErrors, Has.Some.Contains("boom"));
        Assert.That(load.ConsoleErrors, Has.Some.Contains("missing.png"));
    }

    [Test]
    public void Run_InterruptedAfterFirstStep_RerunResumesAndEqualsUninterrupted()
    {
        var outDir = _tmp.Sub("interrupted");
        using var cts = new CancellationTokenSource();
        var cancelAfterFirst = new SyncProgress<ComparisonProgress>(p => { if (p.Status == StepStatus.Finished) cts.Cancel(); });
        Assert.Throws<OperationCanceledException>(() => ComparisonRunner.Run(Request(outDir), cancelAfterFirst, cancellation: cts.Token));
        Assert.That(File.Exists(Path.Combine(outDir, ".journal", "knowledge.cities.json")));
        Assert.That(File.Exists(Path.Combine(outDir, ".journal", "knowledge.element_symb.json")), Is.False);
        Assert.That(File.Exists(Path.Combine(outDir, "results.json")), Is.False);
        Assert.That(ReadJson(Path.Combine(outDir, "run.json"))["status"]!.GetValue<string>(), Is.EqualTo("interrupted"));

        var rerun = ComparisonRunner.Run(Request(outDir));
        Assert.That((rerun.Ran, rerun.Resumed), Is.EqualTo((4, 1)));
        AssertSameReport(outDir, _full);
    }

    [TestCase("refusal")]
    [TestCase("entropy")]
    [TestCase("truth")]
    public void Run_CancelledInsideRefusalEntropyOrTruth_RerunEqualsUninterrupted(string analysis)
    {
        var outDir = _tmp.Sub("mid-" + analysis);
        CopyJournal(_full, outDir, except: analysis);
        using var cts = new CancellationTokenSource();
        var cancelMidway = new SyncProgress<ComparisonProgress>(p => { if (p.Status == StepStatus.Running && p.Fraction > 0.1) cts.Cancel(); });
        Assert.Throws<OperationCanceledException>(() => ComparisonRunner.Run(Request(outDir), cancelMidway, cancellation: cts.Token));
        Assert.That(File.Exists(Path.Combine(outDir, ".journal", analysis + ".json")), Is.False, "the cancelled step left no entry");
        Assert.That(Directory.GetDirectories(Path.Combine(outDir, ".journal")).Select(Path.GetFileName), Does.Not.Contain(analysis));

        var rerun = ComparisonRunner.Run(Request(outDir));
        Assert.That((rerun.Ran, rerun.Resumed), Is.EqualTo((1, 4)));
        AssertSameReport(outDir, _full);
    }

    [Test]
    public void Run_CancelledInsideAStep_LeavesNoPartialEntryAndRerunEqualsUninterrupted()
    {
        // Start from the reference's journal without its last step, and cancel that step a third of the way in.
        var outDir = _tmp.Sub("mid-step");
        CopyJournal(_full, outDir, except: "knowledge.element_symb");
        using var cts = new CancellationTokenSource();
        var cancelMidway = new SyncProgress<ComparisonProgress>(p => { if (p.Status == StepStatus.Running && p.Fraction > 0.3) cts.Cancel(); });
        Assert.Throws<OperationCanceledException>(() => ComparisonRunner.Run(Request(outDir), cancelMidway, cancellation: cts.Token));
        var journal = Path.Combine(outDir, ".journal");
        Assert.That(Directory.GetFiles(journal).Select(Path.GetFileName), Is.EquivalentTo(new[] { "knowledge.cities.json", "refusal.json", "entropy.json", "truth.json" }), "the cancelled step left no entry");
        Assert.That(Directory.GetDirectories(journal).Select(Path.GetFileName), Is.EquivalentTo(new[] { "knowledge.cities", "refusal", "entropy", "truth" }), "and no partial files");

        var rerun = ComparisonRunner.Run(Request(outDir));
        Assert.That((rerun.Ran, rerun.Resumed), Is.EqualTo((1, 4)));
        AssertSameReport(outDir, _full);
    }

    [Test]
    public void Run_SameRequestAgain_ResumesEverythingAndChangedOptionRunsAgain()
    {
        var outDir = _tmp.Sub("again");
        CopyJournal(_full, outDir);
        var again = ComparisonRunner.Run(Request(outDir));
        Assert.That((again.Ran, again.Resumed), Is.EqualTo((0, 5)));
        AssertSameReport(outDir, _full);

        var fewer = TinyConfig.Set("knowledge.maxPairs=2") with { Datasets = ["synthetic:cities"] };
        var changed = ComparisonRunner.Run(Request(outDir, fewer));
        Assert.That((changed.Ran, changed.Resumed), Is.EqualTo((2, 2)), "a changed option changes the key of its analysis only (entropy still reads cities); truth reads every dataset");
        Assert.That(changed.Results["knowledge"]!["cities"]!["pairsTraced"]!.GetValue<int>(), Is.EqualTo(2));
        Assert.That(changed.Results["knowledge"]!.AsObject().Select(p => p.Key), Is.EqualTo(new[] { "cities" }), "results hold the configured datasets only");
        var added = ComparisonRunner.Run(Request(outDir, fewer with { Datasets = ["synthetic:cities", "synthetic:inventors"] }));
        Assert.That((added.Ran, added.Resumed), Is.EqualTo((2, 3)), "adding a dataset runs only that dataset (and truth, which pools them)");
        var instructions = _tmp.Sub("instructions.json");
        File.WriteAllText(instructions, """{"harmful": ["Rob a bank.", "Poison him.", "Burn it.", "Steal it."], "harmless": ["Bake bread.", "Sing a song.", "Plant a tree.", "Name a cat."]}""");
        var own = ComparisonRunner.Run(Request(outDir, fewer.Set($"refusal.instructions={instructions}")));
        Assert.That((own.Ran, own.Resumed), Is.EqualTo((2, 2)), "another instruction set reruns refusal (and truth, back to one dataset)");
        Assert.That(ReadJson(Path.Combine(outDir, "run.json"))["steps"]!.AsArray().Where(x => x!["status"]!.GetValue<string>() == "ran").Select(x => x!["step"]!.GetValue<string>()),
            Is.EquivalentTo(new[] { "refusal", "truth" }));
        Assert.That(own.Results["refusal"]!["split"]!["test"]!["harmful"]!.GetValue<int>(), Is.EqualTo(1));
        File.AppendAllText(instructions, " ");
        Assert.That(ComparisonRunner.Run(Request(outDir, fewer.Set($"refusal.instructions={instructions}"))).Ran, Is.EqualTo(1), "the key covers the file's content");
    }

    static void CopyJournal(string from, string to, string? except = null)
    {
        var src = Path.Combine(from, ".journal");
        foreach (var file in Directory.GetFiles(src, "*", SearchOption.AllDirectories))
        {
            var rel = Path.GetRelativePath(src, file);
            if (except is not null && rel.StartsWith(except, StringComparison.Ordinal)) continue;
            var target = Path.Combine(to, ".journal", rel);
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target);
        }
    }

    static void AssertSameReport(string a, string b)
    {
        Assert.That(File.ReadAllBytes(Path.Combine(a, "results.json")), Is.EqualTo(File.ReadAllBytes(Path.Combine(b, "results.json"))), "results.json");
        Assert.That(File.ReadAllText(Path.Combine(a, "report.md")), Is.EqualTo(File.ReadAllText(Path.Combine(b, "report.md"))), "report.md");
        var figures = Directory.GetFiles(Path.Combine(b, "figures")).Select(Path.GetFileName);
        Assert.That(Directory.GetFiles(Path.Combine(a, "figures")).Select(Path.GetFileName), Is.EquivalentTo(figures));
    }

    [Test]
    public void Run_RefusalLayerBeyondTheModels_NamesTheOptionAndKeepsNoEntry()
    {
        var outDir = _tmp.Sub("deep-layer");
        var config = TinyConfig.Set("refusal.layer=-3") with { Analyses = ["refusal"] };
        var e = Assert.Throws<InvalidArgumentException>(() => ComparisonRunner.Run(Request(outDir, config)));
        Assert.That((e!.Field, e.Value), Is.EqualTo(("refusal.layer", "-3")));
        Assert.That(e.Message, Does.Contain("2 layers"));
        Assert.That(Directory.GetFileSystemEntries(Path.Combine(outDir, ".journal")), Is.Empty);
    }

    [Test]
    public void Run_IntoAFolderOfOtherFiles_RefusesWithoutWriting()
    {
        var dir = _tmp.Sub("not-a-report");
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "notes.txt"), "mine");
        var e = Assert.Throws<InvalidArgumentException>(() => ComparisonRunner.Run(Request(dir)));
        Assert.That(e!.Field, Is.EqualTo("out"));
        Assert.That(Directory.GetFileSystemEntries(dir), Has.Length.EqualTo(1));
    }

    [Test]
    public void Run_UnknownAnalysisOrDataset_FailsBeforeExporting()
    {
        var cache = _tmp.Sub("cache-untouched");
        var request = Request(_tmp.Sub("bad")) with { CacheDirectory = cache };
        var e1 = Assert.Throws<InvalidArgumentException>(() => ComparisonRunner.Run(request with { Config = TinyConfig with { Analyses = ["knowledge", "astrology"] } }));
        Assert.That((e1!.Field, e1.Value), Is.EqualTo(("analyses", "astrology")));
        var e2 = Assert.Throws<InvalidArgumentException>(() => ComparisonRunner.Run(request with { Config = TinyConfig with { Datasets = ["synthetic:planets"] } }));
        Assert.That(e2!.Message, Does.Contain("synthetic:cities"));
        Assert.That(Directory.Exists(cache), Is.False);
    }
}
