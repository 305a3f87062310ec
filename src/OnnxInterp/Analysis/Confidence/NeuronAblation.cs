using System.Numerics.Tensors;
using OnnxInterp.Internals;
using OnnxInterp.Runtime;

namespace OnnxInterp.Analysis.Confidence;

/// <summary>How the mean ablation runs.</summary>
public sealed record AblationOptions
{
    /// <summary>Batch rows per forward pass (each prompt takes 1 + variants rows: clean, each neuron, all together).</summary>
    public int BatchRows { get; init; } = 48;

    /// <summary>
    /// Leave each prompt's first token (BOS) out of the means and the per-token averages: activations there are
    /// outliers that the rest of the sequence never sees (Stolfo et al. filter the first positions too).
    /// </summary>
    public bool SkipFirstToken { get; init; } = true;

    public int Bins { get; init; } = Calibration.DefaultBins;
}

/// <summary>
/// One ablation: the neurons set to their means, and the averages of what changed (ablated − clean). Per-token
/// averages run over every scored token of every prompt; answer averages over the last position of each prompt.
/// <see cref="DirectEntropyChange"/> freezes the final norm's scale at its clean value (the effect that bypasses the
/// norm, Stolfo et al.'s "direct effect"); the gap to <see cref="EntropyChange"/> is what the norm carries.
/// </summary>
public sealed record NeuronAblationRow(
    string Label,
    int[] Neurons,
    float[] Means,
    double EntropyChange,
    double AbsEntropyChange,
    double DirectEntropyChange,
    double ResidNormChange,
    double AnswerEntropyChange,
    double ConfidenceChange,
    CalibrationResult Calibration);

/// <summary>A model's mean ablation over a set of judging prompts, with its clean baseline and calibration.</summary>
public sealed record ModelAblation(
    string Model,
    int Prompts,
    int Tokens,
    double CleanEntropy,
    double CleanResidNorm,
    double CleanAnswerEntropy,
    CalibrationResult Calibration,
    IReadOnlyList<NeuronAblationRow> Rows);

/// <summary>
/// Mean ablation of last-layer neurons through <c>blocks.{L-1}.mlp.hook_post</c>: each neuron's activation is replaced,
/// at every position, by its mean over the prompts' scored tokens (Stolfo et al.'s ablation), one neuron per batch
/// row and all of them together in one more row, beside a clean row of the same prompt. Measures output entropy
/// (nats), the L2 norm of the final residual stream (<c>blocks.{L-1}.hook_resid_post</c>, the final norm's input)
/// and the TRUE/FALSE answer at the last position.
/// </summary>
public static class NeuronAblation
{
    /// <summary>
    /// Sets <paramref name="neurons"/> of an MLP hook to <paramref name="values"/> and leaves the others: an elementwise
    /// scale (0 on those neurons, 1 elsewhere) followed by an add of the values there.
    /// </summary>
    public static IReadOnlyList<Intervention> Replace(HookName hook, int dim, IReadOnlyList<int> neurons, IReadOnlyList<float> values,
        int[]? rows = null, int[]? positions = null)
    {
        if (neurons.Count == 0 || neurons.Count != values.Count) Throw.Argument("one value per neuron is needed", "values", values.Count);
        var keep = new float[dim];
        var add = new float[dim];
        keep.AsSpan().Fill(1f);
        for (int k = 0; k < neurons.Count; k++)
        {
            if ((uint)neurons[k] >= (uint)dim) Throw.Argument($"neuron outside 0..{dim - 1}", "neuron", neurons[k]);
            keep[neurons[k]] = 0f;
            add[neurons[k]] = values[k];
        }
        return [new Intervention(hook, InterventionOp.Scale, keep, Rows: rows, Positions: positions), Intervention.Add(hook, add, 1f, rows, positions)];
    }

