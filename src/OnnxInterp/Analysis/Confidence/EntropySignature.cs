using System.Numerics.Tensors;
using OnnxInterp.Internals;
using OnnxInterp.Runtime;

namespace OnnxInterp.Analysis.Confidence;

/// <summary>
/// What makes a selected neuron an entropy neuron rather than a pick from noise (Stolfo et al. 2024; Gurnee et al.
/// 2024): a w_out norm well above the layer's, a LogitVar well below it (it writes where the unembedding barely reads),
/// and a mean ablation that moves output entropy far more than the median neuron's does. Defaults live here only.
/// </summary>
public sealed record SignatureOptions
{
    /// <summary>A neuron moves entropy when its mean |ΔH| is at least this many times the median neuron's.</summary>
    public double EntropyFactor { get; init; } = 5;

    /// <summary>A norm outlier has a norm z-score (over the layer's neurons) of at least this.</summary>
    public double NormZ { get; init; } = 2;

    /// <summary>A LogitVar outlier has a z-score of ln LogitVar (over the layer's neurons) of at most minus this.</summary>
    public double LogitVarZ { get; init; } = 2;

    /// <summary>Judging prompts (the first of the ablation's) over which every neuron of the layer is mean-ablated.</summary>
    public int Prompts { get; init; } = 64;
}

/// <summary>
/// One neuron's signature: its norm and ln LogitVar z-scores over the layer, its mean |ΔH| under mean ablation (nats,
/// per scored token) and that as a multiple of the median neuron's, and which of the three tests it passes.
/// </summary>
public sealed record NeuronSignature(int Index, double NormZ, double LogitVarZ, double AbsEntropyChange, double EntropyFactor,
    bool NormOutlier, bool LogitVarOutlier, bool MovesEntropy)
{
    public bool HasSignature => NormOutlier && LogitVarOutlier && MovesEntropy;
}

/// <summary>
/// A model's last layer measured for the entropy-neuron signature: every neuron's mean |ΔH|, the median of them, the
/// selected neurons' signatures, the neuron that moves entropy most, and how spread the norms are (coefficient of
/// variation) and what range LogitVar spans.
/// </summary>
public sealed record EntropySignature(
    string Model,
    SignatureOptions Options,
    int Prompts,
    int Tokens,
    double MedianAbsEntropyChange,
    float[] AbsEntropyChanges,
    double NormCv,
    double MinLogitVar,
    double MaxLogitVar,
    IReadOnlyList<NeuronSignature> Selected,
    NeuronSignature Strongest,
    int LayerWithSignature)
{
    /// <summary>How many selected neurons have the whole signature.</summary>
    public int SelectedWithSignature => Selected.Count(s => s.HasSignature);

    /// <summary>No selected neuron has the signature: the selection picked neurons the weights and the ablation do not set apart.</summary>
    public bool NoneSelectedHasSignature => SelectedWithSignature == 0;
}

