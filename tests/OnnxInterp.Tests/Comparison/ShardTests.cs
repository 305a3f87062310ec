using System.Text.Json.Nodes;
using OnnxInterp.Comparison;
using OnnxInterp.Tests.Support;

namespace OnnxInterp.Tests.Comparison;

/// <summary>
/// `compare --shard K/N` and `merge` on two tiny random checkpoints (the runner tests' settings, one dataset): every
/// split merges to the unsharded results.json byte for byte; merge refuses shards that do not make one run, naming the
/// shard; a shard stopped mid-run resumes; two workers given one index take turns.
/// </summary>
public class ShardTests
{
    TempDir _tmp = null!;
    byte[] _reference = null!;

    static ComparisonConfig Config => ComparisonRunnerTests.TinyConfig with { Datasets = ["synthetic:cities"] };

    ComparisonRequest Request(string outDir, ComparisonConfig? config = null) => new()
    {
        Models = [new ModelSpec("base", _tmp.Sub("base")), new ModelSpec("post", _tmp.Sub("post"))],
        OutputDirectory = outDir,
        Config = config ?? Config,
        CacheDirectory = _tmp.Sub("cache"),
    };

    [OneTimeSetUp]
    public void SetUp()
    {
        _tmp = new TempDir();
        ComparisonRunnerTests.WriteTinyPair(_tmp.Path);
        ComparisonRunner.Run(Request(_tmp.Sub("unsharded")));
        _reference = File.ReadAllBytes(_tmp.Sub("unsharded/results.json"));
        for (int k = 0; k < 2; k++) ComparisonRunner.RunShard(Request(_tmp.Sub($"of2/{k}")), new ShardSpec(k, 2));
    }

    [OneTimeTearDown]
    public void TearDown() => _tmp.Dispose();

    /// <summary>A copy of a shard folder, to damage without touching the fixture's.</summary>
    string Copy(string from, string to)
    {
        // Folders too: a step's journal entry counts only beside its files folder, which may be empty.
        foreach (var d in Directory.EnumerateDirectories(from, "*", SearchOption.AllDirectories))
            Directory.CreateDirectory(Path.Combine(to, Path.GetRelativePath(from, d)));
        foreach (var f in Directory.EnumerateFiles(from, "*", SearchOption.AllDirectories))
        {
            var target = Path.Combine(to, Path.GetRelativePath(from, f));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(f, target);
        }
        return to;
    }

    [Test]
    public void ShardSpec_Parse_ReadsKOfNFromZeroAndNamesBadValues()
    {
        Assert.That(ShardSpec.Parse("2/3"), Is.EqualTo(new ShardSpec(2, 3)));
        foreach (var bad in new[] { "3/3", "-1/3", "1/0", "1", "a/b", "1/2/3" })
        {
            var e = Assert.Throws<InvalidArgumentException>(() => ShardSpec.Parse(bad), bad)!;
            Assert.That((e.Field, e.Value), Is.EqualTo(("--shard", bad)));
        }
        Assert.That(ShardSpec.FromEnvironment(4, "3"), Is.EqualTo(new ShardSpec(3, 4)));
        Assert.That(Assert.Throws<InvalidArgumentException>(() => ShardSpec.FromEnvironment(4, "4"))!.Message, Does.Contain("0..3"));
        Assert.That(Assert.Throws<InvalidArgumentException>(() => ShardSpec.FromEnvironment(4, ""))!.Field, Is.EqualTo(ShardSpec.IndexVariable));
    }

    [Test]
    public void Assign_AnyInputOrder_SameSplitBalancedByCost()
    {
        var rng = new Random(7);
        var steps = Enumerable.Range(0, 40).Select(i => ($"s{i}", Math.Round(rng.NextDouble() * 50, 3))).ToList();
        foreach (int n in new[] { 1, 2, 3, 7 })
        {
            var split = ShardAssignment.Assign(steps, n);
            var shuffled = steps.OrderBy(_ => rng.Next()).ToList();
            var again = ShardAssignment.Assign(shuffled, n);
            var byId = steps.Select((s, i) => (s.Item1, split[i])).ToDictionary();
            Assert.That(shuffled.Select((s, i) => byId[s.Item1] == again[i]), Has.All.True, "a pure function of the steps, not of their order");
            Assert.That(split, Has.All.InRange(0, n - 1));
            // Longest-first greedy: no shard exceeds the mean by more than the largest step.
            var loads = ShardAssignment.Loads(steps, n);
            Assert.That(loads.Max(), Is.LessThanOrEqualTo(steps.Sum(s => s.Item2) / n + steps.Max(s => s.Item2) + 1e-9));
        }
        Assert.Throws<InvalidArgumentException>(() => ShardAssignment.Assign([("a", 1), ("a", 2)], 2));
    }

