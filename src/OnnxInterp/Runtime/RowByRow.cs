using OnnxInterp.Internals;

namespace OnnxInterp.Runtime;

/// <summary>
/// ONNX Runtime's GroupQueryAttention refuses a step of several tokens after a past for batches of more than one row
/// ("batch_size must be 1 when sequence_length > 1 and past context is given"). Fused graphs run such requests one row
/// at a time; the results are stacked back into one batch, so callers see no difference.
/// </summary>
static class RowByRow
{
    public static bool Needed(ForwardRequest r) => r.Past is { Length: > 0 } && r.InputIds.Length > 1 && r.InputIds[0].Length > 1;

    public static ForwardResult Run(ForwardRequest request, Func<ForwardRequest, ForwardResult> runOne)
    {
        int batch = request.InputIds.Length;
        CheckRows(request.Interventions, batch);
        if (request.Past!.Batch != batch) Throw.Argument($"past cache must hold {batch} rows", "past", request.Past.Batch);

        var parts = new List<ForwardResult>(batch);
        for (int b = 0; b < batch; b++)
        {
            var one = request with
            {
                InputIds = [request.InputIds[b]],
                AttentionMask = request.AttentionMask is { } m ? [m[b]] : null,
                PositionIds = request.PositionIds is { } p ? [p[b]] : null,
                Past = request.Past.Take(b, request.Past.Length),
                Interventions = ForRow(request.Interventions, b),
            };
            parts.Add(runOne(one));
        }
        var cache = parts[0].Cache.Keys.ToDictionary(k => k, k => Stack(parts.Select(p => p.Cache[k]).ToList()));
        KvCache? present = parts[0].Present is { } first
            ? new KvCache(
                Enumerable.Range(0, first.Keys.Count).Select(l => Stack(parts.Select(p => p.Present!.Keys[l]).ToList())).ToList(),
                Enumerable.Range(0, first.Values.Count).Select(l => Stack(parts.Select(p => p.Present!.Values[l]).ToList())).ToList())
            : null;
        return new ForwardResult(Stack(parts.Select(p => p.Logits).ToList()), cache) { Present = present };
    }

    /// <summary>Every intervention's rows lie inside the batch.</summary>
    public static void CheckRows(IReadOnlyList<Intervention>? interventions, int batch)
    {
        foreach (var iv in interventions ?? [])
            foreach (var row in iv.Rows ?? [])
                if ((uint)row >= (uint)batch) Throw.Argument($"row outside the batch of {batch}", iv.Hook + ".rows", row);
    }

    /// <summary>The interventions that apply to row <paramref name="b"/>, retargeted to a batch of that row alone.</summary>
    public static List<Intervention>? ForRow(IReadOnlyList<Intervention>? interventions, int b) =>
        interventions?.Where(i => i.Rows is null || i.Rows.Contains(b)).Select(i => i with { Rows = null }).ToList();

    /// <summary>Row <paramref name="b"/> of a tensor, as a batch of one.</summary>
    public static FloatTensor Row(FloatTensor t, int b)
    {
        var shape = (int[])t.Shape.Clone();
        int size = t.Length / shape[0];
        shape[0] = 1;
        return new FloatTensor(t.Data.AsSpan(b * size, size).ToArray(), shape);
    }

    /// <summary>Tensors of batch 1, same shape otherwise, stacked along the batch axis.</summary>
    public static FloatTensor Stack(IReadOnlyList<FloatTensor> rows)
    {
        var shape = (int[])rows[0].Shape.Clone();
        shape[0] = rows.Count;
        var data = new float[rows.Sum(r => r.Length)];
        int offset = 0;
        foreach (var r in rows)
        {
            r.Data.CopyTo(data, offset);
            offset += r.Length;
        }
        return new FloatTensor(data, shape);
    }
}
