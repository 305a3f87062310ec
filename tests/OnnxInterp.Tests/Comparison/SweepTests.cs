using System.Text.Json.Nodes;
using OnnxInterp.Checkpoints;
using OnnxInterp.Comparison;
using OnnxInterp.Tests.Support;

namespace OnnxInterp.Tests.Comparison;

/// <summary>
/// `sweep` on a tiny random base and two tiny "checkpoints" of a run (given out of order): a comparison per checkpoint,
/// the trajectory in training order, the figure, and a sharded sweep merged to the same bytes.
/// </summary>
public class SweepTests
{
    TempDir _tmp = null!;
    SweepOutcome _sweep = null!;

    internal static ComparisonConfig Config => ComparisonRunnerTests.TinyConfig with
    {
        Datasets = ["synthetic:cities"],
        Analyses = ["knowledge", "refusal", "entropy"],
    };

    /// <summary>A base and checkpoint-100 and checkpoint-20 of a "run" under <paramref name="root"/>.</summary>
    internal static void WriteTinyRun(string root)
    {
        RandomCheckpoint.Write(Path.Combine(root, "base"), new RandomCheckpointSpec { Layers = 2, Seed = 1 });
        RandomCheckpoint.Write(Path.Combine(root, "run", "checkpoint-100"), new RandomCheckpointSpec { Layers = 2, Seed = 3 });
        RandomCheckpoint.Write(Path.Combine(root, "run", "checkpoint-20"), new RandomCheckpointSpec { Layers = 2, Seed = 2 });
    }

    SweepRequest Request(string outDir) => new()
    {
        Base = new ModelSpec("base", _tmp.Sub("base")),
        Checkpoints = [new ModelSpec("checkpoint-100", _tmp.Sub("run/checkpoint-100")), new ModelSpec("checkpoint-20", _tmp.Sub("run/checkpoint-20"))],
        OutputDirectory = outDir,
        Config = Config,
        CacheDirectory = _tmp.Sub("cache"),
    };

    [OneTimeSetUp]
    public void SetUp()
    {
        _tmp = new TempDir();
        WriteTinyRun(_tmp.Path);
        _sweep = SweepRunner.Run(Request(_tmp.Sub("sweep")));
    }

    [OneTimeTearDown]
    public void TearDown() => _tmp.Dispose();

    static JsonObject Read(string path) => JsonNode.Parse(File.ReadAllText(path))!.AsObject();

