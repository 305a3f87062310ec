using OnnxInterp.Runtime;

namespace OnnxInterp.Analysis.Editing;

/// <summary>
/// A computed edit: the layer, its new down projection, each fact's value search (only facts whose search reached the margin
/// are written), the key statistics, ‖W' − W‖_F / ‖W‖_F and the change of the layer's output on the corpus's keys,
/// sqrt(E‖(W' − W) k‖² / E‖W k‖²) = sqrt(tr(ΔW C ΔWᵀ) / tr(W C Wᵀ)).
/// </summary>
public sealed record RomePlan(int Layer, float[] NewDown, IReadOnlyList<FactValue> Values, KeyCovariance Covariance, double RelativeChange, double CorpusOutputChange)
{
    /// <summary>How many facts the update writes (<see cref="IsWritten"/>).</summary>
    public int Written => Values.Count(IsWritten);

    /// <summary>A fact is written when its value search reached the margin with a change (not when the model already said the target).</summary>
    public static bool IsWritten(FactValue v) => v.Reached && v.Delta.Any(d => d != 0);
}

/// <summary>
/// ROME (Meng et al. 2022) at one layer: per fact, the key k* (the subject's last token at blocks.{l}.mlp.hook_post) and the
/// value v* (<see cref="ValueSearch"/>); the keys' second moment over a corpus; then the closed-form update of
/// mlp.down_proj (<see cref="RomeUpdate"/>). Every fact's v* is found on the unedited model, and all facts are written at once.
/// </summary>
public static class RomeEdit
{
    public static RomePlan Compute(IHookedModel model, IReadOnlyList<ResolvedFact> facts, int layer, IReadOnlyList<string> corpus, EditOptions options,
        IProgress<string>? log = null, CancellationToken cancellation = default)
    {
        KeyStatistics.CheckLayer(model, layer);
        if (facts.Count == 0) throw new InvalidArgumentException("at least one fact is needed", "facts", "0");
        var tokenizer = model.Tokenizer;
        log?.Report($"key statistics of layer {layer} over {corpus.Count} corpus texts");
        var covariance = KeyStatistics.Covariance(model, layer, corpus, options.BatchSize, cancellation: cancellation);
        var keys = KeyStatistics.Keys(model, layer, facts.Select(f => EditTokens.Subject(tokenizer, f.Prompt, f.Subject)).ToList(), cancellation);
        var down = model.Weights.MlpDown(layer);
        var values = new List<FactValue>();
        foreach (var (f, key) in facts.Zip(keys))
        {
            cancellation.ThrowIfCancellationRequested();
            var v = ValueSearch.Run(model, f, layer, options.ClampNormFactor * Norm(Times(down, key)), options, cancellation);
            values.Add(v);
            log?.Report(string.Create(System.Globalization.CultureInfo.InvariantCulture,
                $"fact {f.Index} ({f.Subject}: {f.Old} -> {f.Target}): value by {v.Direction}, |delta| {v.DeltaNorm:0.00} of the state's norm, margin {v.MarginBefore:+0.00;-0.00} -> {v.MarginAtValue:+0.00;-0.00}{(v.Reached ? "" : " (margin not reached)")}"));
        }
        // A fact whose value falls short is not written: forcing its key to a value that does not make the target win only
        // costs the other facts and the rest of the layer. Its scores are measured like every other's.
        var written = values.Select((v, i) => (v, i)).Where(x => RomePlan.IsWritten(x.v)).Select(x => x.i).ToList();
        var edited = written.Count == 0 ? (float[])down.Data.Clone()
            : RomeUpdate.Apply(down, covariance.Moment, written.Select(i => keys[i]).ToList(), written.Select(i => values[i].Delta).ToList());
        return new RomePlan(layer, edited, values, covariance, RomeUpdate.RelativeChange(down.Data, edited), RomeUpdate.OutputChange(down, edited, covariance.Moment));
    }

    /// <summary>W k for W [hidden, intermediate].</summary>
    static double[] Times(FloatTensor w, double[] k)
    {
        int d = w.Shape[0], n = w.Shape[1];
        var r = new double[d];
        for (int i = 0; i < d; i++)
        {
            double s = 0;
            for (int j = 0; j < n; j++) s += w.Data[(long)i * n + j] * k[j];
            r[i] = s;
        }
        return r;
    }

    static double Norm(double[] v) => Math.Sqrt(v.Sum(x => x * x));
}
