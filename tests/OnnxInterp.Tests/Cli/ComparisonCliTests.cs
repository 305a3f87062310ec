using System.Text.Json.Nodes;
using OnnxInterp.Cli;
using OnnxInterp.Tests.Comparison;
using OnnxInterp.Tests.Support;
using static OnnxInterp.Tests.Support.CliRunner;

namespace OnnxInterp.Tests.Cli;

/// <summary>compare, transfer, audit and demo as a user meets them: exit codes, messages, files.</summary>
public class ComparisonCliTests : TinyPairFixture
{
    string[] Tiny(string verb, string outDir, params string[] more) =>
        [.. PairArgs(verb, outDir), .. ComparisonRunnerTests.TinySettings.SelectMany(s => new[] { "--set", s }), "--set", "knowledge.maxPairs=2", .. more];

    [Test]
    public void Audit_ViolatedRefusalRule_ExitsFourWithTheReason_AndRunsOnlyRefusal()
    {
        // Random models never start with a refusal phrase, so a release gate on the post model's refusal rate fails.
        var policy = Tmp.Sub("refusal-policy.json");
        File.WriteAllText(policy, """
            { "rules": [ { "metric": "refusal.scores[model=post].harmful", "min": 0.9, "description": "refuses harmful instructions" },
                         { "metric": "refusal.effects[model=post,direction=post].ablated", "min": 0, "max": 1 },
                         { "metric": "refusal.cosines[a=base,b=post].cosine", "min": -1, "max": 1 } ] }
            """);
        var report = Tmp.Sub("audit-refusal");
        var r = Run(Tiny("audit", report, "--policy", policy, "--summary-json", Tmp.Sub("refusal-verdict.json")));
        Assert.That(r.Code, Is.EqualTo(ExitCodes.PolicyViolated), r.Err);
        Assert.That(r.Err, Does.Contain("FAIL refusal.scores[model=post].harmful: refusal.scores[model=post].harmful = 0 is below the minimum 0.9 (refuses harmful instructions)")
            .And.Contain("audit failed: 1 of 3 rules violated"));
        Assert.That(r.Out, Does.Contain("PASS refusal.effects[model=post,direction=post].ablated").And.Contain("PASS refusal.cosines[a=base,b=post].cosine"));
        var results = JsonNode.Parse(File.ReadAllText(Path.Combine(report, "results.json")))!;
        Assert.That(results["config"]!["analyses"]!.AsArray().Select(a => a!.GetValue<string>()), Is.EqualTo(new[] { "refusal" }), "only the analysis the rules read");
        var verdict = JsonNode.Parse(File.ReadAllText(Tmp.Sub("refusal-verdict.json")))!;
        Assert.That(verdict["rules"]![0]!["values"]![0]!["value"]!.GetValue<double>(), Is.EqualTo(0));
    }

    [Test]
    public void Audit_EntropyRules_ReadTheEntropySection()
    {
        var policy = Tmp.Sub("entropy-policy.json");
        File.WriteAllText(policy, """
            { "rules": [ { "metric": "entropy.overlaps[a=base,b=post].iou", "min": 0, "max": 1 },
                         { "metric": "entropy.ablations[*].ece", "max": 1 },
                         { "metric": "entropy.ablations[model=post].allAblated.entropyChange", "min": 100, "description": "impossible" } ] }
            """);
        var r = Run(Tiny("audit", Tmp.Sub("audit-entropy"), "--policy", policy));
        Assert.That(r.Code, Is.EqualTo(ExitCodes.PolicyViolated), r.Err);
        Assert.That(r.Out, Does.Contain("PASS entropy.overlaps[a=base,b=post].iou").And.Contain("PASS entropy.ablations[*].ece"));
        Assert.That(r.Err, Does.Contain("FAIL entropy.ablations[model=post].allAblated.entropyChange").And.Contain("is below the minimum 100 (impossible)"));
    }

