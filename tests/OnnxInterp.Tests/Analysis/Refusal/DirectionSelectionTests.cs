using OnnxInterp.Analysis.Refusal;

namespace OnnxInterp.Tests.Analysis.Refusal;

public class DirectionSelectionTests
{
    static readonly SelectionOptions Defaults = new();

    [Test]
    public void Choose_ConstructedCase_DropsPrunedHighKlAndNonInducing_KeepsLowestAblation()
    {
        // 6 layers: layers 4 and 5 are the last 20% (4 >= floor(6 · 0.8)).
        CandidateScore[] c =
        [
            new(5, -1, AblationScore: -10, AdditionScore: 5, Kl: 0.0),   // best ablation, but a pruned layer
            new(4, -2, AblationScore: -9, AdditionScore: 5, Kl: 0.0),    // pruned too
            new(1, -1, AblationScore: -8, AdditionScore: 5, Kl: 0.5),    // moves harmless outputs
            new(2, -1, AblationScore: -7, AdditionScore: -0.1, Kl: 0.0), // does not induce refusal
            new(3, -2, AblationScore: -2, AdditionScore: 1, Kl: 0.05),   // kept
            new(0, -1, AblationScore: -1, AdditionScore: 0, Kl: 0.1),    // kept (thresholds are inclusive)
            new(2, -2, AblationScore: double.NaN, AdditionScore: 1, Kl: 0),
        ];
        var (chosen, marked, relaxed) = DirectionSelection.Choose(c, 6, Defaults);
        Assert.That((chosen.Layer, chosen.Position), Is.EqualTo((3, -2)));
        Assert.That(relaxed, Is.Empty);
        Assert.That(marked.Select(m => m.Discarded), Is.EqualTo(new string?[]
        {
            DirectionSelection.PrunedLayer, DirectionSelection.PrunedLayer, DirectionSelection.HighKl, DirectionSelection.NoInduce, null, null,
            DirectionSelection.NotFinite,
        }));
    }

    [Test]
    public void Choose_NothingInduces_RelaxesTheInduceFilterOnly_AndSaysSo()
    {
        CandidateScore[] c =
        [
            new(0, -1, AblationScore: -3, AdditionScore: -1, Kl: 0.01),
            new(1, -1, AblationScore: -6, AdditionScore: -2, Kl: 0.5),  // lower, but fails KL too
            new(2, -1, AblationScore: -4, AdditionScore: -1, Kl: 0.02),
            new(9, -1, AblationScore: -9, AdditionScore: 1, Kl: 0.0),   // pruned (10 layers)
        ];
        var (chosen, _, relaxed) = DirectionSelection.Choose(c, 10, Defaults);
        Assert.That((chosen.Layer, relaxed), Is.EqualTo((2, (IReadOnlyList<string>)[DirectionSelection.NoInduce])));
    }

    [Test]
    public void Choose_OneLayerModel_RelaxesPruningOnly()
    {
        var (chosen, _, relaxed) = DirectionSelection.Choose([new(0, -1, -1, 1, 0), new(0, -2, -2, 1, 0)], 1, Defaults);
        Assert.That((chosen.Position, relaxed), Is.EqualTo((-2, (IReadOnlyList<string>)[DirectionSelection.PrunedLayer])));
    }

    [Test]
    public void Choose_TiesAndThresholds_FollowTheOptions()
    {
        CandidateScore[] c = [new(0, -1, -5, 0.5, 0.2), new(1, -1, -5, 0.5, 0.01), new(2, -1, -5, 0.5, 0.01)];
        Assert.That(DirectionSelection.Choose(c, 10, Defaults).Chosen.Layer, Is.EqualTo(1), "first of equal scores");
        Assert.That(DirectionSelection.Choose(c, 10, Defaults with { KlThreshold = 0.3 }).Chosen.Layer, Is.EqualTo(0));
        Assert.That(DirectionSelection.Choose(c, 10, Defaults with { InduceThreshold = 1 }).Relaxed, Is.EqualTo(new[] { DirectionSelection.NoInduce }));
        // Only layer 0 survives pruning, and it fails the KL filter: relaxed, it is chosen.
        var onlyFirst = DirectionSelection.Choose(c, 10, Defaults with { PruneLayerFraction = 0.85 });
        Assert.That((onlyFirst.Chosen.Layer, onlyFirst.Relaxed), Is.EqualTo((0, (IReadOnlyList<string>)[DirectionSelection.HighKl])));
        var none = DirectionSelection.Choose(c, 10, Defaults with { PruneLayerFraction = 0.95 });
        Assert.That((none.Chosen.Layer, none.Relaxed), Is.EqualTo((0, (IReadOnlyList<string>)[DirectionSelection.PrunedLayer, DirectionSelection.HighKl])));
    }

    [Test]
    public void Choose_AllNotFinite_IsAnError()
    {
        Assert.Throws<InvalidArgumentException>(() => DirectionSelection.Choose([new(0, -1, double.NaN, 0, 0)], 4, Defaults));
        Assert.Throws<InvalidArgumentException>(() => DirectionSelection.Choose([], 4, Defaults));
    }

    [TestCase(6, 0.2, 4)]
    [TestCase(32, 0.2, 25)]
    [TestCase(1, 0.2, 1)]
    [TestCase(6, 0.0, 6)]
    public void KeptLayers_IsFloorOfTheUnprunedShare_AtLeastOne(int layers, double fraction, int expected) =>
        Assert.That(DirectionSelection.KeptLayers(layers, fraction), Is.EqualTo(expected));
}
