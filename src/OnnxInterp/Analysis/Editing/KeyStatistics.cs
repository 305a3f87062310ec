using System.Numerics.Tensors;
using MathNet.Numerics.LinearAlgebra;
using OnnxInterp.Internals;
using OnnxInterp.Runtime;

namespace OnnxInterp.Analysis.Editing;

/// <summary>The second moment of a layer's MLP keys over a corpus: C = E[k kᵀ] over every token, k = blocks.{l}.mlp.hook_post.</summary>
public sealed record KeyCovariance(int Layer, Matrix<double> Moment, int Texts, long Keys);

/// <summary>ROME's keys: what enters down_proj (<see cref="HookName.MlpPost"/>) at a subject's last token, and their statistics over a corpus.</summary>
public static class KeyStatistics
{
    /// <summary>The key of the subject's last token in each prompt, [prompts][intermediate].</summary>
    public static double[][] Keys(IHookedModel model, int layer, IReadOnlyList<(int[] Ids, int Position)> prompts, CancellationToken cancellation = default)
    {
        CheckLayer(model, layer);
        var hook = HookName.MlpPost(layer);
        var keys = new double[prompts.Count][];
        for (int i = 0; i < prompts.Count; i++)
        {
            var r = model.Run(new ForwardRequest([prompts[i].Ids]) { Hooks = [hook], CapturePositions = [prompts[i].Position], LogitPositions = [-1] }, cancellation);
            keys[i] = ToDouble(r[hook].Vector(0, 0));
        }
        return keys;
    }

    /// <summary>
    /// C = (1/N) Σ k kᵀ over the N non-padding tokens of <paramref name="corpus"/> (ROME's uncentred second moment of the keys,
    /// estimated there from Wikipedia text).
    /// </summary>
    /// <exception cref="InvalidArgumentException">The corpus gives fewer tokens than the layer has keys' dimensions (a
    /// singular estimate), or its keys do not span them; the field is "corpus".</exception>
    public static KeyCovariance Covariance(IHookedModel model, int layer, IReadOnlyList<string> corpus, int batchSize = 32,
        IProgress<(int Done, int Total)>? progress = null, CancellationToken cancellation = default)
    {
        CheckLayer(model, layer);
        int n = model.Config.IntermediateSize;
        var tokenizer = model.Tokenizer;
        var texts = corpus.Where(t => !string.IsNullOrWhiteSpace(t)).Select(t => tokenizer.Encode(t)).Where(t => t.Length > 0).ToList();
        long tokens = texts.Sum(t => (long)t.Length);
        if (tokens < n)
            Throw.Argument($"the corpus is too small for a covariance estimate of layer {layer}'s {n}-dimensional keys: it gives {tokens} token positions, " +
                $"at least {n} are needed (a few times more for a stable estimate); pass a longer corpus", "corpus", $"{texts.Count} texts, {tokens} tokens");
        // Σ k kᵀ, the upper triangle row by row (row i += k_i · k[i..]), in double.
        var sum = new double[n * n];
        var key = new double[n];
        var hook = HookName.MlpPost(layer);
        int pad = tokenizer.PadTokenId ?? 0;
        long count = 0;
        Batches.Run(model, texts, batchSize, batch => ForwardRequest.FromPrompts(batch, pad) with { Hooks = [hook], LogitPositions = [-1] }, (_, batch, r) =>
        {
            var act = r[hook];
            int width = act.Shape[1];
            for (int b = 0; b < batch.Count; b++)
                for (int s = width - batch[b].Length; s < width; s++, count++)
                {
                    var v = act.Vector(b, s);
                    for (int j = 0; j < n; j++) key[j] = v[j];
                    for (int i = 0; i < n; i++)
                    {
                        var row = sum.AsSpan(i * n + i, n - i);
                        TensorPrimitives.MultiplyAdd(key.AsSpan(i), key[i], row, row);
                    }
                }
        }, new SyncProgress<BatchProgress>(p => progress?.Report((p.Done, p.Total))), cancellation);
        var moment = Matrix<double>.Build.Dense(n, n, (i, j) => (i <= j ? sum[i * n + j] : sum[j * n + i]) / count);
        return new KeyCovariance(layer, moment, texts.Count, count);
    }

    internal static void CheckLayer(IHookedModel model, int layer)
    {
        if ((uint)layer >= (uint)model.Config.NumLayers)
            Throw.Argument($"layer outside 0..{model.Config.NumLayers - 1}", "layer", layer);
    }

    internal static double[] ToDouble(ReadOnlySpan<float> v)
    {
        var d = new double[v.Length];
        for (int i = 0; i < v.Length; i++) d[i] = v[i];
        return d;
    }
}
