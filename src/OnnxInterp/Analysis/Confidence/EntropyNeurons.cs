using System.Numerics.Tensors;
using OnnxInterp.Internals;

namespace OnnxInterp.Analysis.Confidence;

/// <summary>
/// The per-neuron ratio that Table 14's "average ratio difference" compares across models. The paper's code and its
/// committed results disagree, so both are offered; LogitVar is floored at <see cref="EntropyNeurons.RatioFloor"/> in both.
/// </summary>
public enum EntropyRatio
{
    /// <summary>
    /// norm / ln(max(1e-10, LogitVar)): Confidence/IoU.py:136-139 as committed (f0c2de1). Negative, since LogitVar of
    /// a cosine is below 1; OnnxInterp's default.
    /// </summary>
    NormOverLogLogitVar,

    /// <summary>
    /// norm / max(1e-10, LogitVar): what the authors' committed results hold (Confidence/neuron_analysis_results.json,
    /// commit d1a7c7e, deleted in 0c69234): ratios of +4,953 to +10,370 for Llama-3.1-8B's neurons, which norm / ln
    /// LogitVar cannot give (it is negative, and with |ln LogitVar| ≈ 9 it would need norms of 5·10⁴ to 10⁵), while
    /// norm / LogitVar gives them with norms near 1 and LogitVar near 1e-4. So the file must come from a version of
    /// IoU.py that was never committed. The paper preset's choice, on the reading that Table 14 was made from such
    /// results (the weights of the paper's models were not at hand to confirm it).
    /// </summary>
    NormOverLogitVar,
}

/// <summary>Which neurons count as entropy neurons (the paper's two parameters) and the ratio compared across models.</summary>
public sealed record EntropyNeuronOptions
{
    /// <summary>
    /// Candidates have a w_out norm strictly above this percentile of the layer's norms (the paper: 75, i.e. the top
    /// 25%: IoU.py:71-72, df[norm] &gt; df[norm].quantile(1 − 0.25), README's --norm_top_percentages 0.25).
    /// </summary>
    public double Percentile { get; init; } = 75;

    /// <summary>Among the candidates, this many with the smallest LogitVar (the paper: 10; IoU.py:79, nsmallest(var_bottom_n)).</summary>
    public int Top { get; init; } = 10;

    /// <summary>The per-neuron ratio compared across models (<see cref="EntropyRatio"/>).</summary>
    public EntropyRatio Ratio { get; init; } = EntropyRatio.NormOverLogLogitVar;
}

/// <summary>One selected neuron: its w_out norm, LogitVar and ratio (of the set's <see cref="EntropyNeuronSet.RatioKind"/>).</summary>
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

    /// <summary>What each neuron's <see cref="EntropyNeuron.Ratio"/> is.</summary>
    public EntropyRatio RatioKind { get; init; } = EntropyRatio.NormOverLogLogitVar;

    /// <summary>The model as the paper's tables know it, when the caller identified it (null: unknown).</summary>
    public PaperModel? Paper { get; init; }
}

/// <summary>
/// Entropy neurons (Stolfo et al. 2024; the paper's §confidence and Table 14) from weights alone, as the paper's
/// Confidence/IoU.py does in both protocols. The layer is the last MLP (IoU.py:115, model.W_out[-1]); norm is
/// ‖w_out‖₂ (IoU.py:116). LogitVar of a neuron is the variance over the vocabulary of cos(w_out, u_v) (IoU.py:124-125:
/// w_out / ‖w_out‖ @ W_U / ‖W_U[:, v]‖, then .var(dim=1)), u_v the processed unembedding vector of token v:
/// TransformerLens' W_U after HookedTransformer.from_pretrained's defaults (utils.py:730-731; fold_ln, center_unembed:
/// TransformerLens/transformer_lens/HookedTransformer.py:1111-1113), i.e. the final RMSNorm weight folded in
/// (HookedTransformer.py:1604-1606, 1795) and centred over the vocabulary (:1625, 1847); writing weights are not
/// centred for RMSNorm models (:1613-1616), so w_out stays as stored. The variance is unbiased (N − 1), as torch.var.
/// No data is read. Precision: fp32 dot products as torch's fp32 matmul (the order of summation differs, so LogitVars
/// agree to ~1e-6 relative and a near-tie in the ten smallest may order differently).
/// </summary>
public static class EntropyNeurons
{
    /// <summary>Floor under LogitVar before the logarithm of the ratio, as the paper's code does.</summary>
    public const double RatioFloor = 1e-10;

