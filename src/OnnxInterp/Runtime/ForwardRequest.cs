using OnnxInterp.Internals;

namespace OnnxInterp.Runtime;

/// <summary>
/// One forward pass over a batch of equal-length rows. Build padded batches with <see cref="FromPrompts"/>
/// (left padding, mask and position ids as transformers makes them).
/// </summary>
public sealed record ForwardRequest(int[][] InputIds)
{
    /// <summary>1 for real tokens, 0 for padding; all ones when null.</summary>
    public int[][]? AttentionMask { get; init; }

    /// <summary>Rotary positions; when null, cumsum(mask) − 1 with padding set to 1, as transformers does.</summary>
    public int[][]? PositionIds { get; init; }

    /// <summary>Hook names or glob patterns (* and ?) to capture; null or empty captures none.</summary>
    public IReadOnlyList<HookPattern>? Hooks { get; init; }

    public IReadOnlyList<Intervention>? Interventions { get; init; }

    /// <summary>Keep only these positions of each captured hook (negative: from the end; −1 is the last token). Null keeps all.</summary>
    public int[]? CapturePositions { get; init; }

    /// <summary>Keep only these positions of the logits (e.g. [−1] for next-token prediction). Null keeps all.</summary>
    public int[]? LogitPositions { get; init; }

    /// <summary>Keys and values of earlier tokens; the attention mask then covers past + current tokens.</summary>
    public KvCache? Past { get; init; }

    /// <summary>Return the present keys and values (past + current) for incremental decoding.</summary>
    public bool ReturnPresent { get; init; }

    /// <summary>
    /// Leave the captured hooks and the present keys and values in ONNX Runtime's memory on the session's device (GPU
    /// memory under CUDA) instead of copying them to the host: the result's <see cref="ForwardResult.DeviceCache"/> and
    /// <see cref="ForwardResult.DevicePresent"/> hold them (its Cache and Present are then empty). Logits always come to the host.
    /// </summary>
    public bool DeviceOutputs { get; init; }

    /// <summary>Keys and values of earlier tokens still on the device (a previous result's <see cref="ForwardResult.DevicePresent"/>); not with <see cref="Past"/>.</summary>
    public DeviceKvCache? DevicePast { get; init; }

    /// <summary>Left-pads prompts of different lengths into one batch.</summary>
    public static ForwardRequest FromPrompts(IReadOnlyList<int[]> prompts, int padTokenId = 0)
    {
        if (prompts.Count == 0) Throw.Argument("at least one prompt is needed", "prompts", 0);
        int len = prompts.Max(p => p.Length);
        if (len == 0) Throw.Argument("prompts must not all be empty", "prompts", 0);
        var ids = new int[prompts.Count][];
        var mask = new int[prompts.Count][];
        for (int b = 0; b < prompts.Count; b++)
        {
            int pad = len - prompts[b].Length;
            ids[b] = new int[len];
            mask[b] = new int[len];
            for (int s = 0; s < len; s++)
            {
                ids[b][s] = s < pad ? padTokenId : prompts[b][s - pad];
                mask[b][s] = s < pad ? 0 : 1;
            }
        }
        return new ForwardRequest(ids) { AttentionMask = mask };
    }

    internal static int[][] DefaultPositions(int[][] mask)
    {
        var pos = new int[mask.Length][];
        for (int b = 0; b < mask.Length; b++)
        {
            pos[b] = new int[mask[b].Length];
            int c = 0;
            for (int s = 0; s < mask[b].Length; s++)
            {
                c += mask[b][s];
                pos[b][s] = mask[b][s] == 0 ? 1 : c - 1;
            }
        }
        return pos;
    }
}

/// <summary>
/// Logits [B, S, V] and the captured hooks, each [B, S, d], by name. A result of a run with
/// <see cref="ForwardRequest.DeviceOutputs"/> holds ORT memory: dispose it (or its device tensors) when done.
/// </summary>
public sealed record ForwardResult(FloatTensor Logits, IReadOnlyDictionary<HookName, FloatTensor> Cache) : IDisposable
{
    /// <summary>Present keys and values when <see cref="ForwardRequest.ReturnPresent"/> was set.</summary>
    public KvCache? Present { get; init; }

    /// <summary>The captured hooks in device memory, when <see cref="ForwardRequest.DeviceOutputs"/> was set.</summary>
    public IReadOnlyDictionary<HookName, DeviceTensor>? DeviceCache { get; init; }

    /// <summary>Present keys and values in device memory, when <see cref="ForwardRequest.DeviceOutputs"/> and <see cref="ForwardRequest.ReturnPresent"/> were set.</summary>
    public DeviceKvCache? DevicePresent { get; init; }

    /// <summary>Frees the device tensors (host tensors are managed memory).</summary>
    public void Dispose()
    {
        if (DeviceCache is { } d) foreach (var t in d.Values) t.Dispose();
        DevicePresent?.Dispose();
    }

    /// <summary>The captured activation at a hook, e.g. <c>result[HookName.ResidPost(3)]</c> or <c>result["blocks.3.hook_resid_post"]</c>.</summary>
    public FloatTensor this[HookName hook] =>
        Cache.TryGetValue(hook, out var t) ? t : throw new KeyNotFoundException($"{hook} was not captured");
}

/// <summary>Per-layer keys and values, each [B, kvHeads, T, headDim].</summary>
public sealed record KvCache(IReadOnlyList<FloatTensor> Keys, IReadOnlyList<FloatTensor> Values)
{
    public int Length => Keys.Count == 0 ? 0 : Keys[0].Shape[2];
    public int Batch => Keys.Count == 0 ? 0 : Keys[0].Shape[0];

    /// <summary>The first <paramref name="length"/> positions of batch row <paramref name="row"/>, repeated <paramref name="rows"/> times.</summary>
    public KvCache Take(int row, int length, int rows = 1)
    {
        if ((uint)row >= (uint)Batch) throw new InvalidArgumentException($"row outside the cache's batch of {Batch}", "row", row.ToString());
        if (length < 0 || length > Length) throw new InvalidArgumentException($"length outside the cache's {Length} positions", "length", length.ToString());
        if (rows <= 0) throw new InvalidArgumentException("rows must be positive", "rows", rows.ToString());
        return new KvCache(Keys.Select(t => Slice(t, row, length, rows)).ToList(), Values.Select(t => Slice(t, row, length, rows)).ToList());
    }

    /// <summary>One layer's keys or values: the first <paramref name="length"/> positions of <paramref name="row"/>, repeated.</summary>
    public static FloatTensor Slice(FloatTensor t, int row, int length, int rows)
    {
        int heads = t.Shape[1], total = t.Shape[2], hd = t.Shape[3];
        var result = FloatTensor.Zeros(rows, heads, length, hd);
        for (int r = 0; r < rows; r++)
            for (int h = 0; h < heads; h++)
                t.Data.AsSpan(((row * heads + h) * total) * hd, length * hd).CopyTo(result.Data.AsSpan(((r * heads + h) * length) * hd, length * hd));
        return result;
    }
}