    /// <summary>Each neuron's mean activation at <c>blocks.{L-1}.mlp.hook_post</c> over the prompts' scored tokens.</summary>
    public static float[] MeanActivations(IHookedModel session, IReadOnlyList<int[]> prompts, IReadOnlyList<int> neurons,
        AblationOptions? options = null, CancellationToken cancellation = default)
    {
        var o = options ?? new AblationOptions();
        int layer = session.Config.NumLayers - 1;
        var hook = HookName.MlpPost(layer);
        var sums = new double[neurons.Count];
        long tokens = 0;
        Batches.Run(session, prompts, Math.Max(1, o.BatchRows), batch => ForwardRequest.FromPrompts(batch) with { Hooks = [hook], LogitPositions = [-1] }, (_, batch, r) =>
        {
            var acts = r.Cache[hook];
            int seq = acts.Shape[1];
            for (int b = 0; b < batch.Count; b++)
                for (int s = FirstScored(seq, batch[b].Length, o); s < seq; s++)
                {
                    var a = acts.Vector(b, s);
                    for (int k = 0; k < neurons.Count; k++) sums[k] += a[neurons[k]];
                    tokens++;
                }
        }, cancellation: cancellation);
        if (tokens == 0) Throw.Argument("the prompts have no scored tokens (one-token prompts with the first token skipped)", "prompts", prompts.Count);
        return sums.Select(x => (float)(x / tokens)).ToArray();
    }

    static int FirstScored(int seq, int length, AblationOptions o) => seq - length + (o.SkipFirstToken && length > 1 ? 1 : 0);