    [Test]
    public void Merge_TwoAndThreeShards_ResultsJsonByteIdenticalToUnsharded()
    {
        var two = ShardMerge.Merge([_tmp.Sub("of2/0"), _tmp.Sub("of2/1")], _tmp.Sub("merged2"));
        Assert.That(File.ReadAllBytes(_tmp.Sub("merged2/results.json")), Is.EqualTo(_reference));
        Assert.That((two.Kind, two.Shards, two.Steps), Is.EqualTo(("compare", 2, 4)));
        foreach (var f in new[] { "report.md", "report.html" }) Assert.That(File.Exists(_tmp.Sub("merged2/" + f)), f);
        Assert.That(Directory.GetFiles(_tmp.Sub("merged2/figures")).Select(Path.GetFileName),
            Is.EquivalentTo(Directory.GetFiles(_tmp.Sub("unsharded/figures")).Select(Path.GetFileName)));
        Assert.That(File.ReadAllText(_tmp.Sub("merged2/report.md")), Is.EqualTo(File.ReadAllText(_tmp.Sub("unsharded/report.md"))));

        // Three shards, given as the folder holding them (an Indexed Job's output); a compare over the merged folder resumes every step.
        for (int k = 0; k < 3; k++) ComparisonRunner.RunShard(Request(_tmp.Sub($"of3/{k}")), new ShardSpec(k, 3));
        var manifests = Enumerable.Range(0, 3).Select(k => ShardManifest.TryRead(_tmp.Sub($"of3/{k}"))!).ToList();
        Assert.That(manifests.Select(m => m.Steps.Count(s => s.Shard == m.Shard)).Sum(), Is.EqualTo(4), "each step in exactly one shard");
        Assert.That(manifests, Has.All.Matches<ShardManifest>(m => m.Complete && m.Plan == manifests[0].Plan));
        ShardMerge.Merge([_tmp.Sub("of3")], _tmp.Sub("merged3"));
        Assert.That(File.ReadAllBytes(_tmp.Sub("merged3/results.json")), Is.EqualTo(_reference));
        var rerun = ComparisonRunner.Run(Request(_tmp.Sub("merged3")));
        Assert.That((rerun.Ran, rerun.Resumed), Is.EqualTo((0, 4)));
        Assert.That(File.ReadAllBytes(_tmp.Sub("merged3/results.json")), Is.EqualTo(_reference));
    }

    /// <summary>Knowledge alone over 5 pairs: the one step dominates any split, so shards split it by pairs.</summary>
    static ComparisonConfig KnowledgeOnly => (Config with { Analyses = ["knowledge"] }).Set("knowledge.maxPairs=5");

    /// <summary>Every file of a report folder but run.json (dates, timings) and the journal (whose entries carry seconds), by relative path.</summary>
    static Dictionary<string, byte[]> ReportFiles(string dir) =>
        Directory.EnumerateFiles(dir, "*", SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(dir, f))
            .Where(f => f != "run.json" && !f.StartsWith(ResultsJournal.FolderName, StringComparison.Ordinal))
            .ToDictionary(f => f, f => File.ReadAllBytes(Path.Combine(dir, f)));

