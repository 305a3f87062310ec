using System.Numerics.Tensors;
using OnnxInterp.Internals;

namespace OnnxInterp.Analysis.Confidence;

/// <summary>Which neurons count as entropy neurons: the paper's two parameters.</summary>
public sealed record EntropyNeuronOptions
{
    /// <summary>Candidates have a w_out norm strictly above this percentile of the layer's norms (the paper: 75, i.e. the top 25%).</summary>
    public double Percentile { get; init; } = 75;

    /// <summary>Among the candidates, this many with the smallest LogitVar (the paper: 10).</summary>
    public int Top { get; init; } = 10;
}

/// <summary>One selected neuron: its w_out norm, LogitVar and the paper's ratio norm / ln(max(1e-10, LogitVar)).</summary>
public sealed record EntropyNeuron(int Index, double Norm, double LogitVar, double Ratio)
{
    public double AbsRatio => Math.Abs(Ratio);
}

/// <summary>A model's last-layer neurons: every norm and LogitVar, the norm threshold, and the selected entropy neurons.</summary>
public sealed record EntropyNeuronSet(
    string Model,
    int Layer,
    float[] Norms,
    float[] LogitVars,
    double NormThreshold,
    int Candidates,
    IReadOnlyList<EntropyNeuron> Neurons)
{
    public int[] Indices => Neurons.Select(n => n.Index).ToArray();
}

/// <summary>
/// Entropy neurons (Stolfo et al. 2024; the paper's §confidence and Table 14) from weights alone. LogitVar of a
/// neuron is the variance over the vocabulary of cos(w_out, u_v), u_v the processed unembedding vector of token v:
/// TransformerLens' W_U with the final RMSNorm weight folded in and centred over the vocabulary (its default
/// from_pretrained processing; writing weights are not centred for RMSNorm models, so w_out stays as stored).
/// The variance is unbiased (N − 1), as torch.var.
/// </summary>
public static class EntropyNeurons
{
    /// <summary>Floor under LogitVar before the logarithm of the ratio, as the paper's code does.</summary>
    public const double RatioFloor = 1e-10;

    public static EntropyNeuronSet Find(string model, LastLayerWeights w, EntropyNeuronOptions? options = null)
    {
        var o = options ?? new EntropyNeuronOptions();
        var norms = new float[w.Neurons];
        Norms(w.WOut, w.Hidden, norms);
        var unembed = (float[])w.Unembed.Clone();
        ProcessUnembed(unembed, w.Hidden, w.FinalNorm);
        var logitVar = new float[w.Neurons];
        LogitVar(w.WOut, unembed, w.Hidden, logitVar);
        var selected = Select(norms, logitVar, o.Percentile, o.Top, out double threshold, out int candidates);
        return new EntropyNeuronSet(model, w.Layer, norms, logitVar, threshold, candidates, selected);
    }

    /// <summary>destination[i] = ‖row i of <paramref name="wOut"/>‖₂ for rows of length <paramref name="hidden"/>.</summary>
    public static void Norms(ReadOnlySpan<float> wOut, int hidden, Span<float> destination)
    {
        int n = Rows(wOut.Length, hidden, "wOut");
        if (destination.Length != n) Throw.Argument($"destination must hold {n} norms", "destination", destination.Length);
        for (int i = 0; i < n; i++) destination[i] = TensorPrimitives.Norm(wOut.Slice(i * hidden, hidden));
    }

    /// <summary>
    /// In place, on [vocab, hidden] rows: u_v ← g ⊙ u_v (fold the final norm weight g), then subtract the mean over
    /// the vocabulary of each hidden coordinate (centre, as TransformerLens' center_unembed).
    /// </summary>
    public static void ProcessUnembed(Span<float> unembed, int hidden, ReadOnlySpan<float> finalNorm)
    {
        int vocab = Rows(unembed.Length, hidden, "unembed");
        if (finalNorm.Length != hidden) Throw.Argument($"final norm weight must have {hidden} entries", "finalNorm", finalNorm.Length);
        var mean = new double[hidden];
        for (int v = 0; v < vocab; v++)
        {
            var row = unembed.Slice(v * hidden, hidden);
            TensorPrimitives.Multiply(row, finalNorm, row);
            for (int j = 0; j < hidden; j++) mean[j] += row[j];
        }
        var m = new float[hidden];
        for (int j = 0; j < hidden; j++) m[j] = (float)(mean[j] / vocab);
        for (int v = 0; v < vocab; v++)
        {
            var row = unembed.Slice(v * hidden, hidden);
            TensorPrimitives.Subtract(row, m, row);
        }
    }

