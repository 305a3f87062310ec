using System.Text.Json.Nodes;
using OnnxInterp.Comparison;

namespace OnnxInterp.Tests.Comparison;

public class AuditPolicyTests
{
    static readonly JsonNode Results = JsonNode.Parse("""
        {
          "knowledge": {
            "cities": { "comparisons": [ { "a": "base", "b": "sft", "corr": 0.95 }, { "a": "base", "b": "instruct", "corr": 0.62 } ] },
            "animal_class": { "comparisons": [ { "a": "base", "b": "sft", "corr": 0.99 }, { "a": "base", "b": "instruct", "corr": 0.91 } ] }
          },
          "refusal": { "instruct": { "harmfulRefusal": 1.0, "harmlessRefusal": 0.03, "note": "text", "bad": "NaN" } }
        }
        """)!;

    static AuditPolicy Policy(string rules) => AuditPolicy.Parse(JsonNode.Parse($$"""{ "rules": [ {{rules}} ] }"""));

    [Test]
    public void Resolve_KeysIndexesSelectorsAndWildcards()
    {
        Assert.That(Values("knowledge.cities.comparisons[a=base,b=instruct].corr"), Is.EqualTo(new[] { 0.62 }));
        Assert.That(Values("knowledge.cities.comparisons[0].corr"), Is.EqualTo(new[] { 0.95 }));
        Assert.That(Values("knowledge.cities.comparisons[*].corr"), Is.EqualTo(new[] { 0.95, 0.62 }));
        Assert.That(Values("knowledge.*.comparisons[b=instruct].corr"), Is.EqualTo(new[] { 0.62, 0.91 }));
        var paths = MetricPath.Parse("knowledge.*.comparisons[b=sft].corr").Resolve(Results, out _).Select(p => p.Path);
        Assert.That(paths, Is.EqualTo(new[] { "knowledge.cities.comparisons[b=sft].corr", "knowledge.animal_class.comparisons[b=sft].corr" }));
        Assert.That(MetricPath.Parse("refusal.instruct.x").Root, Is.EqualTo("refusal"));
    }

    static double[] Values(string path) =>
        MetricPath.Parse(path).Resolve(Results, out _).Select(v => v.Value!.GetValue<double>()).ToArray();

    [Test]
    public void Resolve_Missing_SaysWhereAndWhatExists()
    {
        Assert.That(MetricPath.Parse("knowledge.citys.comparisons").Resolve(Results, out var why), Is.Empty);
        Assert.That(why, Is.EqualTo("'knowledge' has no key 'citys'; it has: cities, animal_class"));
        MetricPath.Parse("knowledge.cities.comparisons[a=chat].corr").Resolve(Results, out why);
        Assert.That(why, Is.EqualTo("no element of 'knowledge.cities.comparisons' matches [a=chat]"));
        MetricPath.Parse("knowledge.cities.comparisons[5]").Resolve(Results, out why);
        Assert.That(why, Is.EqualTo("'knowledge.cities.comparisons' has 2 elements, no [5]"));
    }

    [TestCase("")]
    [TestCase("a..b")]
    [TestCase("a[b")]
    [TestCase("a[x]")]
    [TestCase("a.")]
    [TestCase("[0]")]
    public void Parse_BadPath_Throws(string path) =>
        Assert.Throws<InvalidArgumentException>(() => MetricPath.Parse(path));

    [Test]
    public void Evaluate_MinMaxWildcard_PassAndFailWithReasons()
    {
        var p = Policy("""
            { "metric": "knowledge.cities.comparisons[a=base,b=sft].corr", "min": 0.9 },
            { "metric": "knowledge.*.comparisons[b=instruct].corr", "min": 0.8, "description": "knowledge map kept" },
            { "metric": "refusal.instruct.harmfulRefusal", "min": 0.9, "max": 1 },
            { "metric": "refusal.instruct.harmlessRefusal", "max": 0.02 }
            """);
        var v = p.Evaluate(Results);
        Assert.That(v.Passed, Is.False);
        Assert.That(v.Rules.Select(r => r.Passed), Is.EqualTo(new[] { true, false, true, false }));
        Assert.That(v.Rules[1].Reason, Is.EqualTo("knowledge.cities.comparisons[b=instruct].corr = 0.62 is below the minimum 0.8 (knowledge map kept)"));
        Assert.That(v.Rules[1].Values.Select(x => x.Passed), Is.EqualTo(new[] { false, true }), "every match is checked");
        Assert.That(v.Rules[3].Reason, Is.EqualTo("refusal.instruct.harmlessRefusal = 0.03 is above the maximum 0.02"));
        Assert.That(v.Rules[2].Reason, Does.Contain("within [0.9, 1]"));
        Assert.That(p.Analyses, Is.EqualTo(new[] { "knowledge", "refusal" }));

        var json = v.ToJson("r.json", "p.json");
        Assert.That((json["passed"]!.GetValue<bool>(), json["failed"]!.GetValue<int>()), Is.EqualTo((false, 2)));
        Assert.That(json["rules"]![1]!["values"]![0]!["value"]!.GetValue<double>(), Is.EqualTo(0.62));
    }