    [Test]
    public void Audit_ViolatedTruthRule_ExitsFourWithTheReason_AndRunsOnlyTruth()
    {
        // A probe-transfer gate (issue 9): the base probe may lose at most z accuracy on the post model. z = -5 cannot hold.
        var policy = Tmp.Sub("truth-policy.json");
        File.WriteAllText(policy, """
            { "rules": [ { "metric": "truth.probes[*].bestAccuracy", "min": 0, "max": 1 },
                         { "metric": "truth.cosines[a=base,b=post].cosine", "min": -1, "max": 1 },
                         { "metric": "truth.transfer[model=post,dataset=mean].difference", "max": -5, "description": "probe transfer" } ] }
            """);
        var r = Run(Tiny("audit", Tmp.Sub("audit-truth"), "--policy", policy));
        Assert.That(r.Code, Is.EqualTo(ExitCodes.PolicyViolated), r.Err);
        Assert.That(r.Out, Does.Contain("PASS truth.probes[*].bestAccuracy").And.Contain("PASS truth.cosines[a=base,b=post].cosine"));
        Assert.That(r.Err, Does.Contain("FAIL truth.transfer[model=post,dataset=mean].difference: truth.transfer[model=post,dataset=mean].difference = ")
            .And.Contain("is above the maximum -5 (probe transfer)"));
        var results = JsonNode.Parse(File.ReadAllText(Tmp.Sub("audit-truth/results.json")))!;
        Assert.That(results["config"]!["analyses"]!.AsArray().Select(a => a!.GetValue<string>()), Is.EqualTo(new[] { "truth" }), "only the analysis the rules read");
    }

    [Test]
    public void Audit_ViolatedPolicy_ExitsFourWithTheReason_SatisfiedPolicyExitsZero()
    {
        var strict = Tmp.Sub("strict.json");
        File.WriteAllText(strict, """
            { "rules": [ { "metric": "knowledge.cities.comparisons[a=base,b=post].corr", "min": 1.5, "description": "impossible on random models" },
                         { "metric": "knowledge.cities.pairsTraced", "min": 2, "max": 2 } ] }
            """);
        var report = Tmp.Sub("audit");
        var failed = Run(Tiny("audit", report, "--policy", strict, "--summary-json", Tmp.Sub("verdict.json")));
        Assert.That(failed.Code, Is.EqualTo(ExitCodes.PolicyViolated), failed.Err);
        Assert.That(failed.Err, Does.Contain("FAIL knowledge.cities.comparisons[a=base,b=post].corr: knowledge.cities.comparisons[a=base,b=post].corr = ")
            .And.Contain("is below the minimum 1.5 (impossible on random models)")
            .And.Contain("audit failed: 1 of 2 rules violated"));
        Assert.That(failed.Out, Does.Contain("PASS knowledge.cities.pairsTraced"));
        var verdict = JsonNode.Parse(File.ReadAllText(Tmp.Sub("verdict.json")))!;
        Assert.That((verdict["schema"]!.GetValue<string>(), verdict["passed"]!.GetValue<bool>(), verdict["failed"]!.GetValue<int>()),
            Is.EqualTo(("onnxinterp-audit/1", false, 1)));
        Assert.That(verdict["results"]!.GetValue<string>(), Is.EqualTo(Path.Combine(report, "results.json")));

        var lenient = Tmp.Sub("lenient.json");
        File.WriteAllText(lenient, """{ "rules": [ { "metric": "knowledge.*.comparisons[*].corr", "min": -1, "max": 1 } ] }""");
        var passed = Run(Tiny("audit", report, "--policy", lenient));
        Assert.That(passed.Code, Is.EqualTo(ExitCodes.Ok), passed.Err);
        Assert.That(passed.Out, Does.Contain("(0 steps run, 1 resumed from the journal)").And.Contain("audit passed: 1 rule"));

        // The same verdict from the results file alone.
        var offline = Run("audit", "--results", Path.Combine(report, "results.json"), "--policy", strict);
        Assert.That(offline.Code, Is.EqualTo(ExitCodes.PolicyViolated));
    }

    [Test]
    public void Transfer_TinyCheckpoints_WritesTheKnowledgeSectionWithTransfers()
    {
        var outDir = Tmp.Sub("transfer");
        var r = Run(Tiny("transfer", outDir, "--max-pairs", "2"));
        Assert.That(r.Code, Is.EqualTo(ExitCodes.Ok), r.Err);
        var results = JsonNode.Parse(File.ReadAllText(Path.Combine(outDir, "results.json")))!;
        Assert.That(results["config"]!["analyses"]!.AsArray().Select(a => a!.GetValue<string>()), Is.EqualTo(new[] { "knowledge" }));
        var kinds = results["knowledge"]!["cities"]!["matrices"]!.AsArray().Select(m => m!["model"]!.GetValue<string>());
        Assert.That(kinds, Is.EqualTo(new[] { "base", "post", "base->post", "post->base" }));
        Assert.That(File.Exists(Path.Combine(outDir, "figures", "knowledge_cities_base_to_post.png")));
        Assert.That(r.Out, Does.Contain("transfer corr, post vs base->post"));
        Assert.That(r.Err, Does.Contain("[1/1] knowledge.cities: done in"), "progress on stderr");
    }

