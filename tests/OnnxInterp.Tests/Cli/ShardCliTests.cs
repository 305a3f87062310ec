using OnnxInterp.Cli;
using OnnxInterp.Comparison;
using OnnxInterp.Tests.Comparison;
using OnnxInterp.Tests.Support;
using static OnnxInterp.Tests.Support.CliRunner;

namespace OnnxInterp.Tests.Cli;

/// <summary>`compare --shard`/`--shards`, `merge` and `sweep` as a user meets them: exit codes, messages, files.</summary>
public class ShardCliTests : TinyPairFixture
{
    string[] Tiny(string outDir, params string[] more) =>
        [.. PairArgs("compare", outDir), "--only", "knowledge,refusal", .. ComparisonRunnerTests.TinySettings.SelectMany(s => new[] { "--set", s }), .. more];

    [Test]
    public void Compare_ShardAndShardsThenMerge_TheUnshardedResults()
    {
        var whole = Run(Tiny(Tmp.Sub("whole")));
        Assert.That(whole.Code, Is.Zero, whole.Err);

        var first = Run(Tiny(Tmp.Sub("shards/a"), "--shard", "0/2"));
        Assert.That(first.Code, Is.Zero, first.Err);
        Assert.That(first.Out, Does.Contain("shard 0/2: 2 of 3 steps journaled").And.Contain("onnxinterp merge"));
        Assert.That(File.Exists(Tmp.Sub("shards/a/results.json")), Is.False, "a shard writes no report");
        // The other as a pod of an Indexed Job runs it: --shards N, the index in JOB_COMPLETION_INDEX.
        Environment.SetEnvironmentVariable(ShardSpec.IndexVariable, "1");
        try
        {
            var second = Run(Tiny(Tmp.Sub("shards/b"), "--shards", "2"));
            Assert.That(second.Code, Is.Zero, second.Err);
            Assert.That(second.Out, Does.Contain("shard 1/2"));
        }
        finally
        {
            Environment.SetEnvironmentVariable(ShardSpec.IndexVariable, null);
        }

        var merged = Run("merge", Tmp.Sub("shards"), "--out", Tmp.Sub("merged"));
        Assert.That(merged.Code, Is.Zero, merged.Err);
        Assert.That(merged.Out, Does.Contain("report written to").And.Contain("compare: 2 shards, 3 steps; 1 part put together from pieces"));
        Assert.That(File.ReadAllBytes(Tmp.Sub("merged/results.json")), Is.EqualTo(File.ReadAllBytes(Tmp.Sub("whole/results.json"))));

        var missing = Run("merge", Tmp.Sub("shards/b"), "--out", Tmp.Sub("merged-missing"));
        Assert.That(missing.Code, Is.EqualTo(ExitCodes.InvalidInput));
        Assert.That(missing.Err, Does.Contain("shard 0 of 2 is missing").And.Not.Contain("   at "));
    }

    [Test]
    public void Mistakes_GiveMessagesAndExitCodes()
    {
        Environment.SetEnvironmentVariable(ShardSpec.IndexVariable, null);
        var cases = new (string[] Args, string Message)[]
        {
            (Tiny(Tmp.Sub("m1"), "--shard", "2/2"), "counts from 0: 0..1"),
            (Tiny(Tmp.Sub("m2"), "--shard", "one"), "expected K/N"),
            (Tiny(Tmp.Sub("m3"), "--shard", "0/2", "--shards", "2"), "not both"),
            (Tiny(Tmp.Sub("m4"), "--shards", "2"), ShardSpec.IndexVariable),
            (["merge", Tmp.Path, "--out", Tmp.Sub("m5")], "not a shard folder"),
            (["sweep", "--base", Tmp.Sub("base"), "--post", Tmp.Sub("nothing-*"), "--out", Tmp.Sub("m6")], "no checkpoint folder matches"),
        };
        foreach (var (args, message) in cases)
        {
            var r = Run(args);
            Assert.That(r.Code, Is.EqualTo(ExitCodes.InvalidInput), string.Join(" ", args) + "\n" + r.Err);
            Assert.That(r.Err, Does.Contain(message), string.Join(" ", args));
        }
        Assert.That(Run("merge", "--out", Tmp.Sub("m7")).Code, Is.EqualTo(ExitCodes.Usage), "a shard folder is required");
    }

    [Test]
    public void Help_NewVerbs_HaveExamples()
    {
        foreach (var verb in new[] { "sweep", "merge" })
            Assert.That(Run(verb, "--help").Out, Does.Contain("Examples:"), verb);
        Assert.That(Run("compare", "--help").Out, Does.Contain("--shard").And.Contain("--shards"));
        Assert.That(Run("demo", "--help").Out, Does.Contain("--sweep"));
    }
}