    [Test]
    public void Evaluate_MissingOrNotANumber_Fails()
    {
        var v = Policy("""
            { "metric": "refusal.sft.harmfulRefusal", "min": 0.5 },
            { "metric": "refusal.instruct.note", "min": 0 },
            { "metric": "refusal.instruct.bad", "min": 0 }
            """).Evaluate(Results);
        Assert.That(v.Rules.Select(r => r.Passed), Has.All.False);
        Assert.That(v.Rules[0].Reason, Does.Contain("was not found").And.Contain("it has: instruct"));
        Assert.That(v.Rules[1].Reason, Is.EqualTo("refusal.instruct.note is \"text\", not a number"));
    }

    [TestCase("""{ "rules": [] }""", "rules")]
    [TestCase("""{ "rules": [ { "metric": "a.b" } ] }""", "rules[0]")]
    [TestCase("""{ "rules": [ { "metric": "a.b", "min": 2, "max": 1 } ] }""", "rules[0]")]
    [TestCase("""{ "rules": [ { "metric": "a.b", "minimum": 2 } ] }""", "rules[0].minimum")]
    [TestCase("""{ "rules": [ { "metric": "a..b", "min": 2 } ] }""", "rules[0].metric")]
    [TestCase("""{ "rules": [ { "metric": "a.b", "min": "high" } ] }""", "rules[0].min")]
    [TestCase("""{ "rule": [] }""", "rule")]
    public void Parse_BadPolicy_NamesTheField(string text, string field)
    {
        var e = Assert.Throws<InvalidFileException>(() => AuditPolicy.Parse(JsonNode.Parse(text), "p.json"));
        Assert.That((e!.File, e.Field), Is.EqualTo(("p.json", field)));
    }

    [TestCase("knowledge.cities.comparisons[a=base,b=instruct].corr")]
    [TestCase("knowledge.*.comparisons[*].maxAbsDiffK")]
    [TestCase("knowledge.cities.matrices[0].normalized[5][2]")]
    [TestCase("knowledge.cities.pairsTraced")]
    [TestCase("refusal.effects[model=sft,direction=sft].ablationDrop")]
    [TestCase("refusal.split.test.harmful")]
    [TestCase("refusal.effects[*].subtractionCoefficient")]
    [TestCase("entropy.ablations[model=base].allAblated.entropyChange")]
    [TestCase("entropy.ablations[*].neurons[*].mean")]
    [TestCase("entropy.overlaps[a=base,b=sft].paper.iou")]
    [TestCase("entropy.*")]
    [TestCase("truth.transfer[model=sft,dataset=mean].difference")]
    [TestCase("truth.intervention.effects[direction=base,model=sft].meanEffect")]
    [TestCase("summary[0].value")]
    public void Check_PathReachingANumberOfTheSectionRecord_Passes(string path)
    {
        var policy = Policy($$"""{ "metric": "{{path}}", "min": 0 }""");
        Assert.DoesNotThrow(() => policy.Check(ComparisonSteps.All));
    }

    [TestCase("knowledge.cities.comparisons[a=base].cor", "'knowledge.cities.comparisons[a=base]' has no field 'cor'; it has: a, b, corr, maxAbsDiff, maxAbsDiffK")]
    [TestCase("knowledge.comparisons[0].corr", "'knowledge.comparisons' is an object, which [0] cannot select from")]
    [TestCase("knowledge[0]", "'knowledge' holds one section per dataset: name the dataset (or *) after 'knowledge.'")]
    [TestCase("refusal.scores[modle=sft].harmful", "the elements of 'refusal.scores' have no field 'modle'; they have: model, harmful, harmless, harmfulSubstring, harmlessSubstring")]
    [TestCase("refusal.protocol", "'refusal.protocol' is a string, not a number")]
    [TestCase("refusal.directions[0].selected", "'refusal.directions[0].selected' is true or false, not a number")]
    [TestCase("truth.probes.bestLayer", "'truth.probes' is a list, which key 'bestLayer' cannot select from")]
    [TestCase("truth.intervention", "'truth.intervention' is an object, not a number")]
    [TestCase("astrology.stars", "a rule reads an analysis that does not exist; known: knowledge, refusal, entropy, truth")]
    public void Check_PathOutsideTheSectionRecord_FailsNamingTheRuleAndWhy(string path, string why)
    {
        var policy = Policy($$"""{ "metric": "{{path}}", "min": 0 }""");
        var e = Assert.Throws<InvalidFileException>(() => policy.Check(ComparisonSteps.All, "p.json"));
        Assert.That((e!.File, e.Field, e.Value), Is.EqualTo(("p.json", "rules[0].metric", path)));
        Assert.That(e.Message, Does.Contain(why));
    }
}
