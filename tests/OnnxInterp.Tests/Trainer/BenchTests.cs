using OnnxInterp.Trainer;

namespace OnnxInterp.Tests.Trainer;

public class BenchTests
{
    [Test]
    public void FlopsPerToken_FamilyConfig_SixTimesMatmulParamsPlusCausalAttention()
    {
        var c = TrainerConfig.Family with { Vocab = 1000 };
        long matmul = 4L * (256 * 256 * 2 + 256 * 128 * 2 + 3 * 256 * 688) + 1000 * 256;
        double attention = 3.0 * 2 * 2 * 4 * 8 * 32 * 65 / 2.0;
        Assert.That(Bench.FlopsPerToken(c, 64), Is.EqualTo(6.0 * matmul + attention));
    }

    [Test]
    public void Run_TinyConfig_ReportsPositiveThroughputs()
    {
        var log = new StringWriter();
        var r = Bench.Run(TrainerTestModels.Tiny, batch: 2, seqLen: 8, steps: 2, gemmSize: 64, log);
        Assert.That(new[] { r.TokensPerSecond, r.TrainGflops, r.SgemmGflops, r.DotGemmGflops }, Is.All.GreaterThan(0));
        Assert.That(log.ToString(), Does.Contain("tokens/s"));
    }

    [Test]
    public void DotGemm_EqualsSgemm()
    {
        var rng = new Random(1);
        var a = Enumerable.Range(0, 6 * 5).Select(_ => (float)rng.NextDouble()).ToArray();
        var bT = Enumerable.Range(0, 7 * 5).Select(_ => (float)rng.NextDouble()).ToArray();
        var c1 = new float[42];
        var c2 = new float[42];
        Bench.DotGemm(6, 7, 5, a, bT, c1);
        OnnxInterp.Trainer.Kernels.Sgemm.NT(6, 7, 5, a, 5, bT, 5, c2, 7, false);
        Assert.That(c1, Is.EqualTo(c2).AsCollection.Within(1e-5));
    }
}