    /// <summary>
    /// destination[i] = unbiased variance over v of cos(wOut row i, unembed row v). A zero vector has cosine 0 with
    /// everything (torch would give NaN). Rows run in parallel; each thread allocates one vocabulary-sized buffer.
    /// </summary>
    public static void LogitVar(ReadOnlySpan<float> wOut, ReadOnlySpan<float> unembed, int hidden, Span<float> destination)
    {
        int n = Rows(wOut.Length, hidden, "wOut"), vocab = Rows(unembed.Length, hidden, "unembed");
        if (destination.Length != n) Throw.Argument($"destination must hold {n} values", "destination", destination.Length);
        if (vocab < 2) Throw.Argument("the variance needs at least two vocabulary rows", "unembed", vocab);
        var unit = new float[unembed.Length];
        Normalize(unembed, hidden, unit);
        var w = new float[wOut.Length];
        Normalize(wOut, hidden, w);
        var result = new float[n];
        Parallel.For(0, n, () => new float[vocab], (i, _, cos) =>
        {
            var wi = w.AsSpan(i * hidden, hidden);
            for (int v = 0; v < vocab; v++) cos[v] = TensorPrimitives.Dot(wi, unit.AsSpan(v * hidden, hidden));
            result[i] = (float)Variance(cos);
            return cos;
        }, _ => { });
        result.CopyTo(destination);
    }

    /// <summary>Two-pass unbiased variance in double.</summary>
    static double Variance(ReadOnlySpan<float> x)
    {
        double mean = 0;
        foreach (var v in x) mean += v;
        mean /= x.Length;
        double ss = 0;
        foreach (var v in x) ss += (v - mean) * (v - mean);
        return ss / (x.Length - 1);
    }

    static void Normalize(ReadOnlySpan<float> rows, int hidden, Span<float> destination)
    {
        for (int r = 0; r < rows.Length / hidden; r++)
        {
            var src = rows.Slice(r * hidden, hidden);
            var dst = destination.Slice(r * hidden, hidden);
            float norm = TensorPrimitives.Norm(src);
            if (norm > 0) TensorPrimitives.Divide(src, norm, dst);
            else dst.Clear();
        }
    }

    /// <summary>The q-quantile (0..1) with linear interpolation between order statistics (numpy's and pandas' default).</summary>
    public static double Quantile(ReadOnlySpan<float> values, double q)
    {
        if (values.Length == 0) Throw.Argument("no values", "values", 0);
        if (!(q >= 0 && q <= 1)) Throw.Argument("quantile must lie in [0, 1]", "q", q);
        var sorted = values.ToArray();
        Array.Sort(sorted);
        double pos = (sorted.Length - 1) * q;
        int lo = (int)Math.Floor(pos);
        int hi = Math.Min(lo + 1, sorted.Length - 1);
        return sorted[lo] + (sorted[hi] - (double)sorted[lo]) * (pos - lo);
    }

    /// <summary>
    /// The paper's selection: candidates have norm &gt; the <paramref name="percentile"/>-th percentile of the norms;
    /// of those, the <paramref name="top"/> with the smallest LogitVar (ties: lower index first), ordered by LogitVar.
    /// With fewer candidates than <paramref name="top"/>, all of them.
    /// </summary>
    public static IReadOnlyList<EntropyNeuron> Select(ReadOnlySpan<float> norms, ReadOnlySpan<float> logitVar, double percentile, int top,
        out double threshold, out int candidates)
    {
        if (norms.Length != logitVar.Length) Throw.Argument($"norms ({norms.Length}) and LogitVar ({logitVar.Length}) must match", "logitVar", logitVar.Length);
        if (!(percentile >= 0 && percentile < 100)) Throw.Argument("percentile must lie in [0, 100)", "percentile", percentile);
        if (top < 1) Throw.Argument("at least one neuron must be selected", "top", top);
        double t = Quantile(norms, percentile / 100);
        var pool = new List<int>();
        for (int i = 0; i < norms.Length; i++)
            if (norms[i] > t) pool.Add(i);
        var lv = logitVar.ToArray();
        var nm = norms.ToArray();
        threshold = t;
        candidates = pool.Count;
        return pool.OrderBy(i => lv[i]).ThenBy(i => i).Take(top)
            .Select(i => new EntropyNeuron(i, nm[i], lv[i], Ratio(nm[i], lv[i]))).ToList();
    }

    /// <summary>norm / ln(max(1e-10, LogitVar)): the per-neuron quantity the paper compares across models.</summary>
    public static double Ratio(double norm, double logitVar) => norm / Math.Log(Math.Max(RatioFloor, logitVar));

    static int Rows(int length, int hidden, string field)
    {
        if (hidden <= 0) Throw.Argument("hidden size must be positive", "hidden", hidden);
        if (length == 0 || length % hidden != 0) Throw.Argument($"length must be a positive multiple of the hidden size {hidden}", field, length);
        return length / hidden;
    }
}
