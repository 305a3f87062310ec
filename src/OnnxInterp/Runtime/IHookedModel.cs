using OnnxInterp.Checkpoints;
using OnnxInterp.Tokenization;

namespace OnnxInterp.Runtime;

/// <summary>A hook point a model offers: its name, its width, and which injections it takes.</summary>
public sealed record HookInfo(HookName Name, int Dim, bool Injectable, bool Projection);

/// <summary>
/// The model as analyses see it (TransformerLens' HookedTransformer): its configuration, hook points, tokenizer, chat
/// template and weights, forward passes that capture hooks and apply interventions, and generation. Analyses depend on
/// this and nothing else of the runtime's; <see cref="ModelSession"/> implements it over ONNX Runtime, and the tests
/// implement it over a double-precision reference transformer, so each analysis runs on both.
/// </summary>
public interface IHookedModel
{
    /// <summary>The folder or name the model came from, for messages.</summary>
    string Source { get; }

    ModelConfig Config { get; }

    /// <summary>Every hook point, in graph order.</summary>
    IReadOnlyList<HookInfo> Hooks { get; }

    /// <summary>The model's tokenizer (read once).</summary>
    HfTokenizer Tokenizer { get; }

    /// <summary>The model's own chat template (tokenizer_config.json's, or the plain format when it has none; read once).</summary>
    ChatTemplate ChatTemplate { get; }

    IModelWeights Weights { get; }

    /// <summary>One forward pass (<see cref="ForwardRequest"/> says what to capture and what to change).</summary>
    ForwardResult Run(ForwardRequest request, CancellationToken cancellation = default);

    /// <summary>Generates from left-padded prompts with the KV cache (greedy or seeded sampling), interventions applied at every step.</summary>
    GenerationResult Generate(IReadOnlyList<int[]> prompts, GenerationOptions? options = null,
        IProgress<GenerationProgress>? progress = null, CancellationToken cancellation = default);

    /// <summary>Layer-by-layer execution, where the model offers it (exports with per-layer graphs); null otherwise.</summary>
    ILayerRunner? Layers { get; }
}

/// <summary>
/// Runs the model from the middle: one block on given hidden states (with its past keys and values), or the final norm
/// and head. Causal tracing restarts the model above a patched layer with it.
/// </summary>
public interface ILayerRunner
{
    /// <summary>
    /// Block <paramref name="layer"/> on hidden states [B, S, d] after past keys/values [B, kvH, P, hd] and a mask over
    /// P + S positions; returns its resid_post [B, S, d]. Interventions may target this layer's hooks.
    /// </summary>
    FloatTensor RunLayer(int layer, FloatTensor hidden, FloatTensor pastKey, FloatTensor pastValue, int[][] attentionMask, int[][] positionIds,
        IReadOnlyList<Intervention>? interventions = null, CancellationToken cancellation = default);

    /// <summary>The final norm and the unembedding on hidden states [B, S, d]: logits [B, S, V].</summary>
    FloatTensor RunHead(FloatTensor hidden, CancellationToken cancellation = default);
}

/// <summary>One batch of a <see cref="Batches.Run{T}"/> sweep: items [Start, Start + Items.Count) and their forward result.</summary>
public readonly record struct BatchProgress(int Done, int Total);

/// <summary>
/// The one batched loop over a model: items in batches of a given size, one request per batch, each result handed to
/// the caller in order, progress after each batch, cancellation between and inside batches.
/// </summary>
public static class Batches
{
    public static void Run<T>(IHookedModel model, IReadOnlyList<T> items, int batchSize,
        Func<IReadOnlyList<T>, ForwardRequest> request, Action<int, IReadOnlyList<T>, ForwardResult> consume,
        IProgress<BatchProgress>? progress = null, CancellationToken cancellation = default)
    {
        if (batchSize < 1) throw new InvalidArgumentException("must be at least 1", "batch_size", batchSize.ToString());
        for (int start = 0; start < items.Count; start += batchSize)
        {
            cancellation.ThrowIfCancellationRequested();
            var batch = Slice(items, start, Math.Min(batchSize, items.Count - start));
            using var result = model.Run(request(batch), cancellation);
            consume(start, batch, result);
            progress?.Report(new BatchProgress(start + batch.Count, items.Count));
        }
    }

    static IReadOnlyList<T> Slice<T>(IReadOnlyList<T> items, int start, int count)
    {
        var slice = new T[count];
        for (int i = 0; i < count; i++) slice[i] = items[start + i];
        return slice;
    }
}