    [Test]
    public void Merge_DominatingStepSplitIntoPieces_ReportFolderByteIdenticalToUnsharded()
    {
        var config = KnowledgeOnly;
        var whole = ComparisonRunner.Run(Request(_tmp.Sub("k-unsharded"), config));
        var expected = ReportFiles(_tmp.Sub("k-unsharded"));
        Assert.That(expected.Keys, Has.Some.StartsWith("figures").And.Some.StartsWith("data"), "figures and data files are compared too");
        var traced = ((JsonObject)whole.Results["knowledge"]!)["cities"]!["pairsTraced"]!.GetValue<int>();
        Assert.That(traced, Is.EqualTo(5));

        foreach (int n in new[] { 2, 3 })
        {
            for (int k = 0; k < n; k++) ComparisonRunner.RunShard(Request(_tmp.Sub($"k-of{n}/{k}"), config), new ShardSpec(k, n));
            var m = ShardManifest.TryRead(_tmp.Sub($"k-of{n}/0"))!;
            // One step, split into one piece per shard: pairs [5k/n, 5(k+1)/n), i.e. 2+3 and 1+2+2.
            Assert.That(m.Steps.Select(t => (t.Name, t.Chunk, t.Chunks, t.Shard)),
                Is.EqualTo(Enumerable.Range(0, n).Select(k => ($"knowledge.cities.{k + 1}of{n}", (int?)k, (int?)n, k))), $"{n} shards");
            Assert.That(m.Steps.Select(t => t.WholeKey).Distinct().Count(), Is.EqualTo(1));
            var merged = ShardMerge.Merge([_tmp.Sub($"k-of{n}")], _tmp.Sub($"k-merged{n}"));
            Assert.That((merged.Steps, merged.Combined), Is.EqualTo((n, 1)));
            var actual = ReportFiles(_tmp.Sub($"k-merged{n}"));
            Assert.That(actual.Keys, Is.EquivalentTo(expected.Keys), $"{n} shards: the same files");
            foreach (var (f, bytes) in expected) Assert.That(actual[f], Is.EqualTo(bytes), $"{n} shards: {f} byte for byte");
            // The merged folder's journal holds the whole part under the unsharded run's key: a compare over it resumes it.
            var rerun = ComparisonRunner.Run(Request(_tmp.Sub($"k-merged{n}"), config));
            Assert.That((rerun.Ran, rerun.Resumed), Is.EqualTo((0, 1)));
        }

        // One shard splits nothing.
        ComparisonRunner.RunShard(Request(_tmp.Sub("k-of1/0"), config), new ShardSpec(0, 1));
        Assert.That(ShardManifest.TryRead(_tmp.Sub("k-of1/0"))!.Steps.Select(t => (t.Name, t.Chunks)), Is.EqualTo(new[] { ("knowledge.cities", (int?)null) }));
    }

    [Test]
    public void Merge_PieceMissingFromItsShard_RefusedNamingThePiece()
    {
        var config = KnowledgeOnly;
        for (int k = 0; k < 2; k++) ComparisonRunner.RunShard(Request(_tmp.Sub($"kp/{k}"), config), new ShardSpec(k, 2));
        var damaged = Copy(_tmp.Sub("kp/1"), _tmp.Sub("kp-damaged/1"));
        var journal = Path.Combine(damaged, ResultsJournal.FolderName);
        var removed = Directory.GetFiles(journal, "knowledge.cities.2of2*");
        Assert.That(removed, Is.Not.Empty);
        foreach (var f in removed) File.Delete(f);
        var e = Assert.Throws<ShardMismatchException>(() => ShardMerge.Merge([_tmp.Sub("kp/0"), damaged], _tmp.Sub("kp-merged")))!;
        Assert.That(e.Message, Does.Contain("knowledge.cities.2of2").And.Contain("has not finished"));
        Assert.That(Directory.Exists(_tmp.Sub("kp-merged")) && File.Exists(_tmp.Sub("kp-merged/results.json")), Is.False, "nothing written");
    }

    [Test]
    public void Merge_SplitPartWithAPieceLeftOutOfThePlan_RefusedNamingThePart()
    {
        var config = KnowledgeOnly;
        for (int k = 0; k < 2; k++) ComparisonRunner.RunShard(Request(_tmp.Sub($"kq/{k}"), config), new ShardSpec(k, 2));
        // Both manifests edited alike (so they still agree with each other): the second piece dropped from the plan.
        var folders = new List<string>();
        for (int k = 0; k < 2; k++)
        {
            var dir = Copy(_tmp.Sub($"kq/{k}"), _tmp.Sub($"kq-edited/{k}"));
            var path = Path.Combine(dir, ShardManifest.FileName);
            var json = JsonNode.Parse(File.ReadAllText(path))!;
            var steps = json["steps"]!.AsArray();
            Assert.That(steps.Select(t => t!["chunk"]?.GetValue<int>()), Is.EqualTo(new int?[] { 0, 1 }));
            steps.RemoveAt(1);
            File.WriteAllText(path, json.ToJsonString());
            folders.Add(dir);
        }
        var e = Assert.Throws<ShardMismatchException>(() => ShardMerge.Merge(folders, _tmp.Sub("kq-merged")))!;
        Assert.That(e.Message, Does.Contain("splits knowledge.cities into 2 pieces but lists only 1"));
        Assert.That(e.Field, Is.EqualTo("steps"));
    }