/// <summary>
/// Measures the signature. Mean-ablating a last-layer neuron k changes only the final residual, by δ·w_k with
/// δ = mean_k − a_k, so its effect on the logits through the final RMSNorm is exact from one clean pass:
/// logits' = (U(g⊙x) + δ·U(g⊙w_k)) / rms(x + δ·w_k), with ‖x + δw‖² = ‖x‖² + 2δ x·w + δ²‖w‖². Every neuron of the
/// layer is ablated this way (no forward pass per neuron), so the median neuron's effect is known.
/// </summary>
public static class EntropySignatures
{
    public static EntropySignature Measure(string model, IHookedModel session, LastLayerWeights weights, EntropyNeuronSet set,
        IReadOnlyList<JudgingPrompt> prompts, SignatureOptions? options = null, AblationOptions? ablation = null, CancellationToken cancellation = default)
    {
        var o = options ?? new SignatureOptions();
        Validate(o);
        var a = ablation ?? new AblationOptions();
        var c = session.Config;
        if (c.IntermediateSize != weights.Neurons || c.HiddenSize != weights.Hidden || c.VocabSize != weights.Vocab)
            throw new IncompatibleModelsException("the session's model and the weights differ in shape", session.Source, "config",
                $"{c.IntermediateSize}x{c.HiddenSize}x{c.VocabSize} vs {weights.Neurons}x{weights.Hidden}x{weights.Vocab}");
        if (set.Norms.Length != weights.Neurons) Throw.Argument($"the neuron set has {set.Norms.Length} neurons, the layer {weights.Neurons}", "set", set.Model);
        if (prompts.Count == 0) Throw.Argument("no prompts", "prompts", 0);
        var used = prompts.Take(o.Prompts).Select(p => p.Tokens).ToList();
        int n = weights.Neurons, d = weights.Hidden, vocab = weights.Vocab, layer = c.NumLayers - 1;
        var all = Enumerable.Range(0, n).ToArray();
        var means = NeuronAblation.MeanActivations(session, used, all, a, cancellation);

        var zw = DirectLogits(weights);
        var ww = new double[n];
        for (int k = 0; k < n; k++) ww[k] = TensorPrimitives.Dot(weights.NeuronOut(k), weights.NeuronOut(k));
        var gU = ScaledUnembed(weights);
        var sums = new double[n];
        long tokens = 0;
        HookName mlp = HookName.MlpPost(layer), resid = HookName.ResidPost(layer);
        Batches.Run(session, used, Math.Max(1, a.BatchRows), batch => ForwardRequest.FromPrompts(batch) with { Hooks = [mlp, resid], LogitPositions = [-1] }, (_, batch, r) =>
        {
            var acts = r.Cache[mlp];
            var res = r.Cache[resid];
            int seq = acts.Shape[1];
            var t = new List<(float[] X, float[] A)>();
            for (int b = 0; b < batch.Count; b++)
                for (int s = seq - batch[b].Length + (a.SkipFirstToken && batch[b].Length > 1 ? 1 : 0); s < seq; s++)
                    t.Add((res.Vector(b, s).ToArray(), acts.Vector(b, s).ToArray()));
            Accumulate(t, weights, means, gU, zw, ww, sums);
            tokens += t.Count;
        }, cancellation: cancellation);
        var abs = sums.Select(x => (float)(x / tokens)).ToArray();
        double median = EntropyNeurons.Quantile(abs, 0.5);
        var normZ = ZScores(set.Norms.Select(x => (double)x).ToArray());
        var lvZ = ZScores(set.LogitVars.Select(x => Math.Log(Math.Max(EntropyNeurons.RatioFloor, x))).ToArray());
        NeuronSignature Of(int k)
        {
            double factor = median > 0 ? abs[k] / median : (abs[k] > 0 ? double.PositiveInfinity : 0);
            return new NeuronSignature(k, normZ[k], lvZ[k], abs[k], factor, normZ[k] >= o.NormZ, lvZ[k] <= -o.LogitVarZ, factor >= o.EntropyFactor);
        }
        int strongest = 0;
        for (int k = 1; k < n; k++) if (abs[k] > abs[strongest]) strongest = k;
        double normMean = set.Norms.Average(x => (double)x);
        double normSd = Math.Sqrt(set.Norms.Average(x => ((double)x - normMean) * ((double)x - normMean)));
        return new EntropySignature(model, o, used.Count, checked((int)tokens), median, abs, normMean > 0 ? normSd / normMean : 0,
            set.LogitVars.Min(), set.LogitVars.Max(), set.Indices.Select(Of).ToList(), Of(strongest), all.Count(k => Of(k).HasSignature));
    }

    public static void Validate(SignatureOptions o)
    {
        if (!(o.EntropyFactor > 0 && double.IsFinite(o.EntropyFactor))) Throw.Argument("must be a positive number", "signature.entropyFactor", o.EntropyFactor);
        if (!(o.NormZ >= 0 && double.IsFinite(o.NormZ))) Throw.Argument("must be a non-negative number", "signature.normZ", o.NormZ);
        if (!(o.LogitVarZ >= 0 && double.IsFinite(o.LogitVarZ))) Throw.Argument("must be a non-negative number", "signature.logitVarZ", o.LogitVarZ);
        if (o.Prompts < 1) Throw.Argument("at least one prompt is needed", "signature.prompts", o.Prompts);
    }