    [Test]
    public void Run_TwoCheckpoints_TrajectoryInTrainingOrderWithEachComparisonsNumbers()
    {
        var r = Read(_tmp.Sub("sweep/results.json"));
        Assert.That(r["schema"]!.GetValue<string>(), Is.EqualTo(SweepReport.Schema));
        Assert.That(r["axis"]!.GetValue<string>(), Is.EqualTo("step"));
        var checkpoints = r["checkpoints"]!.AsArray();
        Assert.That(checkpoints.Select(c => c!["name"]!.GetValue<string>()), Is.EqualTo(new[] { "checkpoint-20", "checkpoint-100" }));
        Assert.That(checkpoints.Select(c => c!["x"]!.GetValue<long>()), Is.EqualTo(new[] { 20L, 100L }));
        Assert.That(r["base"]!["name"]!.GetValue<string>(), Is.EqualTo("base"));

        var series = r["series"]!.AsArray().Select(s => s!.AsObject()).ToList();
        var corr = series.Single(s => s["metric"]!.GetValue<string>() == "knowledge.cities.comparisons[a=base,b={checkpoint}].corr");
        Assert.That(corr["panel"]!.GetValue<string>(), Is.EqualTo("corr"));
        Assert.That(corr["label"]!.GetValue<string>(), Is.EqualTo("knowledge map corr, base vs {checkpoint}"));
        for (int i = 0; i < 2; i++)
        {
            var name = checkpoints[i]!["name"]!.GetValue<string>();
            var own = Read(_tmp.Sub($"sweep/checkpoints/{name}/results.json"));
            Assert.That(own["models"]!.AsArray().Select(m => m!["name"]!.GetValue<string>()), Is.EqualTo(new[] { "base", name }));
            var value = own["knowledge"]!["cities"]!["comparisons"]!.AsArray().Single(c => c!["b"]!.GetValue<string>() == name)!["corr"]!.GetValue<double>();
            Assert.That(corr["values"]![i]!.GetValue<double>(), Is.EqualTo(value));
            Assert.That(File.Exists(_tmp.Sub($"sweep/checkpoints/{name}/report.html")), name);
        }
        Assert.That(series.Select(s => s["panel"]?.GetValue<string>()), Is.SupersetOf(new[] { "corr", "cosines", "refusal", "calibration" }));
        Assert.That(series.Single(s => s["metric"]!.GetValue<string>() == "refusal.cosines[a=base,b={checkpoint}].cosine")["panel"]!.GetValue<string>(), Is.EqualTo("cosines"));
        Assert.That(series.Single(s => s["metric"]!.GetValue<string>() == "entropy.ablations[model={checkpoint}].ece")["panel"]!.GetValue<string>(), Is.EqualTo("calibration"));

        var png = File.ReadAllBytes(_tmp.Sub("sweep/" + SweepReport.Figure));
        Assert.That(png.Take(4), Is.EqualTo(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }));
        Assert.That(File.ReadAllText(_tmp.Sub("sweep/report.md")), Does.Contain("| checkpoint-20 | 20 |").And.Contain(SweepReport.Figure));
        Assert.That((_sweep.Ran, _sweep.Resumed), Is.EqualTo((6, 0)));
    }

    [Test]
    public void RunShard_TwoShards_MergeToTheSweepsBytes()
    {
        for (int k = 0; k < 2; k++) SweepRunner.RunShard(Request(_tmp.Sub($"shards/{k}")), new ShardSpec(k, 2));
        var merged = ShardMerge.Merge([_tmp.Sub("shards")], _tmp.Sub("merged"));
        Assert.That(merged.Kind, Is.EqualTo("sweep"));
        foreach (var f in new[] { "results.json", "checkpoints/checkpoint-20/results.json", "checkpoints/checkpoint-100/results.json" })
            Assert.That(File.ReadAllBytes(_tmp.Sub("merged/" + f)), Is.EqualTo(File.ReadAllBytes(_tmp.Sub("sweep/" + f))), f);
        var again = SweepRunner.Run(Request(_tmp.Sub("merged")));
        Assert.That((again.Ran, again.Resumed), Is.EqualTo((0, 6)), "a sweep over the merged folder resumes every step");
    }

    [Test]
    public void TrainingStep_TrainerStateThenTheFoldersNumber()
    {
        using var tmp = new TempDir();
        var a = Directory.CreateDirectory(tmp.Sub("checkpoint-500")).FullName;
        Assert.That(SweepRunner.TrainingStep(a), Is.EqualTo(500));
        File.WriteAllText(Path.Combine(a, "trainer_state.json"), """{ "global_step": 480, "epoch": 1.0 }""");
        Assert.That(SweepRunner.TrainingStep(a), Is.EqualTo(480));
        Assert.That(SweepRunner.TrainingStep(Directory.CreateDirectory(tmp.Sub("step_12-final")).FullName), Is.EqualTo(12));
        Assert.That(SweepRunner.TrainingStep(Directory.CreateDirectory(tmp.Sub("sft")).FullName), Is.Null);

        var sorted = SweepRunner.Order([new ModelSpec("b", tmp.Sub("checkpoint-500")), new ModelSpec("a", tmp.Sub("step_12-final"))]);
        Assert.That(sorted.Select(s => s.Step), Is.EqualTo(new long?[] { 12, 480 }));
        var kept = SweepRunner.Order([new ModelSpec("b", tmp.Sub("checkpoint-500")), new ModelSpec("s", tmp.Sub("sft"))]);
        Assert.That(kept.Select(s => s.Spec.Name), Is.EqualTo(new[] { "b", "s" }), "one without a step: the order given");
    }

    [Test]
    public void Expand_PatternOverARunsCheckpoints_MatchedFoldersInNameOrder()
    {
        Assert.That(SweepRunner.Expand([Path.Combine(_tmp.Path, "run", "checkpoint-*"), "x=" + _tmp.Sub("base")]),
            Is.EqualTo(new[] { _tmp.Sub("run/checkpoint-100"), _tmp.Sub("run/checkpoint-20"), "x=" + _tmp.Sub("base") }));
        var e = Assert.Throws<InvalidArgumentException>(() => SweepRunner.Expand([Path.Combine(_tmp.Path, "run", "nothing-*")]))!;
        Assert.That(e.Field, Is.EqualTo("--post"));
    }

    [Test]
    public void Generalise_CheckpointNameInPathsAndLabels_BecomesThePlaceholder()
    {
        Assert.That(SweepReport.Generalise("knowledge.cities.comparisons[a=sft,b=base->sft].corr", "sft", path: true),
            Is.EqualTo("knowledge.cities.comparisons[a={checkpoint},b=base->{checkpoint}].corr"));
        Assert.That(SweepReport.Generalise("refusal.effects[model=sft,direction=base].ablationDrop", "sft", path: true),
            Is.EqualTo("refusal.effects[model={checkpoint},direction=base].ablationDrop"));
        Assert.That(SweepReport.Generalise("refusal drop, sft's direction ablated", "sft", path: false), Is.EqualTo("refusal drop, {checkpoint}'s direction ablated"));
        Assert.That(SweepReport.Generalise("transfer corr, sft vs base->sft", "sft", path: false), Is.EqualTo("transfer corr, {checkpoint} vs base->{checkpoint}"));
        Assert.That(SweepReport.Generalise("corr, sft-2 vs sft", "sft", path: false), Is.EqualTo("corr, sft-2 vs {checkpoint}"));
    }
}