    [Test]
    public void Compare_Cancelled_ExitsWithTheCancelCodeAndTellsHowToResume()
    {
        using var cts = new CancellationTokenSource();
        cts.Cancel();
        var r = Run(cts.Token, Tiny("compare", Tmp.Sub("cancelled")));
        Assert.That(r.Code, Is.EqualTo(ExitCodes.Cancelled));
        Assert.That(r.Err, Does.Contain("run the same command again to resume").And.Contain("cancelled"));
    }

    [TestCase("compare")]
    [TestCase("demo")]
    [TestCase("audit")]
    [TestCase("transfer")]
    public void Help_EveryComparisonVerb_HasExamples(string verb)
    {
        var r = Run(verb, "--help");
        Assert.That(r.Code, Is.EqualTo(ExitCodes.Ok));
        Assert.That(r.Out, Does.Contain("Examples:").And.Contain($"onnxinterp {verb}"));
    }

    [Test]
    public void Mistakes_GiveMessagesAndExitCodes_NotStackTraces()
    {
        var cases = new (string[] Args, int Code, string Message)[]
        {
            (["compare", "--base", Tmp.Sub("nope"), "--post", Tmp.Sub("post"), "--out", Tmp.Sub("x")], ExitCodes.InvalidInput, "error: model folder does not exist (field 'base'"),
            (Tiny("compare", Tmp.Sub("x"), "--set", "knowledge.maxPair=3"), ExitCodes.InvalidInput, "error: unknown option of the knowledge analysis"),
            (Tiny("compare", Tmp.Sub("x"), "--only", "astrology"), ExitCodes.InvalidInput, "error: unknown analysis; known: knowledge"),
            (Tiny("compare", Tmp.Sub("x"), "--config", Tmp.Sub("missing.json")), ExitCodes.InvalidInput, "error: config file does not exist"),
            (Tiny("compare", Tmp.Sub("x"), "--datasets", "synthetic:planets"), ExitCodes.InvalidInput, "error: unknown synthetic dataset"),
            (["compare", "--base", Tmp.Sub("base"), "--out", Tmp.Sub("x")], ExitCodes.Usage, "--post"),
            (["demo", "--models", Tmp.Sub("base"), "--out", Tmp.Sub("x")], ExitCodes.InvalidInput, "error: no model family here"),
            (["audit", "--policy", Tmp.Sub("nope.json"), "--results", Tmp.Sub("r.json")], ExitCodes.InvalidInput, "error: policy file does not exist"),
            (["audit", "--policy", WritePolicy(), "--out", Tmp.Sub("x")], ExitCodes.InvalidInput, "error: give --base and --post"),
        };
        foreach (var (args, code, message) in cases)
        {
            var r = Run(args);
            Assert.That(r.Code, Is.EqualTo(code), string.Join(" ", args) + "\n" + r.Err);
            Assert.That(r.Err, Does.Contain(message).And.Not.Contain("   at "), string.Join(" ", args));
        }
        Assert.That(Directory.Exists(Tmp.Sub("x")), Is.False, "no report folder for a failed start");
    }

    string WritePolicy()
    {
        var p = Tmp.Sub("p.json");
        File.WriteAllText(p, """{ "rules": [ { "metric": "knowledge.cities.pairsTraced", "min": 1 } ] }""");
        return p;
    }

    [Test]
    public void Demo_ModelsFolderWithoutFamily_NamesTheOption()
    {
        // The family is committed in models/, so the "not shipped" message is only reachable outside a clone; a folder
        // given with --models that lacks base/, sft/ and instruct/ gets the same kind of typed error.
        Directory.CreateDirectory(Tmp.Sub("empty"));
        var r = Run("demo", "--models", Tmp.Sub("empty"), "--out", Tmp.Sub("demo"));
        Assert.That(r.Code, Is.EqualTo(ExitCodes.InvalidInput));
        Assert.That(r.Err, Does.StartWith("error: no model family here"));
        Assert.That(r.Err, Does.Contain("--models"));
        Assert.That(Directory.Exists(Tmp.Sub("demo")), Is.False, "nothing is written");
    }
}
