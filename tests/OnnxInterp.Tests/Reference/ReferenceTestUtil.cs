namespace OnnxInterp.Tests.Reference;

/// <summary>Small helpers shared by the reference tests.</summary>
internal static class ReferenceTestUtil
{
    public static ReferenceTransformer Model(TinyCheckpoint ckpt) => new(ckpt.Config, ckpt.Weights);

    public static ReferenceTransformer Model(TinyCheckpointSpec spec) => Model(TinyCheckpointFactory.Create(spec));

    public static int[] Tokens(int seed, int length, int vocab)
    {
        var rng = new Random(seed);
        var t = new int[length];
        for (int i = 0; i < length; i++) t[i] = rng.Next(vocab);
        return t;
    }

    public static int[] Range(int start, int length)
    {
        var r = new int[length];
        for (int i = 0; i < length; i++) r[i] = start + i;
        return r;
    }

    public static int[] Ones(int length)
    {
        var r = new int[length];
        Array.Fill(r, 1);
        return r;
    }

    /// <summary>Runs one unpadded row with positions offset, offset+1, ...</summary>
    public static ReferenceOutput Run(ReferenceTransformer m, int[] tokens, int positionOffset = 0,
        IReadOnlyList<ReferenceIntervention>? interventions = null) =>
        m.Forward([tokens], [Ones(tokens.Length)], [Range(positionOffset, tokens.Length)], interventions);

    public static double MaxAbsDiff(double[] a, double[] b)
    {
        if (a.Length != b.Length) return double.PositiveInfinity;
        double m = 0;
        for (int i = 0; i < a.Length; i++) m = Math.Max(m, Math.Abs(a[i] - b[i]));
        return m;
    }

    public static double Dot(double[] a, double[] b)
    {
        double s = 0;
        for (int i = 0; i < a.Length; i++) s += a[i] * b[i];
        return s;
    }

    public static double[] RandomVector(Random rng, int n, double std = 1.0)
    {
        var v = new double[n];
        for (int i = 0; i < n; i++) v[i] = std * (rng.NextDouble() * 2 - 1) * Math.Sqrt(3);
        return v;
    }

    public static double[] Normalized(double[] v)
    {
        double n = Math.Sqrt(Dot(v, v));
        return v.Select(x => x / n).ToArray();
    }

    /// <summary>Row-major [rows, cols] float matrix times vector, in double.</summary>
    public static double[] MatVec(float[] w, double[] x, int rows)
    {
        int cols = x.Length;
        var y = new double[rows];
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++)
                y[r] += w[r * cols + c] * x[c];
        return y;
    }

    public static IEnumerable<TinyCheckpointSpec> VariedSpecs()
    {
        yield return new TinyCheckpointSpec("llama");
        yield return new TinyCheckpointSpec("llama") { Tied = true, RopeScaling = TinyCheckpointSpec.Llama3Scaling, Seed = 7 };
        yield return new TinyCheckpointSpec("llama") { AttentionBias = true, MlpBias = true, Seed = 8 };
        yield return new TinyCheckpointSpec("llama") { RopeScaling = new RopeScalingSpec("linear", 2.0, 0, 0, 0), Seed = 9 };
        yield return new TinyCheckpointSpec("mistral") { SlidingWindow = 3, Seed = 10 };
        yield return new TinyCheckpointSpec("qwen2") { Seed = 11 };
        yield return new TinyCheckpointSpec("qwen2") { SlidingWindow = 2, UseSlidingWindow = true, MaxWindowLayers = 1, Seed = 12 };
    }
}
