using System.Diagnostics;
using System.Numerics.Tensors;
using OnnxInterp.Trainer.Kernels;

namespace OnnxInterp.Trainer;

/// <summary>Training throughput at a family-sized config, against our SGEMM and a TensorPrimitives.Dot GEMM.</summary>
public static class Bench
{
    public sealed record Result(double TokensPerSecond, double TrainGflops, double SgemmGflops, double DotGemmGflops, double FlopsPerToken, SgemmKernel Kernel);

    /// <summary>
    /// Training FLOPs per token: 6·(matmul parameters, i.e. all but the embedding and the norm gains) for forward
    /// (2·P) plus backward (4·P), plus attention 3·(2·2·layers·heads·hd·(T+1)/2): QKᵀ and P·V over the causal
    /// triangle (on average (T+1)/2 keys per query), forward once, backward twice.
    /// </summary>
    public static double FlopsPerToken(TrainerConfig c, int seqLen)
    {
        long matmul = (long)c.Layers * (2L * c.Hidden * c.QDim + 2L * c.Hidden * c.KvDim + 3L * c.Hidden * c.Intermediate) + (long)c.Vocab * c.Hidden;
        double attention = 3.0 * 2 * 2 * c.Layers * c.Heads * c.HeadDim * (seqLen + 1) / 2.0;
        return 6.0 * matmul + attention;
    }

    public static Result Run(TrainerConfig config, int batch, int seqLen, int steps, int gemmSize, TextWriter log)
    {
        log.WriteLine($"cores {Environment.ProcessorCount}, SGEMM kernel {Sgemm.AutoKernel}");
        double sgemm = SgemmGflops(gemmSize, Sgemm.AutoKernel);
        log.WriteLine($"own SGEMM {gemmSize}^3 (A·Bᵀ, {Sgemm.AutoKernel}): {sgemm:F1} GFLOP/s");
        double dot = DotGemmGflops(gemmSize);
        log.WriteLine($"TensorPrimitives.Dot GEMM {gemmSize}^3 (row·row, parallel rows): {dot:F1} GFLOP/s");

        var model = TinyLlama.Create(config, seed: 1);
        var pass = new TrainingPass(model, batch, seqLen);
        var opt = new AdamW(model);
        var rng = new Random(2);
        int n = batch * seqLen;
        var ids = new int[n];
        var targets = new int[n];
        var mask = new float[n];
        for (int i = 0; i < n; i++) { ids[i] = rng.Next(config.Vocab); targets[i] = rng.Next(config.Vocab); mask[i] = 1; }
        void Step()
        {
            pass.ForwardBackward(ids, targets, mask);
            AdamW.ClipGlobalNorm(pass.Gradients, 1.0);
            opt.Update(pass.Gradients, 1e-3);
        }
        for (int i = 0; i < 8; i++) Step();  // past tier-0 JIT of every method on the path
        var sw = Stopwatch.StartNew();
        for (int i = 0; i < steps; i++) Step();
        double secs = sw.Elapsed.TotalSeconds;
        // Split of one step, for where the time goes.
        var split = Stopwatch.StartNew();
        for (int i = 0; i < steps; i++) { pass.Forward(ids); pass.Loss(targets, mask); }
        double fwd = split.Elapsed.TotalSeconds / steps;
        split.Restart();
        for (int i = 0; i < steps; i++) opt.Update(pass.Gradients, 1e-3);
        double upd = split.Elapsed.TotalSeconds / steps;
        double tps = steps * (double)n / secs;
        double fpt = FlopsPerToken(config, seqLen);
        double gf = tps * fpt / 1e9;
        log.WriteLine($"model: {model.ParameterCount:N0} parameters, hidden {config.Hidden}, {config.Layers} layers, {config.Heads}/{config.KvHeads} heads of {config.HeadDim}, MLP {config.Intermediate}, vocab {config.Vocab}; batch {batch} x T {seqLen}");
        log.WriteLine($"training: {secs / steps * 1000:F0} ms/step, {tps:F0} tokens/s, {fpt / 1e6:F2} MFLOP/token -> {gf:F1} GFLOP/s ({gf / sgemm:P0} of own SGEMM)");
        log.WriteLine($"  split: forward+loss {fwd * 1000:F0} ms, backward {(secs / steps - fwd - upd) * 1000:F0} ms, AdamW {upd * 1000:F0} ms");
        foreach (var tokens in new[] { 3e6, 5e6 })
            log.WriteLine($"  {tokens / 1e6:F0}M tokens would take {tokens / tps / 60:F1} min");
        return new Result(tps, gf, sgemm, dot, fpt, Sgemm.AutoKernel);
    }

    public static double SgemmGflops(int size, SgemmKernel kernel, int reps = 10)
    {
        var (a, b, c) = Operands(size);
        for (int r = 0; r < 40; r++) Sgemm.NT(size, size, size, a, size, b, size, c, size, false, kernel);  // tier up
        var sw = Stopwatch.StartNew();
        for (int r = 0; r < reps; r++) Sgemm.NT(size, size, size, a, size, b, size, c, size, false, kernel);
        return 2.0 * size * size * size * reps / sw.Elapsed.TotalSeconds / 1e9;
    }

    /// <summary>The obvious fast-enough GEMM: C[i,j] = Dot(A row i, Bᵀ row j), rows in parallel.</summary>
    public static void DotGemm(int m, int n, int k, float[] a, float[] bT, float[] c) =>
        Parallel.For(0, m, i =>
        {
            var ai = a.AsSpan(i * k, k);
            for (int j = 0; j < n; j++) c[i * n + j] = TensorPrimitives.Dot(ai, bT.AsSpan(j * k, k));
        });

    public static double DotGemmGflops(int size, int reps = 5)
    {
        var (a, b, c) = Operands(size);
        for (int r = 0; r < 40; r++) DotGemm(size, size, size, a, b, c);
        var sw = Stopwatch.StartNew();
        for (int r = 0; r < reps; r++) DotGemm(size, size, size, a, b, c);
        return 2.0 * size * size * size * reps / sw.Elapsed.TotalSeconds / 1e9;
    }

    static (float[] A, float[] B, float[] C) Operands(int size)
    {
        var rng = new Random(3);
        var a = new float[size * size];
        var b = new float[size * size];
        for (int i = 0; i < a.Length; i++) { a[i] = (float)(rng.NextDouble() - 0.5); b[i] = (float)(rng.NextDouble() - 0.5); }
        return (a, b, new float[size * size]);
    }
}
