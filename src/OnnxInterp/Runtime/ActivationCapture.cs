using OnnxInterp.Internals;

namespace OnnxInterp.Runtime;

/// <summary>What to capture over a dataset: which hooks, which positions of each prompt, in batches of what size.</summary>
public sealed record CaptureOptions
{
    /// <summary>Hook names or glob patterns, e.g. "blocks.*.hook_resid_post".</summary>
    public required IReadOnlyList<HookPattern> Hooks { get; init; }

    /// <summary>Positions per prompt, counted from the end of each prompt (−1 is its last token). Default: the last token.</summary>
    public int[] Positions { get; init; } = [-1];

    public int BatchSize { get; init; } = 16;
    public ActivationStoreFormat Format { get; init; } = ActivationStoreFormat.Safetensors;
    public ActivationStoreDType DType { get; init; } = ActivationStoreDType.F32;

    /// <summary>Applied in every batch, e.g. to capture a steered model.</summary>
    public IReadOnlyList<Intervention>? Interventions { get; init; }

    public IReadOnlyDictionary<string, string>? Metadata { get; init; }
}

public readonly record struct CaptureProgress(int PromptsDone, int Prompts);

/// <summary>
/// Streams activations over a dataset to an activation store on disk, batch by batch, so memory stays flat
/// whatever the number of prompts: row i of every tensor is prompt i. Cancelling leaves no file behind (and
/// an existing file at the path intact).
/// </summary>
public static class ActivationCapture
{
    public static void ToStore(ModelSession model, IReadOnlyList<int[]> prompts, string path, CaptureOptions options,
        IProgress<CaptureProgress>? progress = null, CancellationToken cancellation = default)
    {
        if (prompts.Count == 0) Throw.Argument("no prompts to capture", "prompts", 0);
        if (options.BatchSize <= 0) Throw.Argument("batch size must be positive", "batch_size", options.BatchSize);
        if (options.Positions.Length == 0) Throw.Argument("at least one position is needed", "positions", 0);
        int shortest = prompts.Min(p => p.Length);
        foreach (int p in options.Positions)
            if (p >= 0 || -p > shortest) Throw.Argument($"positions count from the end (−1 … −{shortest} for these prompts)", "positions", p);

        var hooks = model.ResolveHooks(options.Hooks);
        var dims = model.Hooks.ToDictionary(h => h.Name, h => h.Dim);
        using var writer = ActivationStoreWriter.Create(path, options.Format, prompts.Count,
            hooks.Select(h => (h.ToString(), options.Positions.Length, dims[h])).ToList(), options.Metadata, options.DType);
        int pad = model.Manifest.Config.PadTokenId ?? 0;
        // Left padding puts every prompt's end at the end of the row, so end-relative positions line up.
        Batches.Run(model, prompts, options.BatchSize, batch => ForwardRequest.FromPrompts(batch, pad) with
        {
            Hooks = [.. hooks],
            CapturePositions = options.Positions,
            LogitPositions = [-1],
            Interventions = options.Interventions,
        }, (start, batch, result) =>
        {
            writer.Append(result.Cache.ToDictionary(e => e.Key.ToString(), e => e.Value, StringComparer.Ordinal));
            progress?.Report(new CaptureProgress(start + batch.Count, prompts.Count));
        }, cancellation: cancellation);
        writer.Complete();
    }
}