    public static ModelAblation Run(string model, IHookedModel session, LastLayerWeights weights, IReadOnlyList<int> neurons,
        IReadOnlyList<JudgingPrompt> prompts, int trueToken, int falseToken, AblationOptions? options = null,
        IProgress<ConfidenceProgress>? progress = null, CancellationToken cancellation = default)
    {
        var o = options ?? new AblationOptions();
        var c = session.Config;
        if (c.IntermediateSize != weights.Neurons || c.HiddenSize != weights.Hidden || c.VocabSize != weights.Vocab)
            throw new IncompatibleModelsException("the session's model and the weights differ in shape", session.Source, "config",
                $"{c.IntermediateSize}x{c.HiddenSize}x{c.VocabSize} vs {weights.Neurons}x{weights.Hidden}x{weights.Vocab}");
        if (neurons.Count == 0) Throw.Argument("no neurons to ablate", "neurons", 0);
        if (prompts.Count == 0) Throw.Argument("no prompts", "prompts", 0);
        foreach (var t in new[] { trueToken, falseToken })
            if ((uint)t >= (uint)c.VocabSize) Throw.Argument($"answer token outside the vocabulary of {c.VocabSize}", "answer", t);
        int layer = c.NumLayers - 1, d = c.HiddenSize, vocab = c.VocabSize, width = c.IntermediateSize;
        var mlpHook = HookName.MlpPost(layer);

        var tokensOf = prompts.Select(p => p.Tokens).ToList();
        var means = MeanActivations(session, tokensOf, neurons, o, cancellation);
        progress?.Report(new ConfidenceProgress(model, "means", prompts.Count, prompts.Count));

        // Variants: each neuron alone, then all together (when there are several).
        var variants = neurons.Select((n, k) => new[] { k }).ToList();
        if (neurons.Count > 1) variants.Add(Enumerable.Range(0, neurons.Count).ToArray());
        int rowsPer = 1 + variants.Count;
        var z = DirectLogits(weights, neurons);

        var acc = variants.Select(_ => new Accumulator()).ToArray();
        double cleanH = 0, cleanN = 0, cleanAnsH = 0;
        long scored = 0;
        var cleanAnswers = new List<(double, bool)>();
        var buf = new Buffers(vocab);
        int perBatch = Math.Max(1, o.BatchRows / rowsPer);
        for (int first = 0; first < prompts.Count; first += perBatch)
        {
            var batch = prompts.Skip(first).Take(perBatch).ToList();
            var interventions = new List<Intervention>();
            for (int v = 0; v < variants.Count; v++)
            {
                var targetRows = Enumerable.Range(0, batch.Count).Select(p => p * rowsPer + 1 + v).ToArray();
                interventions.AddRange(Replace(mlpHook, width, variants[v].Select(k => neurons[k]).ToList(),
                    variants[v].Select(k => means[k]).ToList(), targetRows));
            }
            var (logits, resid, acts, actStride) = Forward(session, batch, rowsPer, interventions, cancellation);
            int seq = logits.Shape[1];
            for (int p = 0; p < batch.Count; p++)
            {
                int clean = p * rowsPer;
                for (int s = FirstScored(seq, batch[p].Tokens.Length, o); s < seq; s++)
                {
                    var lc = logits.Vector(clean, s);
                    var hc = resid.Vector(clean, s);
                    double h0 = Entropy(lc, buf), n0 = TensorPrimitives.Norm(hc);
                    double rms = Math.Sqrt(TensorPrimitives.Dot(hc, hc) / d + weights.RmsNormEps);
                    var ac = acts.Vector(p * actStride, s);
                    cleanH += h0;
                    cleanN += n0;
                    scored++;
                    for (int v = 0; v < variants.Count; v++)
                    {
                        int row = clean + 1 + v;
                        double dh = Entropy(logits.Vector(row, s), buf) - h0;
                        lc.CopyTo(buf.Direct);
                        foreach (int k in variants[v])
                            TensorPrimitives.MultiplyAdd(z[k], (float)((means[k] - ac[neurons[k]]) / rms), buf.Direct, buf.Direct);
                        var a = acc[v];
                        a.Entropy += dh;
                        a.AbsEntropy += Math.Abs(dh);
                        a.Direct += Entropy(buf.Direct, buf) - h0;
                        a.Norm += TensorPrimitives.Norm(resid.Vector(row, s)) - n0;
                    }
                }
                int last = seq - 1;
                var lcl = logits.Vector(clean, last);
                double hAns = Entropy(lcl, buf), pc = Calibration.TrueProbability(lcl[trueToken], lcl[falseToken]);
                cleanAnsH += hAns;
                cleanAnswers.Add((pc, batch[p].Label));
                for (int v = 0; v < variants.Count; v++)
                {
                    var lv = logits.Vector(clean + 1 + v, last);
                    double pv = Calibration.TrueProbability(lv[trueToken], lv[falseToken]);
                    acc[v].AnswerEntropy += Entropy(lv, buf) - hAns;
                    acc[v].Confidence += Math.Max(pv, 1 - pv) - Math.Max(pc, 1 - pc);
                    acc[v].Answers.Add((pv, batch[p].Label));
                }
            }
            progress?.Report(new ConfidenceProgress(model, "ablation", Math.Min(first + perBatch, prompts.Count), prompts.Count));
        }

        var result = new List<NeuronAblationRow>();
        for (int v = 0; v < variants.Count; v++)
        {
            var a = acc[v];
            var ns = variants[v].Select(k => neurons[k]).ToArray();
            string label = variants[v].Length == 1 ? ns[0].ToString(System.Globalization.CultureInfo.InvariantCulture) : "all";
            result.Add(new NeuronAblationRow(label, ns, variants[v].Select(k => means[k]).ToArray(),
                a.Entropy / scored, a.AbsEntropy / scored, a.Direct / scored, a.Norm / scored,
                a.AnswerEntropy / prompts.Count, a.Confidence / prompts.Count, Calibration.Compute(a.Answers, o.Bins)));
        }
        return new ModelAblation(model, prompts.Count, checked((int)scored), cleanH / scored, cleanN / scored, cleanAnsH / prompts.Count,
            Calibration.Compute(cleanAnswers, o.Bins), result);
    }

