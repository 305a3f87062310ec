using OnnxInterp.Tests.Comparison;

namespace OnnxInterp.Tests.Support;

/// <summary>
/// Verb tests over the tiny random pair (<see cref="ComparisonRunnerTests.WriteTinyPair"/>): the pair written once per
/// fixture into <see cref="Tmp"/> (base/, post/), and the arguments every verb over it starts with.
/// </summary>
public abstract class TinyPairFixture
{
    protected TempDir Tmp { get; private set; } = null!;

    [OneTimeSetUp]
    public void WriteTinyPair()
    {
        Tmp = new TempDir();
        ComparisonRunnerTests.WriteTinyPair(Tmp.Path);
    }

    [OneTimeTearDown]
    public void DeleteTinyPair() => Tmp.Dispose();

    /// <summary><paramref name="verb"/> over base and post into <paramref name="outDir"/>, the fixture's export cache, on synthetic:cities.</summary>
    protected string[] PairArgs(string verb, string outDir) =>
        [verb, "--base", Tmp.Sub("base"), "--post", Tmp.Sub("post"), "--out", outDir, "--cache-dir", Tmp.Sub("cache"), "--datasets", "synthetic:cities"];
}
