using System.Text.Json;
using System.Text.Json.Nodes;
using OnnxInterp.Analysis;
using OnnxInterp.Cli;
using OnnxInterp.Comparison;
using OnnxInterp.Data;
using OnnxInterp.Reports;
using OnnxInterp.Runtime;
using OnnxInterp.Tests.Support;
using OnnxInterp.Tokenization;

namespace OnnxInterp.Tests.Comparison.ToyAnalysis;

/// <summary>
/// Issue 22's yardstick: a sixth analysis is one folder (this one) and one registration line, and `compare` runs it like
/// the others: its section in results.json, its report section and headline numbers, resume from the journal, a verb
/// generated from the registration, audit rules checked against its section record.
/// </summary>
public class ToyAnalysisTests
{
    /// <summary>The one registration line.</summary>
    static readonly IReadOnlyList<IAnalysisStep> Registry = [.. ComparisonSteps.All, new LastTokenEntropyStep()];

    TempDir _tmp = null!;

    [OneTimeSetUp]
    public void SetUp()
    {
        _tmp = new TempDir();
        ComparisonRunnerTests.WriteTinyPair(_tmp.Path);
    }

    [OneTimeTearDown]
    public void TearDown() => _tmp.Dispose();

    (int Code, string Out, string Err) Cli(params string[] args)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        int code = OnnxInterp.Cli.Cli.Run(args, o, e, CancellationToken.None, Registry);
        return (code, o.ToString(), e.ToString());
    }

    string[] Compare(string verb, string outDir, params string[] more) =>
        [verb, "--base", _tmp.Sub("base"), "--post", _tmp.Sub("post"), "--out", outDir, "--cache-dir", _tmp.Sub("cache"),
         "--datasets", "synthetic:cities,synthetic:element_symb", "--set", "toy.statements=3", .. more];

    static JsonObject Read(string path) => JsonNode.Parse(File.ReadAllText(path))!.AsObject();

    [Test]
    public void Compare_ToyAnalysis_SectionReportSummaryAndResume()
    {
        var dir = _tmp.Sub("compare");
        var run = Cli(Compare("compare", dir, "--only", "toy"));
        Assert.That(run.Code, Is.EqualTo(ExitCodes.Ok), run.Err);
        Assert.That(run.Out, Does.Contain("(2 steps run, 0 resumed from the journal)").And.Contain("last-token entropy, post"));

        // results.json: one section per dataset, the record serialised once; it reads back into the record and equals a
        // direct computation on the exported models.
        var results = Read(Path.Combine(dir, "results.json"));
        Assert.That(results["config"]!["analyses"]!.AsArray().Select(a => a!.GetValue<string>()), Is.EqualTo(new[] { "toy" }));
        Assert.That(results["config"]!["toy"]!["statements"]!.GetValue<int>(), Is.EqualTo(3));
        Assert.That(results["toy"]!.AsObject().Select(p => p.Key), Is.EqualTo(new[] { "cities", "element_symb" }));
        var cities = results["toy"]!["cities"]!.Deserialize<LastTokenEntropySection>(ResultsJson.Strict)!;
        Assert.That((cities.Dataset, cities.Statements, cities.Models.Select(m => m.Model)), Is.EqualTo(("cities", 3, new[] { "base", "post" })));
        Assert.That(results["toy"]!["cities"]!.ToJsonString(ResultsJson.Strict), Is.EqualTo(LastTokenEntropyStep.WriteSection(cities).ToJsonString(ResultsJson.Strict)));
        var exported = results["models"]!.AsArray().Select(m => m!["exported"]!.GetValue<string>()).ToList();
        var statements = SyntheticWorld.Generate(1, WorldSize.Family).ToDataset("cities").Statements.Take(3).ToList();
        var tokenizer = HfTokenizer.FromDirectory(exported[0]);
        for (int i = 0; i < 2; i++)
        {
            using var session = ModelSession.Open(exported[i]);
            double mean = statements.Average(s => LastTokenEntropyStep.Entropy(session.Run(new ForwardRequest([tokenizer.Encode(s.Text)])).Logits.Vector(0, tokenizer.Encode(s.Text).Length - 1)));
            Assert.That(cities.Models[i].MeanEntropy, Is.EqualTo(mean).Within(1e-9), cities.Models[i].Model);
            Assert.That(cities.Models[i].MeanEntropy, Is.InRange(0.0, Math.Log(258)), "between a certain and a uniform answer over the byte vocabulary");
        }

        // The headline numbers lead back to the section; the report has the section's heading, its overview over the
        // datasets, each dataset's Markdown and the summary rows; the step's data file is collected.
        var summary = results["summary"]!.AsArray();
        Assert.That(summary.Select(s => s!["label"]!.GetValue<string>()), Is.EqualTo(new[]
            { "last-token entropy, base", "last-token entropy, post", "last-token entropy, base", "last-token entropy, post" }));
        foreach (var s in summary)
            Assert.That(MetricPath.Parse(s!["metric"]!.GetValue<string>()).Resolve(results, out _).Single().Value!.GetValue<double>(), Is.EqualTo(s["value"]!.GetValue<double>()));
        var md = File.ReadAllText(Path.Combine(dir, "report.md"));
        Assert.That(md, Does.Contain("\n## Toy: entropy of the next token after a statement\n").And.Contain("\n| model | cities | element_symb |\n")
            .And.Contain("\n### cities\n").And.Contain("\n### element_symb\n").And.Contain("statements of `element_symb`")
            .And.Contain($"| toy | cities | last-token entropy, post | {ComparisonReport.Number(cities.Models[1].MeanEntropy)} |"));
        Assert.That(File.ReadAllLines(Path.Combine(dir, "data", "toy.cities", "entropies.csv")), Has.Length.EqualTo(1 + 2 * 3));

        // The same command again resumes both steps from the journal and writes the same files; the verb's summary is
        // read back from the journal's sections.
        var before = (File.ReadAllBytes(Path.Combine(dir, "results.json")), md);
        var again = Cli(Compare("compare", dir, "--only", "toy"));
        Assert.That(again.Code, Is.EqualTo(ExitCodes.Ok), again.Err);
        Assert.That(again.Out, Does.Contain("(0 steps run, 2 resumed from the journal)"));
        Assert.That((File.ReadAllBytes(Path.Combine(dir, "results.json")), File.ReadAllText(Path.Combine(dir, "report.md"))), Is.EqualTo(before));
        var outcome = ComparisonRunner.Run(new ComparisonRequest
        {
            Models = [new ModelSpec("base", _tmp.Sub("base")), new ModelSpec("post", _tmp.Sub("post"))],
            OutputDirectory = dir,
            Config = new ComparisonConfig { Datasets = ["synthetic:cities", "synthetic:element_symb"], Analyses = ["toy"] }.Set("toy.statements=3", Registry.Select(s => s.Name).ToList()),
            CacheDirectory = _tmp.Sub("cache"),
            Registry = Registry,
        });
        Assert.That((outcome.Ran, outcome.Resumed), Is.EqualTo((0, 2)));
        Assert.That(outcome.Section<LastTokenEntropySection>("toy", "cities"), Is.EqualTo(cities).Using<LastTokenEntropySection>(SameSection));
        Assert.That(outcome.Describe("toy"), Has.Exactly(4).Items.And.Some.StartsWith("element_symb: post mean last-token entropy "));
    }

    static bool SameSection(LastTokenEntropySection a, LastTokenEntropySection b) =>
        (a.Dataset, a.Statements) == (b.Dataset, b.Statements) && a.Models.SequenceEqual(b.Models);

    [Test]
    public void GeneratedVerb_RunsTheAnalysisAlone_AndAuditChecksItsRulesAgainstTheSection()
    {
        var dir = _tmp.Sub("verb");
        var help = Cli("toy", "--help");
        Assert.That(help.Out, Does.Contain("Toy: entropy of the next token after a statement").And.Contain("--set toy.OPTION=VALUE").And.Contain("Examples:"));
        var run = Cli(Compare("toy", dir));
        Assert.That(run.Code, Is.EqualTo(ExitCodes.Ok), run.Err);
        Assert.That(run.Out, Does.Contain("cities: base mean last-token entropy ").And.Contain("element_symb: post mean last-token entropy "));
        Assert.That(Read(Path.Combine(dir, "results.json"))["config"]!["analyses"]!.AsArray().Select(a => a!.GetValue<string>()), Is.EqualTo(new[] { "toy" }));

        var good = _tmp.Sub("toy-policy.json");
        File.WriteAllText(good, """{ "rules": [ { "metric": "toy.*.models[model=post].meanEntropy", "min": 0, "max": 6 } ] }""");
        var passed = Cli("audit", "--results", Path.Combine(dir, "results.json"), "--policy", good);
        Assert.That(passed.Code, Is.EqualTo(ExitCodes.Ok), passed.Err);
        Assert.That(passed.Out, Does.Contain("PASS toy.*.models[model=post].meanEntropy"));

        // A misspelt field fails before anything runs, naming the fields the section record has.
        var bad = _tmp.Sub("toy-typo.json");
        File.WriteAllText(bad, """{ "rules": [ { "metric": "toy.cities.models[model=post].meanEntropi", "min": 0 } ] }""");
        var typo = Cli("audit", "--base", _tmp.Sub("base"), "--post", _tmp.Sub("post"), "--policy", bad, "--out", _tmp.Sub("never"));
        Assert.That(typo.Code, Is.EqualTo(ExitCodes.InvalidInput));
        Assert.That(typo.Err, Does.Contain("has no field 'meanEntropi'; it has: model, meanEntropy"));
        Assert.That(Directory.Exists(_tmp.Sub("never")), Is.False);
    }
}
