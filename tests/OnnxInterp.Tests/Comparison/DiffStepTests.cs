using System.Text.Json;
using System.Text.Json.Nodes;
using nietras.SeparatedValues;
using OnnxInterp.Analysis.Diff;
using OnnxInterp.Cli;
using OnnxInterp.Comparison;
using OnnxInterp.Reports;
using OnnxInterp.Tests.Support;

namespace OnnxInterp.Tests.Comparison;

/// <summary>
/// The diff as a user runs it: the `diff` verb on a tiny random pair (its section in results.json, the report with highlighted
/// text and figures, resume), its corpus options, and that `compare` runs it only when named.
/// </summary>
public class DiffStepTests
{
    TempDir _tmp = null!;
    string _dir = null!;
    (int Code, string Out, string Err) _run;

    static readonly string[] Small = ["--max-instructions", "2", "--max-judging", "2", "--steer-prompts", "1", "--steer-tokens", "2"];

    string[] Diff(string outDir, params string[] more) =>
        ["diff", "--base", _tmp.Sub("base"), "--post", _tmp.Sub("post"), "--out", outDir, "--cache-dir", _tmp.Sub("cache"), .. Small, .. more];

    [OneTimeSetUp]
    public void SetUp()
    {
        _tmp = new TempDir();
        ComparisonRunnerTests.WriteTinyPair(_tmp.Path);
        _dir = _tmp.Sub("diff");
        _run = CliRunner.Run(Diff(_dir, "--directions", "2"));
    }

    [OneTimeTearDown]
    public void TearDown() => _tmp.Dispose();

    static JsonObject Read(string path) => JsonNode.Parse(File.ReadAllText(path))!.AsObject();

    [Test]
    public void Verb_TinyPair_SectionReportFiguresAndResume()
    {
        Assert.That(_run.Code, Is.EqualTo(ExitCodes.Ok), _run.Err);
        Assert.That(_run.Out, Does.Contain("corpus: 2 harmful and 2 harmless instructions (the synthetic world's); 2 few-shot judging prompts on cities (held-out statements)")
            .And.Contain("base → post (plain template, 6 prompts, ").And.Contain("  harmful: all KL ").And.Contain("  lens: predictions form at layer ")
            .And.Contain("  direction 1 at layer 0 (").And.Contain("    + direction 2: '"));

        var resultsText = File.ReadAllText(Path.Combine(_dir, "results.json"));
        var results = JsonNode.Parse(resultsText)!.AsObject();
        Assert.That(results["config"]!["analyses"]!.AsArray().Select(a => a!.GetValue<string>()), Is.EqualTo(new[] { "diff" }));
        var section = results["diff"]!.Deserialize<DiffSection>(ResultsJson.Strict)!;
        var pair = section.Pairs.Single();
        Assert.That((pair.Base, pair.Post, pair.Template, pair.Prompts), Is.EqualTo(("base", "post", "plain", 6)));
        Assert.That(section.Sources.Select(s => (s.Source, s.Prompts)), Is.EqualTo(new[] { ("harmful", 2), ("harmless", 2), ("judging", 2) }));
        Assert.That(pair.Layers.Select(l => l.Layer), Is.EqualTo(new[] { 0, 1 }));
        Assert.That(pair.TopTokens, Has.Count.EqualTo(20));
        Assert.That(pair.TopTokens.Select(t => t.Kl), Is.Ordered.Descending);
        Assert.That(pair.Directions.Select(d => d.Index), Is.EqualTo(new[] { 1, 2 }));
        Assert.That(pair.Steering.Single().Steered, Has.Count.EqualTo(2));
        Assert.That(results["diff"]!.ToJsonString(ResultsJson.Strict), Is.EqualTo(DiffStep.WriteSection(section).ToJsonString(ResultsJson.Strict)), "the section reads back into its record");

        // Headline numbers lead back to the section (an audit rule can name them).
        var summary = results["summary"]!.AsArray();
        Assert.That(summary.Select(s => s!["label"]!.GetValue<string>()), Does.Contain("mean KL(post ‖ base) per token, template tokens"));
        foreach (var s in summary)
            Assert.That(MetricPath.Parse(s!["metric"]!.GetValue<string>()).Resolve(results, out _).Single().Value!.GetValue<double>(), Is.EqualTo(s["value"]!.GetValue<double>()));

        var md = File.ReadAllText(Path.Combine(_dir, "report.md"));
        Assert.That(md, Does.Contain("\n## Where post-training acts (per-token divergence, logit lens, activation differences)\n").And.Contain("\n### base → post\n")
            .And.Contain("#### Highlighted prompts").And.Contain("#### The activation-difference lens (resid_post of layer 0)"));
        foreach (var f in new[] { "diff-post-divergence.png", "diff-post-activations.png", "diff-post-lens-base.png", "diff-post-lens-post.png" })
        {
            Assert.That(File.Exists(Path.Combine(_dir, "figures", f)), f);
            Assert.That(md, Does.Contain($"(figures/{f})"));
        }
        var html = File.ReadAllText(Path.Combine(_dir, "report.html"));
        Assert.That(html, Does.Contain("<span style=\"background: rgba(220, 38, 38, ").And.Contain(" title=\"KL "), "highlighted text reaches the page as HTML");
        using (var csv = Sep.Reader(o => o with { Unescape = true }).FromFile(Path.Combine(_dir, "data", "diff", "tokens-post.csv")))
        {
            var rows = csv.Enumerate(r => (Token: r["token"].ToString(), Kl: r["kl"].Parse<double>())).ToList();
            Assert.That(rows, Has.Count.EqualTo(pair.Tokens), "one row per token (a token holding a newline is quoted)");
            Assert.That(rows.Max(r => r.Kl), Is.EqualTo(pair.TopTokens[0].Kl).Within(1e-6));
        }
        Assert.That(File.ReadAllLines(Path.Combine(_dir, "data", "diff", "layers-post.csv")), Has.Length.EqualTo(3));
        var directions = Read(Path.Combine(_dir, "data", "diff", "directions-post.json"));
        Assert.That(directions["directions"]![0]!["vector"]!.AsArray(), Has.Count.EqualTo(64));

        var again = CliRunner.Run(Diff(_dir, "--directions", "2"));
        Assert.That(again.Code, Is.EqualTo(ExitCodes.Ok), again.Err);
        Assert.That(again.Err + again.Out, Does.Contain("(0 steps run, 1 resumed from the journal)"));
        Assert.That(File.ReadAllText(Path.Combine(_dir, "results.json")), Is.EqualTo(resultsText), "a resumed run writes the same results.json");

        // The page with its inline HTML opens cleanly.
        HeadlessChromium.Require();
        Assert.That(HeadlessChromium.Load(new Uri(Path.Combine(_dir, "report.html")).AbsoluteUri).ConsoleErrors, Is.Empty);
    }

