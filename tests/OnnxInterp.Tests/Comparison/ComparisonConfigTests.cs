using System.Text.Json.Nodes;
using OnnxInterp.Analysis.Knowledge;
using OnnxInterp.Comparison;
using OnnxInterp.Analysis;
using OnnxInterp.Tests.Support;

namespace OnnxInterp.Tests.Comparison;

public class ComparisonConfigTests
{
    [Test]
    public void Load_FileOverridesDefaults_SetOverridesFile()
    {
        using var tmp = new TempDir();
        var file = tmp.Sub("c.json");
        File.WriteAllText(file, """
            { // comments are allowed
              "datasets": ["synthetic:cities"], "worldSeed": 3,
              "execution": { "threads": 2 },
              "knowledge": { "maxPairs": 7, "metric": "KL" }
            }
            """);
        var c = ComparisonConfig.Load(file).Set("knowledge.maxPairs=9").Set("execution.provider=auto");
        Assert.That(c.Datasets, Is.EqualTo(new[] { "synthetic:cities" }));
        Assert.That((c.WorldSeed, c.Execution.Threads, c.Execution.Provider, c.DType), Is.EqualTo((3, 2, "auto", "fp32")));
        var o = new KnowledgeStep().Options(c.AnalysisOptions["knowledge"]);
        Assert.That((o.MaxPairs, o.Metric, o.Transfer), Is.EqualTo(((int?)9, TracingMetric.KL, true)));
    }

    [Test]
    public void Options_NoOverrides_AreTheAdapterDefaultsInFull()
    {
        var json = ((IAnalysisStep)new KnowledgeStep()).ResolveOptions(null);
        Assert.That(json["maxPairs"]!.GetValue<int>(), Is.EqualTo(50));
        Assert.That(json["metric"]!.GetValue<string>(), Is.EqualTo("LogitDiff"));
        Assert.That(json["trueAnswer"]!.GetValue<string>(), Is.EqualTo(" TRUE"));
    }

    [Test]
    public void Load_UnknownKeyOrWrongType_NamesFileAndField()
    {
        using var tmp = new TempDir();
        var file = tmp.Sub("c.json");
        File.WriteAllText(file, """{ "dataset": ["x"] }""");
        var e = Assert.Throws<InvalidFileException>(() => ComparisonConfig.Load(file));
        Assert.That((e!.File, e.Field), Is.EqualTo((file, "dataset")));
        Assert.That(e.Message, Does.Contain("datasets").And.Contain("knowledge"), "lists the known keys");

        File.WriteAllText(file, """{ "worldSeed": "one" }""");
        Assert.That(Assert.Throws<InvalidFileException>(() => ComparisonConfig.Load(file))!.Field, Is.EqualTo("worldSeed"));
        File.WriteAllText(file, """{ "execution": { "provider": "tpu" } }""");
        Assert.That(Assert.Throws<InvalidFileException>(() => ComparisonConfig.Load(file))!.Field, Is.EqualTo("execution.provider"));
        File.WriteAllText(file, "{ not json");
        Assert.That(Assert.Throws<InvalidFileException>(() => ComparisonConfig.Load(file))!.Message, Does.Contain("not valid JSON"));
    }

    [Test]
    public void Options_UnknownOrBadAnalysisOption_NamesIt()
    {
        var step = new KnowledgeStep();
        var e = Assert.Throws<InvalidArgumentException>(() => step.Options(new JsonObject { ["maxPair"] = 3 }));
        Assert.That((e!.Field, e.Message), Is.EqualTo(("knowledge.maxPair", e.Message)));
        Assert.That(e.Message, Does.Contain("maxPairs"));
        Assert.That(Assert.Throws<InvalidArgumentException>(() => step.Options(new JsonObject { ["maxPairs"] = 0 }))!.Field, Is.EqualTo("knowledge.maxPairs"));
        Assert.That(Assert.Throws<InvalidArgumentException>(() => step.Options(new JsonObject { ["metric"] = "cosine" }))!.Field, Does.StartWith("knowledge"));
        Assert.That(step.Options(new JsonObject { ["MAXPAIRS"] = 4 }).MaxPairs, Is.EqualTo(4), "option names are case-insensitive");
    }

    [Test]
    public void Set_ValueNotJson_IsAString_AndBadAssignmentIsAnError()
    {
        var c = new ComparisonConfig().Set("knowledge.trueAnswer=TRUE").Set("datasets=[\"a.csv\"]");
        Assert.That(c.AnalysisOptions["knowledge"]["trueAnswer"]!.GetValue<string>(), Is.EqualTo("TRUE"));
        Assert.That(c.Datasets, Is.EqualTo(new[] { "a.csv" }));
        Assert.That(Assert.Throws<InvalidArgumentException>(() => new ComparisonConfig().Set("maxPairs"))!.Field, Is.EqualTo("--set"));
        Assert.That(Assert.Throws<InvalidArgumentException>(() => new ComparisonConfig().Set("colour=red"))!.Field, Is.EqualTo("colour"));
    }

    [Test]
    public void ShiftHeadings_MovesShallowestToLevel_LeavesCodeAlone()
    {
        var md = "# A\ntext\n```\n# not a heading\n```\n## B\n";
        Assert.That(ComparisonReport.ShiftHeadings(md, 3), Is.EqualTo("### A\ntext\n```\n# not a heading\n```\n#### B\n"));
        Assert.That(ComparisonReport.ShiftHeadings("#### deep\n", 3), Is.EqualTo("#### deep\n"));
    }
}
