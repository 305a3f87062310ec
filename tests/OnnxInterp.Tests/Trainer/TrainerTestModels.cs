using OnnxInterp.Tests.Reference;
using OnnxInterp.Trainer;

namespace OnnxInterp.Tests.Trainer;

/// <summary>Tiny configs, random batches and the bridge to the double-precision reference.</summary>
static class TrainerTestModels
{
    /// <summary>hidden 16, 2 layers, 4 query heads over 2 KV heads of 4, MLP 24, vocab 11.</summary>
    public static readonly TrainerConfig Tiny = new()
    {
        Hidden = 16, Intermediate = 24, Layers = 2, Heads = 4, KvHeads = 2, HeadDim = 4, Vocab = 11, MaxSeq = 16,
        RopeTheta = 10000, RmsNormEps = 1e-5, BosTokenId = 1, EosTokenId = 2,
    };

    /// <summary>
    /// A model whose activations are far from trivial: weights N(0, 0.3²) rather than 0.02, and norm gains 1 + N(0, 0.2²),
    /// so every term of the backward pass carries a gradient well above float noise.
    /// </summary>
    public static TinyLlama Random(TrainerConfig c, int seed)
    {
        var m = TinyLlama.Create(c, seed, std: 0.3);
        var rng = new Random(seed + 1000);
        foreach (var p in m.Parameters.Where(p => p.IsNorm))
            for (int i = 0; i < p.Data.Length; i++) p.Data[i] = (float)(1 + 0.2 * TinyLlama.Gaussian(rng));
        return m;
    }

    public static ReferenceConfig ToReference(TrainerConfig c) => new()
    {
        HiddenSize = c.Hidden, IntermediateSize = c.Intermediate, NumLayers = c.Layers, NumHeads = c.Heads, NumKvHeads = c.KvHeads,
        HeadDim = c.HeadDim, VocabSize = c.Vocab, RmsNormEps = c.RmsNormEps, RopeTheta = c.RopeTheta, TieWordEmbeddings = false,
    };

    public static double[][][] ReferenceLogits(TrainerConfig c, IReadOnlyDictionary<string, float[]> weights, int[] ids, int batch, int t)
    {
        var rows = Enumerable.Range(0, batch).Select(b => ids.AsSpan(b * t, t).ToArray()).ToArray();
        var mask = rows.Select(r => Enumerable.Repeat(1, t).ToArray()).ToArray();
        var pos = rows.Select(r => Enumerable.Range(0, t).ToArray()).ToArray();
        return new ReferenceTransformer(ToReference(c), weights).Forward(rows, mask, pos).Logits;
    }

    /// <summary>Masked mean cross-entropy, in double, from the reference's logits.</summary>
    public static double ReferenceLoss(TrainerConfig c, IReadOnlyDictionary<string, float[]> weights, int[] ids, int[] targets, float[] mask, int batch, int t)
    {
        var logits = ReferenceLogits(c, weights, ids, batch, t);
        double total = 0, weight = 0;
        for (int b = 0; b < batch; b++)
            for (int i = 0; i < t; i++)
            {
                float w = mask[b * t + i];
                if (w == 0) continue;
                var z = logits[b][i];
                double max = z.Max();
                double lse = max + Math.Log(z.Sum(x => Math.Exp(x - max)));
                total += w * (lse - z[targets[b * t + i]]);
                weight += w;
            }
        return total / weight;
    }

    public static int[] Tokens(Random rng, int n, int vocab) => Enumerable.Range(0, n).Select(_ => rng.Next(vocab)).ToArray();
}