    [Test]
    public void Split_PiecesOnlyForAStepAboveOneShardsShare_AtMostItsPairsAndTheShards()
    {
        // The runner tests' full config: four analyses over one dataset; knowledge (3 pairs, 4 matrices) dominates.
        var plan = ComparisonRunner.Plan(Request(_tmp.Sub("unused"), Config), null, default);
        double total = plan.Steps.Sum(t => t.Cost);
        foreach (int n in new[] { 1, 2, 3, 4, 8 })
        {
            var split = ComparisonPlanner.Split([plan], n)[0].Steps;
            foreach (var step in plan.Steps)
            {
                var pieces = split.Where(t => t.Step == step.Step && t.Part.Id == step.Part.Id).ToList();
                int expected = n < 2 || step.Cost <= total / n ? 1
                    : (int)Math.Min(Math.Ceiling(step.Cost / (total / n)), Math.Min(n, step.Step.MaxChunks(plan.Options[step.Step.Name], step.Part)));
                Assert.That(pieces, Has.Count.EqualTo(expected), $"{step.Name}, {n} shards");
                if (expected == 1) { Assert.That(pieces[0], Is.SameAs(step)); continue; }
                Assert.That(pieces.Select(t => (t.Part.Chunk, t.Part.Chunks, t.WholeKey)), Is.EqualTo(Enumerable.Range(0, expected).Select(k => (k, expected, step.Key))));
                Assert.That(pieces.Select(t => t.Key).Append(step.Key).Distinct().Count(), Is.EqualTo(expected + 1), "each piece its own key");
                Assert.That(pieces.Sum(t => t.Cost), Is.EqualTo(step.Cost).Within(1e-9));
            }
        }
        Assert.That(ComparisonPlanner.Split([plan], 8)[0].Steps.Count(t => t.Step.Name == "knowledge"), Is.EqualTo(3), "at most one piece per traced pair");
    }

    [Test]
    public void Merge_MissingOrDuplicateShard_RefusedNamingTheShard()
    {
        var missing = Assert.Throws<ShardMismatchException>(() => ShardMerge.Merge([_tmp.Sub("of2/0")], _tmp.Sub("no-missing")))!;
        Assert.That((missing.Shard, missing.Field), Is.EqualTo(((int?)1, "shard")));
        Assert.That(missing.Message, Does.Contain("shard 1 of 2 is missing"));

        var twin = Copy(_tmp.Sub("of2/1"), _tmp.Sub("twin-1"));
        var dup = Assert.Throws<ShardMismatchException>(() => ShardMerge.Merge([_tmp.Sub("of2/0"), _tmp.Sub("of2/1"), twin], _tmp.Sub("no-dup")))!;
        Assert.That(dup.Shard, Is.EqualTo(1));
        Assert.That(dup.Message, Does.Contain("same index"));
        Assert.That(Directory.Exists(_tmp.Sub("no-missing")) || Directory.Exists(_tmp.Sub("no-dup")), Is.False, "nothing written");
    }

    [Test]
    public void Merge_ShardOfAnotherConfiguration_RefusedNamingShardAndField()
    {
        // Shard 1 run for real with other settings: its configuration, and so its plan, differ.
        var other = Config.Set("knowledge.maxPairs=2");
        ComparisonRunner.RunShard(Request(_tmp.Sub("other/1"), other), new ShardSpec(1, 2));
        var e = Assert.Throws<ShardMismatchException>(() => ShardMerge.Merge([_tmp.Sub("of2/0"), _tmp.Sub("other/1")], _tmp.Sub("no-config")))!;
        Assert.That((e.Shard, e.Field, e.File), Is.EqualTo(((int?)1, "config.analysisOptions", Path.Combine(_tmp.Sub("other/1"), ShardManifest.FileName))));
        Assert.That(e.Message, Does.Contain("shard 1 of 2").And.Contain("another configuration"));
    }

    [Test]
    public void Merge_ShardOfOtherModelsOrDatasets_RefusedNamingShardAndField()
    {
        // As shard.json records them: another checkpoint behind the same name, another dataset file behind the same path.
        foreach (var (edit, field) in new (Action<JsonObject>, string)[]
        {
            (m => m["comparisons"]![0]!["models"]![1]!["hash"] = "sha256:" + new string('0', 64), "models[post].hash"),
            (m => m["inputs"]![0]!["fingerprint"] = "sha256:" + new string('1', 64), "datasets[synthetic:cities]"),
        })
        {
            var copy = Copy(_tmp.Sub("of2/1"), _tmp.Sub("edited-" + Guid.NewGuid().ToString("N")));
            var path = Path.Combine(copy, ShardManifest.FileName);
            var json = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
            edit(json);
            File.WriteAllText(path, json.ToJsonString());
            var e = Assert.Throws<ShardMismatchException>(() => ShardMerge.Merge([_tmp.Sub("of2/0"), copy], _tmp.Sub("no-models")))!;
            Assert.That((e.Shard, e.Field), Is.EqualTo(((int?)1, field)));
        }
    }

