using OnnxInterp.Internals;
using OnnxInterp.Runtime;

namespace OnnxInterp.Analysis.Truth;

/// <summary>
/// Tokenised prompts of one dataset and their labels; <see cref="Positions"/> says which token of each prompt to read,
/// counted from its end (null: the last, −1).
/// </summary>
public sealed record TokenizedDataset(string Name, int[][] Tokens, int[] Labels, int[]? Positions = null)
{
    public int PositionOf(int row) => Positions?[row] ?? -1;
}

/// <summary>
/// The residual stream at one token of each prompt (by default the last: for a bare statement, the paper's
/// model.layers[l].output[0][:, −1]) at the output of every requested decoder layer (blocks.{l}.hook_resid_post), in
/// left-padded batches.
/// </summary>
public static class TruthActivations
{
    /// <summary>Activations [layer index][dataset index], not centred; rows in each dataset's order.</summary>
    public static ActivationSet[][] Collect(IHookedModel session, IReadOnlyList<TokenizedDataset> datasets, IReadOnlyList<int> layers,
        int batchSize = 32, Action<int>? rowsDone = null, CancellationToken cancellation = default)
    {
        if (batchSize <= 0) Throw.Argument("batch size must be positive", "batch_size", batchSize);
        if (layers.Count == 0) Throw.Argument("at least one layer is needed", "layers", 0);
        int numLayers = session.Config.NumLayers, dim = session.Config.HiddenSize;
        foreach (int l in layers)
            if ((uint)l >= (uint)numLayers) Throw.Argument($"layer outside 0..{numLayers - 1}", "layers", l);
        var hooks = layers.Select(l => HookName.ResidPost(l)).ToList();
        var data = layers.Select(_ => datasets.Select(d => new float[d.Tokens.Length * dim]).ToArray()).ToArray();

        // Similar lengths share a batch, so little padding is computed.
        var rows = datasets.SelectMany((d, di) => d.Tokens.Select((t, ri) => (Dataset: di, Row: ri, Tokens: t, Position: d.PositionOf(ri))))
            .OrderBy(r => r.Tokens.Length).ToList();
        foreach (var r in rows)
        {
            if (r.Tokens.Length == 0) Throw.Argument("a statement encodes to no token", "statement", $"{datasets[r.Dataset].Name} row {r.Row}");
            if (r.Position >= 0 || -r.Position > r.Tokens.Length)
                Throw.Argument($"positions count from the end (−1 … −{r.Tokens.Length} for this prompt)", "position", $"{datasets[r.Dataset].Name} row {r.Row}: {r.Position}");
        }
        int pad = session.Config.PadTokenId ?? 0;
        // Left padding aligns the prompts' ends, so end-relative positions are batch positions.
        static int[] Positions(IReadOnlyList<(int Dataset, int Row, int[] Tokens, int Position)> batch) => batch.Select(r => r.Position).Distinct().Order().ToArray();
        Batches.Run(session, rows, batchSize, batch => ForwardRequest.FromPrompts(batch.Select(r => r.Tokens).ToList(), pad) with
        {
            Hooks = [.. hooks],
            CapturePositions = Positions(batch),
            LogitPositions = [-1],
        }, (start, batch, result) =>
        {
            var positions = Positions(batch);
            for (int li = 0; li < layers.Count; li++)
            {
                var t = result.Cache[hooks[li]];
                for (int b = 0; b < batch.Count; b++)
                    t.Vector(b, Array.IndexOf(positions, batch[b].Position)).CopyTo(data[li][batch[b].Dataset].AsSpan(batch[b].Row * dim, dim));
            }
            rowsDone?.Invoke(start + batch.Count);
        }, cancellation: cancellation);
        return data.Select(perDataset => perDataset.Select((x, di) => new ActivationSet(x, dim, datasets[di].Labels)).ToArray()).ToArray();
    }
}
