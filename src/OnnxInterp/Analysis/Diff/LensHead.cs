using System.Numerics.Tensors;
using OnnxInterp.Runtime;

namespace OnnxInterp.Analysis.Diff;

/// <summary>
/// A model's final norm and unembedding applied to any hidden states (the logit lens): the export's head graph
/// (<see cref="ILayerRunner.RunHead"/>) where the model offers it, else RMSNorm and the unembedding computed here from
/// <see cref="IModelWeights"/> (FinalNorm, Unembedding), as the model computes them: x / sqrt(mean(x²) + ε) · g, then
/// logits = W_U · that. The tests check that both give the same logits.
/// </summary>
public sealed class LensHead
{
    readonly ILayerRunner? _runner;
    readonly float[]? _gain;
    readonly FloatTensor? _unembedding;
    readonly float _eps;

    LensHead(ILayerRunner? runner, float[]? gain, FloatTensor? unembedding, float eps, int hidden, int vocab)
    {
        _runner = runner;
        _gain = gain;
        _unembedding = unembedding;
        _eps = eps;
        Hidden = hidden;
        Vocab = vocab;
    }

    public int Hidden { get; }
    public int Vocab { get; }

    /// <summary>True when the head runs as the export's head graph; false when it is computed from the weights.</summary>
    public bool UsesHeadGraph => _runner is not null;

    /// <summary>The model's head: its head graph when <see cref="IHookedModel.Layers"/> is there, else its weights.</summary>
    public static LensHead Of(IHookedModel model)
    {
        ArgumentNullException.ThrowIfNull(model);
        return model.Layers is { } runner
            ? new LensHead(runner, null, null, 0, model.Config.HiddenSize, model.Config.VocabSize)
            : FromWeights(model.Weights);
    }

    /// <summary>The head computed from the weights (final RMSNorm gain and unembedding, read once).</summary>
    public static LensHead FromWeights(IModelWeights weights)
    {
        ArgumentNullException.ThrowIfNull(weights);
        var c = weights.Config;
        var gain = weights.FinalNorm().Data;
        var w = weights.Unembedding();
        if (gain.Length != c.HiddenSize || w.Rank != 2 || w.Shape[0] != c.VocabSize || w.Shape[1] != c.HiddenSize)
            throw new InvalidArgumentException($"final norm [{gain.Length}] and unembedding [{string.Join(",", w.Shape)}] do not match hidden {c.HiddenSize} and vocabulary {c.VocabSize}",
                "weights", weights.Source);
        return new LensHead(null, gain, w, (float)c.RmsNormEps, c.HiddenSize, c.VocabSize);
    }

    /// <summary>Logits [B, S, V] of hidden states [B, S, d].</summary>
    public FloatTensor Logits(FloatTensor hidden, CancellationToken cancellation = default)
    {
        if (hidden.Rank != 3 || hidden.Shape[2] != Hidden)
            throw new InvalidArgumentException($"hidden states must be [B, S, {Hidden}]", "hidden", string.Join(",", hidden.Shape));
        if (_runner is not null) return _runner.RunHead(hidden, cancellation);
        int rows = hidden.Shape[0] * hidden.Shape[1];
        var normed = new float[rows * Hidden];
        for (int r = 0; r < rows; r++) Normalize(hidden.Data.AsSpan(r * Hidden, Hidden), normed.AsSpan(r * Hidden, Hidden));
        var logits = FloatTensor.Zeros(hidden.Shape[0], hidden.Shape[1], Vocab);
        var w = _unembedding!.Data;
        const int Block = 256;
        Parallel.For(0, (Vocab + Block - 1) / Block, new ParallelOptions { CancellationToken = cancellation }, block =>
        {
            var output = logits.Data;
            for (int v = block * Block, end = Math.Min(Vocab, v + Block); v < end; v++)
            {
                var row = w.AsSpan(v * Hidden, Hidden);
                for (int r = 0; r < rows; r++) output[r * Vocab + v] = TensorPrimitives.Dot(row, normed.AsSpan(r * Hidden, Hidden));
            }
        });
        return logits;
    }

    /// <summary>RMSNorm with the final norm's gain, in fp32 as transformers computes it.</summary>
    void Normalize(ReadOnlySpan<float> x, Span<float> destination)
    {
        float meanSquare = TensorPrimitives.SumOfSquares(x) / x.Length;
        float scale = 1f / MathF.Sqrt(meanSquare + _eps);
        TensorPrimitives.Multiply(x, scale, destination);
        TensorPrimitives.Multiply(destination, _gain, destination);
    }
}