    /// <summary>
    /// Logits and final residuals of every row (prompt p's clean row is p × rowsPer, its variants follow) and the clean
    /// MLP activations (prompt p at row p × stride). With per-layer graphs, the layers below the last run once per
    /// prompt and only the last layer and the head run per variant (the rows agree bit for bit with a full pass);
    /// otherwise every row runs the whole model.
    /// </summary>
    static (FloatTensor Logits, FloatTensor Resid, FloatTensor Acts, int ActStride) Forward(IHookedModel session, List<JudgingPrompt> batch,
        int rowsPer, List<Intervention> interventions, CancellationToken cancellation)
    {
        var c = session.Config;
        int layer = c.NumLayers - 1;
        HookName mlpHook = HookName.MlpPost(layer), residHook = HookName.ResidPost(layer), preHook = HookName.ResidPre(layer);
        var rows = ForwardRequest.FromPrompts(batch.SelectMany(p => Enumerable.Repeat(p.Tokens, rowsPer)).ToList());
        if (session.Layers is not { } layers)
        {
            var r = session.Run(rows with { Hooks = [mlpHook, residHook], Interventions = interventions }, cancellation);
            return (r.Logits, r.Cache[residHook], r.Cache[mlpHook], rowsPer);
        }
        var clean = session.Run(ForwardRequest.FromPrompts(batch.Select(p => p.Tokens).ToList()) with { Hooks = [preHook, mlpHook], LogitPositions = [-1] },
            cancellation);
        var pre = clean.Cache[preHook];
        int seq = pre.Shape[1], d = pre.Shape[2];
        var hidden = FloatTensor.Zeros(batch.Count * rowsPer, seq, d);
        for (int p = 0; p < batch.Count; p++)
            for (int j = 0; j < rowsPer; j++)
                pre.Data.AsSpan(p * seq * d, seq * d).CopyTo(hidden.Data.AsSpan((p * rowsPer + j) * seq * d));
        var past = FloatTensor.Zeros(hidden.Shape[0], c.NumKvHeads, 0, c.HeadDim);
        var mask = rows.AttentionMask!;
        var post = layers.RunLayer(layer, hidden, past, past, mask, ForwardRequest.DefaultPositions(mask), interventions, cancellation);
        return (layers.RunHead(post, cancellation), post, clean.Cache[mlpHook], 1);
    }

    /// <summary>z_k = U (g ⊙ w_out,k) over the vocabulary: a neuron's logit contribution per unit activation per unit 1/rms.</summary>
    static float[][] DirectLogits(LastLayerWeights w, IReadOnlyList<int> neurons)
    {
        var z = new float[neurons.Count][];
        var gw = new float[w.Hidden];
        for (int k = 0; k < neurons.Count; k++)
        {
            TensorPrimitives.Multiply(w.NeuronOut(neurons[k]), w.FinalNorm, gw);
            z[k] = new float[w.Vocab];
            for (int v = 0; v < w.Vocab; v++) z[k][v] = TensorPrimitives.Dot(w.Unembed.AsSpan(v * w.Hidden, w.Hidden), gw);
        }
        return z;
    }

    /// <summary>Shannon entropy (nats) of softmax(<paramref name="logits"/>): ln Σe^x' − Σ e^x' x' / Σ e^x', x' = x − max.</summary>
    internal static double Entropy(ReadOnlySpan<float> logits, Buffers buf)
    {
        var shifted = buf.Shifted.AsSpan(0, logits.Length);
        var e = buf.Exp.AsSpan(0, logits.Length);
        TensorPrimitives.Subtract(logits, TensorPrimitives.Max(logits), shifted);
        TensorPrimitives.Exp(shifted, e);
        double sum = TensorPrimitives.Sum(e);
        return Math.Log(sum) - TensorPrimitives.Dot(e, shifted) / sum;
    }

    internal sealed class Buffers(int vocab)
    {
        public readonly float[] Shifted = new float[vocab];
        public readonly float[] Exp = new float[vocab];
        public readonly float[] Direct = new float[vocab];
    }

    sealed class Accumulator
    {
        public double Entropy, AbsEntropy, Direct, Norm, AnswerEntropy, Confidence;
        public readonly List<(double, bool)> Answers = [];
    }
}
