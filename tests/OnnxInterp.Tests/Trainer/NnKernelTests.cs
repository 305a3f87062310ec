using OnnxInterp.Trainer;
using OnnxInterp.Trainer.Kernels;

namespace OnnxInterp.Tests.Trainer;

/// <summary>Row kernels against naive double formulas (seeded inputs, tolerances in float epsilons).</summary>
public class NnKernelTests
{
    [Test]
    public void RmsNorm_MatchesNaiveWithin1e6Relative()
    {
        var rng = new Random(1);
        var x = Enumerable.Range(0, 37).Select(_ => (float)(rng.NextDouble() * 4 - 2)).ToArray();
        var w = Enumerable.Range(0, 37).Select(_ => (float)(rng.NextDouble() + 0.5)).ToArray();
        var y = new float[37];
        float r = NnKernels.RmsNorm(x, w, y, 1e-5f);
        double inv = 1 / Math.Sqrt(x.Sum(v => (double)v * v) / 37 + 1e-5);
        Assert.That(r, Is.EqualTo(inv).Within(1e-6 * inv));
        for (int i = 0; i < 37; i++) Assert.That(y[i], Is.EqualTo(x[i] * inv * w[i]).Within(1e-5));
    }

    [Test]
    public void Rope_InverseUndoesForward_AndMatchesRotateHalf()
    {
        var rng = new Random(2);
        var x = Enumerable.Range(0, 8).Select(_ => (float)(rng.NextDouble() - 0.5)).ToArray();
        float[] cos = [0.3f, 0.8f, -0.2f, 1f], sin = [MathF.Sqrt(1 - 0.09f), MathF.Sqrt(1 - 0.64f), MathF.Sqrt(1 - 0.04f), 0f];
        var y = (float[])x.Clone();
        NnKernels.Rope(y, cos, sin, inverse: false);
        for (int j = 0; j < 4; j++)
        {
            Assert.That(y[j], Is.EqualTo(x[j] * cos[j] - x[j + 4] * sin[j]).Within(1e-6));
            Assert.That(y[j + 4], Is.EqualTo(x[j + 4] * cos[j] + x[j] * sin[j]).Within(1e-6));
        }
        NnKernels.Rope(y, cos, sin, inverse: true);
        Assert.That(y, Is.EqualTo(x).AsCollection.Within(1e-6));
    }

    [Test]
    public void CrossEntropy_GradientIsSoftmaxMinusOneHotTimesWeight()
    {
        float[] z = [1f, -2f, 0.5f, 3f];
        var g = (float[])z.Clone();
        float loss = NnKernels.CrossEntropyInPlace(g, target: 2, weight: 0.25f);
        double lse = Math.Log(z.Sum(v => Math.Exp(v)));
        Assert.That(loss, Is.EqualTo(lse - 0.5).Within(1e-6));
        for (int i = 0; i < 4; i++) Assert.That(g[i], Is.EqualTo(0.25 * (Math.Exp(z[i] - lse) - (i == 2 ? 1 : 0))).Within(1e-7));
    }

    [Test]
    public void TrainerConfig_KvHeadsNotDividingHeads_ThrowsNamingField()
    {
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => new TinyLlama(TrainerTestModels.Tiny with { KvHeads = 3 }));
        Assert.That(ex!.ParamName, Is.EqualTo("KvHeads"));
        Assert.Throws<ArgumentOutOfRangeException>(() => (TrainerTestModels.Tiny with { HeadDim = 5 }).Validate());
    }

    [Test]
    public void TinyLlama_Create_NormsOneAndCheckpointOrder()
    {
        var m = TinyLlama.Create(TrainerTestModels.Tiny, seed: 1);
        Assert.That(m.Parameters.Where(p => p.IsNorm).SelectMany(p => p.Data), Is.All.EqualTo(1f));
        Assert.That(m.Parameters[0].Name, Is.EqualTo("model.embed_tokens.weight"));
        Assert.That(m.Parameters[^1].Name, Is.EqualTo("lm_head.weight"));
        Assert.That(m["model.layers.1.self_attn.k_proj.weight"].Shape, Is.EqualTo(new[] { 8, 16 }));
        var std = Math.Sqrt(m["model.layers.0.mlp.up_proj.weight"].Data.Average(v => (double)v * v));
        Assert.That(std, Is.EqualTo(0.02).Within(10).Percent);
    }
}