    [Test]
    public void Verb_TextFileOnly_ItsLinesArePlainContent_AndEditingTheFileRunsAgain()
    {
        var text = _tmp.Sub("lines.txt");
        File.WriteAllText(text, "The city of Paris is in France.\nA cat is a mammal.\n");
        var dir = _tmp.Sub("text");
        string[] args = [.. Diff(dir, "--instructions", "none", "--no-judging", "--text", text, "--no-cross-lens", "--directions", "0")];
        var run = CliRunner.Run(args);
        Assert.That(run.Code, Is.EqualTo(ExitCodes.Ok), run.Err);
        var section = Read(Path.Combine(dir, "results.json"))["diff"]!.Deserialize<DiffSection>(ResultsJson.Strict)!;
        Assert.That(section.Corpus, Is.EqualTo("2 lines of lines.txt"));
        var pair = section.Pairs.Single();
        Assert.That(pair.Totals.Select(t => (t.Source, t.TokenClass)), Is.EqualTo(new[]
            { ("all", "all"), ("all", "template"), ("all", "content"), ("all", "last"), ("text", "all"), ("text", "template"), ("text", "content"), ("text", "last") }));
        Assert.That(pair.Totals.Single(t => t.Source == "all" && t.TokenClass == "template").Tokens, Is.EqualTo(2), "BOS of each line");
        Assert.That(pair.Layers.All(l => l.PostThroughBaseHead is null && l.BaseLens is not null));
        Assert.That(pair.Directions, Is.Empty);
        Assert.That(pair.Steering, Is.Empty);

        File.AppendAllText(text, "Rome is in Italy.\n");
        var edited = CliRunner.Run(args);
        Assert.That(edited.Code, Is.EqualTo(ExitCodes.Ok), edited.Err);
        Assert.That(edited.Err + edited.Out, Does.Contain("(1 step run, 0 resumed from the journal)"), "the journal key covers the text file's content");
        Assert.That(Read(Path.Combine(dir, "results.json"))["diff"]!["corpus"]!.GetValue<string>(), Is.EqualTo("3 lines of lines.txt"));
    }

    [Test]
    public void Verb_BadOptions_ExitTwoNamingTheOption()
    {
        var template = CliRunner.Run(Diff(_tmp.Sub("bad1"), "--render-in", "nope"));
        Assert.That(template.Code, Is.EqualTo(ExitCodes.InvalidInput));
        Assert.That(template.Err, Does.Contain("diff.template").And.Contain("qwen2"));
        var missing = CliRunner.Run(Diff(_tmp.Sub("bad2"), "--instructions", _tmp.Sub("none.csv")));
        Assert.That(missing.Code, Is.EqualTo(ExitCodes.InvalidInput));
        Assert.That(missing.Err, Does.Contain("diff.instructions"));
        var empty = CliRunner.Run(Diff(_tmp.Sub("bad3"), "--instructions", "none", "--no-judging"));
        Assert.That(empty.Code, Is.EqualTo(ExitCodes.InvalidInput));
        Assert.That(empty.Err, Does.Contain("the corpus is empty"));
        Assert.That(Directory.Exists(_tmp.Sub("bad1")) || Directory.Exists(_tmp.Sub("bad3")), Is.False, "nothing is written before the options are checked");
    }

    [Test]
    public void DefaultSet_CompareAndDemoLeaveDiffOut_NamingItRunsIt()
    {
        Assert.That(ComparisonSteps.Names, Does.Contain("diff"));
        Assert.That(ComparisonSteps.Select(new ComparisonConfig()).Select(s => s.Name), Is.EqualTo(new[] { "knowledge", "refusal", "entropy", "truth" }));
        Assert.That(ComparisonSteps.Select(DemoComparison.Config).Select(s => s.Name), Does.Not.Contain("diff"));
        Assert.That(ComparisonSteps.Select(new ComparisonConfig { Analyses = ["diff", "entropy"] }).Select(s => s.Name), Is.EqualTo(new[] { "diff", "entropy" }));
        Assert.That(CliRunner.Run("compare", "--help").Out, Does.Contain("diff, attribution only with --only"));
        Assert.That(CliRunner.Run("diff", "--help").Out, Does.Contain("Examples:").And.Contain("--render-in").And.Contain("--no-cross-lens"));
    }
}
