using Onnx;

namespace OnnxInterp.Export.Hooking;

/// <summary>
/// Gives GroupQueryAttention nodes in a deployed graph the masking and positions our sessions rely on. The model builder
/// derives seqlens_k from the attention mask's row sums, which GroupQueryAttention reads as right padding, and (on CPU)
/// rotates Q and K inside the op from those lengths, which ignores position_ids. Our batches are left-padded and carry
/// position_ids, so each GroupQueryAttention here gets: RotaryEmbedding nodes on Q and K (same cos/sin caches,
/// interleaving and rotary dim) fed by position_ids, do_rotary = 0; seqlens_k = total − 1 for every row; and the
/// causal-and-padding mask as an additive attention_bias. Unpadded rows compute exactly what the deployed graph
/// computes; padded rows are now right as well. Its sliding window (local_window_size) and other attributes stay.
/// </summary>
static class AttentionRewriter
{
    public const string Gqa = "GroupQueryAttention";
    const int SeqlensK = 5, TotalLength = 6, CosCache = 7, SinCache = 8, AttentionBias = 10;

    /// <summary>Rewrites every GroupQueryAttention; returns how many. Adds the position_ids input when the graph lacks it.</summary>
    public static int Rewrite(GraphBuilder g, GraphIndex index, OnnxType t, int headDim, string file)
    {
        // Nodes that already take an attention_bias and rotate nothing are in our fused export's layout: kept as they are.
        var nodes = index.Graph.Node.Where(n => n.OpType == Gqa && !(HasBias(n) && GraphIndex.Attribute(n, "do_rotary", 0L) == 0)).ToList();
        if (nodes.Count == 0) return 0;
        if (!index.Inputs.Contains("position_ids")) g.Input("position_ids", OnnxType.Int64, "batch_size", "sequence_length");
        var (seqlens, total, bias) = Lengths(g, t);
        foreach (var n in nodes)
        {
            while (n.Input.Count <= AttentionBias) n.Input.Add("");
            if (n.Input[AttentionBias].Length > 0)
                throw new UnmappedGraphException($"{Gqa} rotates Q and K itself and already has an attention_bias input; this layout is not mapped", file, n.Name);
            if (n.Input[3].Length == 0 || n.Input[4].Length == 0)
                throw new UnmappedGraphException($"{Gqa} without past_key/past_value inputs is not mapped", file, n.Name);
            if (GraphIndex.Attribute(n, "do_rotary", 0L) != 0) Unfuse(g, index, n, headDim, file);
            n.Input[SeqlensK] = seqlens;
            n.Input[TotalLength] = total;
            n.Input[AttentionBias] = bias;
        }
        return nodes.Count;
    }

    static bool HasBias(NodeProto n) => n.Input.Count > AttentionBias && n.Input[AttentionBias].Length > 0;

    /// <summary>RotaryEmbedding on Q and K before the op (splitting a packed QKV first) instead of the op's own rotation.</summary>
    static void Unfuse(GraphBuilder g, GraphIndex index, NodeProto n, int headDim, string file)
    {
        string cos = n.Input[CosCache], sin = n.Input[SinCache];
        if (!index.Initializers.TryGetValue(cos, out var cache) || cache.Dims.Count != 2)
            throw new UnmappedGraphException($"{Gqa} with do_rotary needs cos_cache/sin_cache initializers of shape [positions, rotary_dim / 2]", file, n.Name);
        long heads = GraphIndex.Attribute(n, "num_heads", 0L), kvHeads = GraphIndex.Attribute(n, "kv_num_heads", 0L);
        long rotaryDim = 2 * cache.Dims[1];
        string q = n.Input[0], k = n.Input[1], v = n.Input[2];
        if (k.Length == 0)
        {
            var parts = g.Ops("Split", [q, g.ConstInt64(heads * headDim, kvHeads * headDim, kvHeads * headDim)], [g.Fresh("q"), g.Fresh("k"), g.Fresh("v")], null, ("axis", -1L));
            (q, k, v) = (parts[0], parts[1], parts[2]);
        }
        long interleaved = GraphIndex.Attribute(n, "rotary_interleaved", 0L);
        string Rotate(string x, long numHeads) => rotaryDim == headDim
            ? g.Op("RotaryEmbedding", [x, "position_ids", cos, sin], null, GraphBuilder.MicrosoftDomain, ("interleaved", interleaved))
            : g.Op("RotaryEmbedding", [x, "position_ids", cos, sin], null, GraphBuilder.MicrosoftDomain,
                ("interleaved", interleaved), ("num_heads", numHeads), ("rotary_embedding_dim", rotaryDim));
        n.Input[0] = Rotate(q, heads);
        n.Input[1] = Rotate(k, kvHeads);
        n.Input[2] = v;
        n.Input[CosCache] = "";
        n.Input[SinCache] = "";
        n.Attribute.First(a => a.Name == "do_rotary").I = 0;
    }

    /// <summary>seqlens_k = total − 1 for every row, total_sequence_length, and the additive causal-and-padding mask [B, 1, S, T].</summary>
    static (string Seqlens, string Total, string Bias) Lengths(GraphBuilder g, OnnxType t)
    {
        var maskShape = g.Op("Shape", ["attention_mask"]);
        var total = g.Op("Gather", [maskShape, g.ConstScalarInt64(1)], null, null, ("axis", 0L));
        var batch = g.Op("Gather", [maskShape, g.ConstScalarInt64(0)], null, null, ("axis", 0L));
        var seq = g.Op("Gather", [g.Op("Shape", ["input_ids"]), g.ConstScalarInt64(1)], null, null, ("axis", 0L));
        var last = g.Op("Expand", [g.Op("Sub", [total, g.ConstScalarInt64(1)]), g.Op("Unsqueeze", [batch, g.ConstInt64(0)])]);
        var seqlens = g.Op("Cast", [last], null, null, ("to", (long)OnnxType.Int32));
        var totalI32 = g.Op("Cast", [total], null, null, ("to", (long)OnnxType.Int32));

        var past = g.Op("Sub", [total, seq]);
        var one = g.ConstScalarInt64(1);
        var qPos = g.Op("Unsqueeze", [g.Op("Range", [past, total, one]), g.ConstInt64(1)]);
        var kPos = g.Op("Unsqueeze", [g.Op("Range", [g.ConstScalarInt64(0), total, one]), g.ConstInt64(0)]);
        var causal = g.Op("LessOrEqual", [kPos, qPos]);
        var padding = g.Op("Unsqueeze", [g.Op("Cast", ["attention_mask"], null, null, ("to", (long)OnnxType.Bool)), g.ConstInt64(1)]);
        var allowed = g.Op("And", [causal, padding]);
        // The type's own lowest value: float.MinValue would round to −inf in fp16 and turn fully masked rows into NaN.
        float lowest = t == OnnxType.Float16 ? -65504f : float.MinValue;
        var m = g.Op("Where", [allowed, g.ConstFloat(0f, t), g.ConstFloat(lowest, t)]);
        return (seqlens, totalI32, g.Op("Unsqueeze", [m, g.ConstInt64(1)]));
    }
}