    /// <summary>(x − mean) / population standard deviation; all zeros when the values do not vary.</summary>
    public static double[] ZScores(IReadOnlyList<double> values)
    {
        double mean = values.Average();
        double sd = Math.Sqrt(values.Average(v => (v - mean) * (v - mean)));
        return values.Select(v => sd > 0 ? (v - mean) / sd : 0).ToArray();
    }

    /// <summary>
    /// sums[k] += |H(ablated k) − H(clean)| over the tokens. Neurons run in parallel, each summing its tokens in order,
    /// so the sums do not depend on the partition.
    /// </summary>
    static void Accumulate(List<(float[] X, float[] A)> tokens, LastLayerWeights w, float[] means, float[] gU, float[][] zw, double[] ww, double[] sums)
    {
        int d = w.Hidden, vocab = w.Vocab, n = w.Neurons, T = tokens.Count;
        var zx = new float[T][];
        var xx = new double[T];
        var h0 = new double[T];
        var xw = new float[T][];
        var clean = new NeuronAblation.Buffers(vocab);
        for (int t = 0; t < T; t++)
        {
            var x = tokens[t].X;
            zx[t] = new float[vocab];
            for (int v = 0; v < vocab; v++) zx[t][v] = TensorPrimitives.Dot(gU.AsSpan(v * d, d), x);
            xx[t] = TensorPrimitives.Dot(x, x);
            double rms = Math.Sqrt(xx[t] / d + w.RmsNormEps);
            TensorPrimitives.Multiply(zx[t], (float)(1 / rms), clean.Direct);
            h0[t] = NeuronAblation.Entropy(clean.Direct, clean);
            xw[t] = new float[n];
            for (int k = 0; k < n; k++) xw[t][k] = TensorPrimitives.Dot(w.NeuronOut(k), x);
        }
        Parallel.For(0, n, () => new NeuronAblation.Buffers(vocab), (k, _, buf) =>
        {
            double acc = 0;
            for (int t = 0; t < T; t++)
            {
                double delta = means[k] - tokens[t].A[k];
                if (delta == 0) continue;
                double ss = xx[t] + 2 * delta * xw[t][k] + delta * delta * ww[k];
                float inv = (float)(1 / Math.Sqrt(ss / d + w.RmsNormEps));
                TensorPrimitives.MultiplyAdd(zw[k], (float)delta, zx[t], buf.Direct);
                TensorPrimitives.Multiply(buf.Direct, inv, buf.Direct);
                acc += Math.Abs(NeuronAblation.Entropy(buf.Direct, buf) - h0[t]);
            }
            sums[k] += acc;
            return buf;
        }, _ => { });
    }

    /// <summary>Rows u_v ⊙ g of the unembedding (the final norm's gain folded in), [vocab, hidden].</summary>
    static float[] ScaledUnembed(LastLayerWeights w)
    {
        var gU = new float[w.Unembed.Length];
        for (int v = 0; v < w.Vocab; v++) TensorPrimitives.Multiply(w.Unembed.AsSpan(v * w.Hidden, w.Hidden), w.FinalNorm, gU.AsSpan(v * w.Hidden, w.Hidden));
        return gU;
    }

    /// <summary>z_k = U(g ⊙ w_k) for every neuron of the layer.</summary>
    static float[][] DirectLogits(LastLayerWeights w)
    {
        var gU = ScaledUnembed(w);
        var z = new float[w.Neurons][];
        Parallel.For(0, w.Neurons, k =>
        {
            var wk = w.NeuronOut(k);
            var row = new float[w.Vocab];
            for (int v = 0; v < w.Vocab; v++) row[v] = TensorPrimitives.Dot(gU.AsSpan(v * w.Hidden, w.Hidden), wk);
            z[k] = row;
        });
        return z;
    }
}
