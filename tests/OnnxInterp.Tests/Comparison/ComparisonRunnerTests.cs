using System.Globalization;
using System.Text.Json.Nodes;
using OnnxInterp.Analysis.Knowledge;
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
public class ComparisonRunnerTests
{
    TempDir _tmp = null!;
    string _full = null!;
    ComparisonOutcome _reference = null!;

    internal static ComparisonConfig TinyConfig => new ComparisonConfig
    {
        Datasets = ["synthetic:cities", "synthetic:element_symb"],
    }.Set("knowledge.maxPairs=3").Set("knowledge.trueAnswer=TRUE").Set("knowledge.falseAnswer=FALSE");

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
        Assert.That((_reference.Ran, _reference.Resumed), Is.EqualTo((2, 0)));
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
            world.FewShot("element_symb"), new KnowledgeOptions { MaxPairs = 3, TrueAnswer = "TRUE", FalseAnswer = "FALSE" });
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
    public void Run_TinyCheckpoints_ReportHasEverySectionWithNumbersAndEveryFigure()
    {
        var md = File.ReadAllText(Path.Combine(_full, "report.md"));
        var results = ReadJson(Path.Combine(_full, "results.json"));
        foreach (var heading in new[] { "## Models", "## Summary", "## Configuration", "### cities", "### element_symb" })
            Assert.That(md, Does.Contain("\n" + heading + "\n"), heading);
        foreach (var step in ComparisonSteps.Select(TinyConfig))
            Assert.That(md, Does.Contain("\n## " + step.Title + "\n"));
        var summary = results["summary"]!.AsArray();
        Assert.That(summary, Has.Count.EqualTo(4), "map and transfer correlation per dataset");
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
        Assert.That(figures, Has.Count.EqualTo(2 * 5), "per dataset: 2 models, 2 transfers, 1 difference");
        foreach (var f in figures) Assert.That(File.Exists(Path.Combine(_full, f)), f);
        Assert.That(Directory.GetFiles(Path.Combine(_full, "figures")), Has.Length.EqualTo(figures.Count));
        Assert.That(File.Exists(Path.Combine(_full, "data", "knowledge.cities", "knowledge_cities.json")));

        var html = File.ReadAllText(Path.Combine(_full, "report.html"));
        Assert.That(CountOf(html, "src=\"data:image/png;base64,"), Is.EqualTo(figures.Count));
        Assert.That(html, Does.Not.Contain("src=\"figures/").And.Not.Contain("<script").And.Not.Contain("<link"));
        Assert.That(CountOf(html, "<table>"), Is.EqualTo(md.Split('\n').Count(l => l.StartsWith("| ---", StringComparison.Ordinal))), "every Markdown table became an HTML table");
    }

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
        Assert.That((rerun.Ran, rerun.Resumed), Is.EqualTo((1, 1)));
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
        Assert.That(Directory.GetFiles(journal).Select(Path.GetFileName), Is.EqualTo(new[] { "knowledge.cities.json" }), "the cancelled step left no entry");
        Assert.That(Directory.GetDirectories(journal).Select(Path.GetFileName), Is.EqualTo(new[] { "knowledge.cities" }), "and no partial files");

        var rerun = ComparisonRunner.Run(Request(outDir));
        Assert.That((rerun.Ran, rerun.Resumed), Is.EqualTo((1, 1)));
        AssertSameReport(outDir, _full);
    }

    [Test]
    public void Run_SameRequestAgain_ResumesEverythingAndChangedOptionRunsAgain()
    {
        var outDir = _tmp.Sub("again");
        CopyJournal(_full, outDir);
        var again = ComparisonRunner.Run(Request(outDir));
        Assert.That((again.Ran, again.Resumed), Is.EqualTo((0, 2)));
        AssertSameReport(outDir, _full);

        var fewer = TinyConfig.Set("knowledge.maxPairs=2") with { Datasets = ["synthetic:cities"] };
        var changed = ComparisonRunner.Run(Request(outDir, fewer));
        Assert.That((changed.Ran, changed.Resumed), Is.EqualTo((1, 0)), "a changed option changes the key");
        Assert.That(changed.Results["knowledge"]!["cities"]!["pairsTraced"]!.GetValue<int>(), Is.EqualTo(2));
        Assert.That(changed.Results["knowledge"]!.AsObject().Select(p => p.Key), Is.EqualTo(new[] { "cities" }), "results hold the configured datasets only");
        var added = ComparisonRunner.Run(Request(outDir, fewer with { Datasets = ["synthetic:cities", "synthetic:inventors"] }));
        Assert.That((added.Ran, added.Resumed), Is.EqualTo((1, 1)), "adding a dataset runs only that dataset");
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
