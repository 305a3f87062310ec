using OnnxInterp.Analysis.Refusal;
using OnnxInterp.Runtime;
using OnnxInterp.Tests.Reference;
using OnnxInterp.Tests.Support;

namespace OnnxInterp.Tests.Analysis.Refusal;

public class RefusalDirectionTests
{
    [Test]
    public void MeanDifference_OnSyntheticActivations_IsTheHandComputation()
    {
        float[][] harmful = [[1, 2, 3], [3, 2, 1], [2, 8, -1]];
        float[][] harmless = [[0, 0, 1], [2, 0, -1]];
        // means (2, 4, 1) and (1, 0, 0).
        var diff = RefusalDirections.MeanDifference(harmful, harmless);
        Assert.That(diff, Is.EqualTo(new[] { 1f, 4f, 1f }).Within(1e-6));
        var d = new RefusalDirection("m", 0, -1, diff);
        Assert.That(d.Norm, Is.EqualTo(Math.Sqrt(18)).Within(1e-6));
        Assert.That(d.Unit, Is.EqualTo(new[] { 1 / Math.Sqrt(18), 4 / Math.Sqrt(18), 1 / Math.Sqrt(18) }).Within(1e-6));
        var other = new RefusalDirection("n", 0, -1, [0f, 0f, 5f]);
        Assert.That(RefusalDirection.Cosine(d, other), Is.EqualTo(1 / Math.Sqrt(18)).Within(1e-6));
        Assert.Throws<InvalidArgumentException>(() => _ = new RefusalDirection("z", 0, -1, [0f, 0f]).Unit);
        Assert.Throws<InvalidArgumentException>(() => RefusalDirections.MeanDifference(harmful, []));
    }

    [TestCaseSource(typeof(HookedModels), nameof(HookedModels.Kinds))]
    public void MeanDifferences_OnAModel_EqualPerPromptCapturesAveraged(string kind)
    {
        using var tmp = new TempDir();
        var ckpt = TinyCheckpointFactory.Create(new TinyCheckpointSpec { NumLayers = 3, Seed = 5 });
        var model = HookedModels.Open(kind, TestCheckpoints.Write(ckpt, tmp.Sub("hf")), tmp.Sub("onnx"));
        int[][] harmful = [[1, 2, 3, 4, 5], [9, 8, 7], [40, 41, 42, 43]];
        int[][] harmless = [[11, 12, 13], [20, 21, 22, 23, 24, 25]];
        int[] layers = [0, 2], positions = [-3, -1];
        // Batches of 2 mix prompt lengths, so left padding is exercised.
        var grid = RefusalDirections.MeanDifferences(model, harmful, harmless, layers, positions, padTokenId: 0, batchSize: 2);
        for (int pi = 0; pi < positions.Length; pi++)
            for (int li = 0; li < layers.Length; li++)
            {
                float[] One(int[] prompt)
                {
                    var t = model.Run(new ForwardRequest([prompt]) { Hooks = [$"blocks.{layers[li]}.hook_resid_pre"] })[HookName.ResidPre(layers[li])];
                    return t.Vector(0, prompt.Length + positions[pi]).ToArray();
                }
                var expected = RefusalDirections.MeanDifference(harmful.Select(One).ToList(), harmless.Select(One).ToList());
                Assert.That(Compare.MaxAbsDiff(grid[pi][li], expected), Is.LessThan(1e-4), $"layer {layers[li]} position {positions[pi]}");
            }
        Assert.That(grid[1][1].Any(x => Math.Abs(x) > 1e-3), "the classes differ");
        Assert.Throws<InvalidArgumentException>(() => RefusalDirections.MeanDifferences(model, harmful, harmless, [0], [-4], 0), "-4 is before the shortest prompt");
        Assert.Throws<InvalidArgumentException>(() => RefusalDirections.MeanDifferences(model, harmful, harmless, [3], [-1], 0), "no layer 3");
        HookedModels.Dispose(model);
    }
}
