using OnnxInterp.Data;

namespace OnnxInterp.Tests.Data;

/// <summary>
/// Python's random and numpy's legacy RandomState, reproduced bit for bit. Expected values: CPython 3.11's random
/// module (printed by `python3 -c "import random; random.seed(1); ..."`), and numpy's documented
/// RandomState(42).permutation(10) = [8, 1, 5, 0, 7, 2, 9, 4, 3, 6]; the 520-item permutation was computed by hand
/// from the algorithm (init_genrand(42), then random_interval on CPython's MT19937 core via random.setstate).
/// </summary>
[TestFixture]
public class PaperRandomTests
{
    [Test]
    public void PythonRandom_Seed1_FirstDoublesMatchCPython()
    {
        var r = new PythonRandom(1);
        Assert.That(new[] { r.Random(), r.Random(), r.Random() },
            Is.EqualTo(new[] { 0.13436424411240122, 0.8474337369372327, 0.763774618976614 }));
    }

    [Test]
    public void PythonRandom_Shuffle_MatchesCPython()
    {
        var list = Enumerable.Range(0, 10).ToList();
        new PythonRandom(1).Shuffle(list);
        Assert.That(list, Is.EqualTo(new[] { 6, 8, 9, 7, 5, 3, 0, 4, 1, 2 }));
    }

    [Test]
    public void PythonRandom_RepeatedInPlaceShuffles_MatchCPython()
    {
        // random.seed(1); ex = list("abcd"); five times: random.shuffle(ex) — the knowledge prompts' few-shot order.
        var r = new PythonRandom(1);
        var ex = new List<char>("abcd");
        var seen = new List<string>();
        for (int i = 0; i < 5; i++) { r.Shuffle(ex); seen.Add(new string(ex.ToArray())); }
        Assert.That(seen, Is.EqualTo(new[] { "dacb", "badc", "bdac", "acbd", "dbca" }));
    }

    [Test]
    public void PythonRandom_GetRandBitsAndRandBelow_MatchCPython()
    {
        var r = new PythonRandom(42);
        Assert.That(r.GetRandBits(32), Is.EqualTo(2746317213u));
        Assert.That(r.RandBelow(1000), Is.EqualTo(114));
    }

    [Test]
    public void PythonRandom_SeedAbove32Bits_UsesTwoKeyWords()
    {
        Assert.That(new PythonRandom((1L << 40) + 5).Random(), Is.EqualTo(0.5043802970418443));
    }

    [Test]
    public void NumpyRandomState_Permutation10_MatchesNumpy()
    {
        Assert.That(new NumpyRandomState(42).Permutation(10), Is.EqualTo(new[] { 8, 1, 5, 0, 7, 2, 9, 4, 3, 6 }));
    }

    [Test]
    public void NumpyRandomState_Permutation520_MatchesHandComputation()
    {
        var p = new NumpyRandomState(42).Permutation(520);
        Assert.That(p.Take(10), Is.EqualTo(new[] { 275, 93, 6, 167, 90, 513, 362, 228, 192, 482 }));
        Assert.That(p.TakeLast(5), Is.EqualTo(new[] { 71, 106, 270, 435, 102 }));
        Assert.That(p.Order(), Is.EqualTo(Enumerable.Range(0, 520)));
    }

    [Test]
    public void TrainTestSplit_TestIsPermutationHead_TrainIsTheRest()
    {
        var items = Enumerable.Range(0, 10).Select(i => $"x{i}").ToArray();
        var (train, test) = NumpyRandomState.TrainTestSplit(items, 0.2, 42);
        Assert.That(test, Is.EqualTo(new[] { "x8", "x1" }));
        Assert.That(train, Is.EqualTo(new[] { "x5", "x0", "x7", "x2", "x9", "x4", "x3", "x6" }));
    }

    [Test]
    public void TrainTestSplit_TestSizeRoundsUp()
    {
        var (train, test) = NumpyRandomState.TrainTestSplit(Enumerable.Range(0, 11).ToArray(), 0.2, 42);
        Assert.That((train.Count, test.Count), Is.EqualTo((8, 3)));  // ceil(2.2) = 3
    }

    [Test]
    public void NumpyInterval_StaysInRange()
    {
        var r = new NumpyRandomState(7);
        for (int max = 0; max < 300; max++)
            Assert.That(r.Interval(max), Is.InRange(0, max));
    }
}
