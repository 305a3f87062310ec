using System.Text.Json;
using System.Text.Json.Nodes;
using OnnxInterp.Analysis.Attribution;
using OnnxInterp.Cli;
using OnnxInterp.Comparison;
using OnnxInterp.Reports;
using OnnxInterp.Tests.Comparison;
using OnnxInterp.Tests.Support;
using static OnnxInterp.Tests.Support.CliRunner;

namespace OnnxInterp.Tests.Cli;

/// <summary>`attribute` and `compare --only attribution` as a user meets them, on the tiny random pair (byte-level tokenizer).</summary>
public class AttributeCommandTests : TinyPairFixture
{
    // The byte-level tokenizer ends " TRUE" and " FALSE" with the same token: the answers drop the space, as the runner's tests do.
    string[] Args(string verb, string outDir, params string[] more) =>
        [.. PairArgs(verb, outDir),
         "--set", "attribution.trueAnswer=T", "--set", "attribution.falseAnswer=F", .. more];

    [Test]
    public void Attribute_TinyPair_SectionsPerPartReportWithHighlightsAndScores()
    {
        var dir = Tmp.Sub("attribute");
        var run = Run(Args("attribute", dir, "--statements", "2", "--refusal-prompts", "1", "--coalitions", "24", "--method", "kernelshap,occlusion"));
        Assert.That(run.Code, Is.EqualTo(ExitCodes.Ok), run.Err);
        Assert.That(run.Out, Does.Contain("(2 steps run, 0 resumed from the journal)").And.Contain("KernelSHAP top:").And.Contain("refusal: "));

        var results = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "results.json")))!;
        Assert.That(results["config"]!["analyses"]!.AsArray().Select(a => a!.GetValue<string>()), Is.EqualTo(new[] { "attribution" }));
        Assert.That(results["attribution"]!.AsObject().Select(p => p.Key), Is.EqualTo(new[] { "cities", "refusal" }));
        var cities = AttributionStep.WriteSection(results["attribution"]!["cities"]!.Deserialize<AttributionSection>(ResultsJson.Strict)!);
        var section = results["attribution"]!["cities"]!.Deserialize<AttributionSection>(ResultsJson.Strict)!;
        Assert.That(results["attribution"]!["cities"]!.ToJsonString(ResultsJson.Strict), Is.EqualTo(cities.ToJsonString(ResultsJson.Strict)), "the section is the record, serialised once");
        Assert.That((section.Scalar, section.Methods, section.Coalitions), Is.EqualTo((AttributionScalarKind.Judgement, new[] { AttributionMethod.KernelShap, AttributionMethod.Occlusion }, 24))
            .Using<(AttributionScalarKind, IReadOnlyList<AttributionMethod>, int)>((a, b) => a.Item1 == b.Item1 && a.Item2.SequenceEqual(b.Item2) && a.Item3 == b.Item3));
        Assert.That(section.Prompts.Select(p => p.Label), Is.EqualTo(new bool?[] { true, false }));
        foreach (var p in section.Prompts)
        {
            Assert.That(p.Models.Select(m => m.Model), Is.EqualTo(new[] { "base", "post" }));
            foreach (var m in p.Models)
            {
                Assert.That(m.Methods.Select(x => x.Scores.Count), Is.All.EqualTo(p.Words.Count));
                Assert.That(m.Methods[0].EfficiencyGap, Is.LessThan(1e-6), "KernelSHAP is efficient");
            }
        }
        Assert.That(section.Agreement.Single().Model, Is.EqualTo("post"));
        var refusal = results["attribution"]!["refusal"]!.Deserialize<AttributionSection>(ResultsJson.Strict)!;
        Assert.That((refusal.Scalar, refusal.Prompts.Count, refusal.Prompts[0].Label), Is.EqualTo((AttributionScalarKind.Refusal, 1, (bool?)null)));

        var md = File.ReadAllText(Path.Combine(dir, "report.md"));
        Assert.That(md, Does.Contain("\n## Feature attribution (occlusion, KernelSHAP, LIME over input words)\n").And.Contain("<span style=\"background:rgba("));
        Assert.That(File.ReadAllText(Path.Combine(dir, "report.html")), Does.Contain("<span style=\"background:rgba("), "the highlights reach the HTML page");
        var csv = File.ReadAllLines(Path.Combine(dir, "data", "attribution.cities", AttributionReport.ScoresFile));
        Assert.That(csv[0], Is.EqualTo("prompt,model,method,word_index,word,score"));
        Assert.That(csv, Has.Length.EqualTo(1 + section.Prompts.Sum(p => p.Words.Count) * 2 * 2));

        // The same command resumes both parts from the journal.
        var again = Run(Args("attribute", dir, "--statements", "2", "--refusal-prompts", "1", "--coalitions", "24", "--method", "kernelshap,occlusion"));
        Assert.That(again.Out, Does.Contain("(0 steps run, 2 resumed from the journal)"));
    }

    [Test]
    public void Compare_OnlyAttribution_RunsIt_AndBadOptionsNameTheOption()
    {
        var dir = Tmp.Sub("compare");
        var run = Run(Args("compare", dir, "--only", "attribution", "--set", "attribution.statements=1", "--set", "attribution.refusalPrompts=0",
            "--set", "attribution.coalitions=8", "--set", "attribution.methods=[\"Lime\"]"));
        Assert.That(run.Code, Is.EqualTo(ExitCodes.Ok), run.Err);
        var results = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "results.json")))!;
        Assert.That(results["attribution"]!.AsObject().Select(p => p.Key), Is.EqualTo(new[] { "cities" }));
        Assert.That(results["attribution"]!["cities"]!["methods"]!.AsArray().Select(m => m!.GetValue<string>()), Is.EqualTo(new[] { "Lime" }));

        var bad = Run(Args("attribute", Tmp.Sub("never"), "--coalitions", "0"));
        Assert.That(bad.Code, Is.EqualTo(ExitCodes.InvalidInput));
        Assert.That(bad.Err, Does.Contain("field 'attribution.coalitions'").And.Contain("value '0'"));
        var method = Run(Args("attribute", Tmp.Sub("never"), "--method", "shapley"));
        Assert.That(method.Code, Is.EqualTo(ExitCodes.InvalidInput));
        Assert.That(method.Err, Does.Contain("field '--method'").And.Contain("value 'shapley'"));
        Assert.That(Directory.Exists(Tmp.Sub("never")), Is.False);
    }
}