    public static EntropyNeuronSet Find(string model, LastLayerWeights w, EntropyNeuronOptions? options = null)
    {
        var o = options ?? new EntropyNeuronOptions();
        CheckRatio(o.Ratio);
        // torch would carry a NaN weight into NaN norms and LogitVars that pandas' nsmallest then skips: refuse it instead.
        RequireFinite(w.WOut, w.Hidden, w.Source, w.Names.WOut, "neuron");
        RequireFinite(w.FinalNorm, w.Hidden, w.Source, w.Names.FinalNorm, "entry");
        RequireFinite(w.Unembed, w.Hidden, w.Source, w.Names.Unembed, "token");
        var norms = new float[w.Neurons];
        Norms(w.WOut, w.Hidden, norms);
        var unembed = (float[])w.Unembed.Clone();
        ProcessUnembed(unembed, w.Hidden, w.FinalNorm);
        var logitVar = new float[w.Neurons];
        LogitVar(w.WOut, unembed, w.Hidden, logitVar);
        var selected = Select(norms, logitVar, o.Percentile, o.Top, out double threshold, out int candidates, o.Ratio);
        return new EntropyNeuronSet(model, w.Layer, norms, logitVar, threshold, candidates, selected) { RatioKind = o.Ratio };
    }

    /// <summary>A non-finite weight is an error naming the tensor and the row (neuron, entry or token) it sits in.</summary>
    static void RequireFinite(ReadOnlySpan<float> values, int hidden, string source, string tensor, string row)
    {
        for (int i = 0; i < values.Length; i++)
            if (!float.IsFinite(values[i]))
            {
                int r = values.Length == hidden ? i : i / hidden;
                Throw.InvalidFile($"a weight is {values[i].ToString(System.Globalization.CultureInfo.InvariantCulture)}: LogitVar and the norms need finite weights",
                    source, tensor, $"{row} {r}");
            }
    }

    static void CheckRatio(EntropyRatio ratio)
    {
        if (!Enum.IsDefined(ratio))
            Throw.Argument($"unknown ratio; known: {string.Join(", ", Enum.GetNames<EntropyRatio>())}", "ratio", (int)ratio);
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
    /// The paper's selection (IoU.py:58-88): candidates have norm &gt; the <paramref name="percentile"/>-th percentile
    /// of the norms (pandas' quantile, linear; interpolated here in double, where pandas interpolates the float32 norms,
    /// which can differ only when the two norms it interpolates between are a float32 ulp apart); of those, the <paramref name="top"/> with the smallest LogitVar (ties:
    /// lower index first, as nsmallest's keep="first"), ordered by LogitVar. With no more candidates than
    /// <paramref name="top"/>, all of them (IoU.py:75-76, which returns the DataFrame itself there, so that compute_iou
    /// would compare its column names: not reproduced). Each neuron's ratio is of the kind <paramref name="ratio"/>.
    /// </summary>
    public static IReadOnlyList<EntropyNeuron> Select(ReadOnlySpan<float> norms, ReadOnlySpan<float> logitVar, double percentile, int top,
        out double threshold, out int candidates, EntropyRatio ratio = EntropyRatio.NormOverLogLogitVar)
    {
        CheckRatio(ratio);
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
            .Select(i => new EntropyNeuron(i, nm[i], lv[i], Ratio(nm[i], lv[i], ratio))).ToList();
    }

    /// <summary>norm / ln(max(1e-10, LogitVar)): the per-neuron quantity IoU.py:136-139 computes.</summary>
    public static double Ratio(double norm, double logitVar) => norm / Math.Log(Math.Max(RatioFloor, logitVar));

    /// <summary>The ratio of the given kind (<see cref="EntropyRatio"/>), LogitVar floored at <see cref="RatioFloor"/>.</summary>
    public static double Ratio(double norm, double logitVar, EntropyRatio kind) => kind switch
    {
        EntropyRatio.NormOverLogLogitVar => Ratio(norm, logitVar),
        EntropyRatio.NormOverLogitVar => norm / Math.Max(RatioFloor, logitVar),
        _ => throw new InvalidArgumentException($"unknown ratio; known: {string.Join(", ", Enum.GetNames<EntropyRatio>())}", "ratio", ((int)kind).ToString(System.Globalization.CultureInfo.InvariantCulture)),
    };

    static int Rows(int length, int hidden, string field)
    {
        if (hidden <= 0) Throw.Argument("hidden size must be positive", "hidden", hidden);
        if (length == 0 || length % hidden != 0) Throw.Argument($"length must be a positive multiple of the hidden size {hidden}", field, length);
        return length / hidden;
    }
}