    [Test]
    public void Merge_UnfinishedShard_RefusedNamingTheShardAndStep()
    {
        var copy = Copy(_tmp.Sub("of2/0"), _tmp.Sub("unfinished-0"));
        var mine = ShardManifest.TryRead(copy)!.Steps.First(s => s.Shard == 0);
        File.Delete(Path.Combine(copy, ResultsJournal.FolderName, mine.Name + ".json"));
        var e = Assert.Throws<ShardMismatchException>(() => ShardMerge.Merge([copy, _tmp.Sub("of2/1")], _tmp.Sub("no-unfinished")))!;
        Assert.That((e.Shard, e.Field, e.Value), Is.EqualTo(((int?)0, "steps", mine.Id)));
        Assert.That(e.Message, Does.Contain("has not finished"));
    }

    [Test]
    public void RunShard_StoppedMidStepThenRunAgain_ResumesAndMergesToTheSameBytes()
    {
        // Stop shard 0 of 2 once its second step has started: its first is journaled, the second abandoned.
        var dir = _tmp.Sub("stopped/0");
        using var cts = new CancellationTokenSource();
        var steps = new List<string>();
        var progress = new SyncProgress<ComparisonProgress>(p =>
        {
            if (p.Status == StepStatus.Running && p.Step == 2) cts.Cancel();
            if (p.Status == StepStatus.Finished) steps.Add(p.Name);
        });
        Assert.Catch<OperationCanceledException>(() => ComparisonRunner.RunShard(Request(dir), new ShardSpec(0, 2), progress, cancellation: cts.Token));
        Assert.That(steps, Has.Count.EqualTo(1));
        Assert.That(ShardManifest.TryRead(dir)!.Complete, Is.False);
        Assert.That(Directory.GetDirectories(Path.Combine(dir, ResultsJournal.FolderName), ".*"), Is.Empty, "the stopped step's staging folder is removed");

        var again = ComparisonRunner.RunShard(Request(dir), new ShardSpec(0, 2));
        Assert.That((again.Resumed, again.Ran), Is.EqualTo((1, again.Steps - 1)));
        ShardMerge.Merge([dir, _tmp.Sub("of2/1")], _tmp.Sub("merged-stopped"));
        Assert.That(File.ReadAllBytes(_tmp.Sub("merged-stopped/results.json")), Is.EqualTo(_reference));
    }

    [Test]
    public void RunShard_TwoWorkersGivenOneIndex_TakeTurnsAndMergeToTheSameBytes()
    {
        var dir = _tmp.Sub("twins/1");
        var logs = new[] { new List<string>(), new List<string>() };
        var workers = Enumerable.Range(0, 2).Select(w => Task.Run(() =>
            ComparisonRunner.RunShard(Request(dir), new ShardSpec(1, 2), log: line => { lock (logs) logs[w].Add(line); }))).ToArray();
        Task.WaitAll(workers);
        var outcomes = workers.Select(t => t.Result).ToList();
        Assert.That(outcomes.Sum(o => o.Ran), Is.EqualTo(outcomes[0].Steps), "each step ran once: one worker ran them, the other found them journaled");
        Assert.That(outcomes.Select(o => o.Resumed), Does.Contain(outcomes[0].Steps));
        ShardMerge.Merge([_tmp.Sub("of2/0"), dir], _tmp.Sub("merged-twins"));
        Assert.That(File.ReadAllBytes(_tmp.Sub("merged-twins/results.json")), Is.EqualTo(_reference));
    }

    [Test]
    public void RunShard_FolderOfAnotherShardOrAReport_Refused()
    {
        var e = Assert.Throws<InvalidArgumentException>(() => ComparisonRunner.RunShard(Request(_tmp.Sub("of2/0")), new ShardSpec(1, 2)))!;
        Assert.That(e.Message, Does.Contain("holds shard 0/2"));
        Assert.Throws<InvalidArgumentException>(() => ComparisonRunner.RunShard(Request(_tmp.Sub("unsharded")), new ShardSpec(0, 2)));
        Assert.Throws<InvalidArgumentException>(() => ComparisonRunner.Run(Request(_tmp.Sub("of2/1"))), "a shard folder is no report folder");
    }
}
