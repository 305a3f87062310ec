using OnnxInterp.Checkpoints;

namespace OnnxInterp.Export;

/// <summary>
/// The deployment form of the decoder (<see cref="ExportOptions.Fused"/>), with ONNX Runtime's contrib ops as
/// onnxruntime-genai's model builder emits them: RotaryEmbedding on Q and K, GroupQueryAttention over the KV cache,
/// SkipSimplifiedLayerNormalization for each residual add and the norm after it (SimplifiedLayerNormalization where an
/// injection input sits in between, since the norm must then see the injected value).
/// Unlike the builder's graph, attention masking comes from our attention_mask as an additive attention_bias (causal,
/// padding and sliding window; seqlens_k says every position is valid) and positions from our position_ids, so left
/// padding, KV caches and masks behave exactly as in the plain graph and the session feeds both forms alike.
/// </summary>
sealed partial class DecoderGraph
{
    string _cosCache = "", _sinCache = "", _seqlensK = "", _totalLength = "";

    /// <summary>cos/sin of position · inv_freq for every position below max_position_embeddings, [P, head_dim / 2], in double then rounded.</summary>
    void BuildRotaryCaches()
    {
        var inv = RotaryFrequencies.InverseFrequencies(_c);
        int positions = _c.MaxPositionEmbeddings, half = inv.Length;
        var cos = new float[positions * half];
        var sin = new float[positions * half];
        for (int p = 0; p < positions; p++)
            for (int j = 0; j < half; j++)
            {
                double a = p * inv[j];
                cos[p * half + j] = (float)Math.Cos(a);
                sin[p * half + j] = (float)Math.Sin(a);
            }
        _cosCache = _w.Computed("rotary.cos_cache", cos, [positions, half]);
        _sinCache = _w.Computed("rotary.sin_cache", sin, [positions, half]);
    }

    /// <summary>GroupQueryAttention's lengths: every position of every row is valid (the mask is in attention_bias).</summary>
    void BuildAttentionLengths()
    {
        var g = _g;
        var total = g.Op("Gather", [g.Op("Shape", ["attention_mask"]), g.ConstScalarInt64(1)], null, null, ("axis", 0L));
        var last = g.Op("Expand", [g.Op("Sub", [total, g.ConstScalarInt64(1)]), Unsq(_batch)]);
        _seqlensK = g.Op("Cast", [last], null, null, ("to", (long)OnnxType.Int32));
        _totalLength = g.Op("Cast", [total], null, null, ("to", (long)OnnxType.Int32));
    }

    string Norm(string x, string weight) => _o.Fused
        ? _g.Op("SimplifiedLayerNormalization", [x, weight], null, null, ("axis", -1L), ("epsilon", (float)_c.RmsNormEps), ("stash_type", 1L))
        : RmsNorm(x, weight);

    /// <summary>Layers first..last from the residual h; returns the last residual and, with the head, its final norm.</summary>
    (string Residual, string? Normed) FusedLayers(int first, int last, string h, bool withHead)
    {
        if (last < first) return (h, null);
        string r = Hook(HookKind.ResidPre, first, h, _c.HiddenSize);
        string normed = Norm(r, NormWeight(first, "input_layernorm.weight", _n.InputNorm));
        for (int l = first; l <= last; l++)
        {
            string attn = FusedAttention(l, normed);
            (r, var n2) = AddAndNorm(r, attn, NormWeight(l, "post_attention_layernorm.weight", _n.PostAttentionNorm), [(HookKind.ResidMid, l)]);
            string mlp = Mlp(l, n2!);
            string? next = l < last ? NormWeight(l + 1, "input_layernorm.weight", _n.InputNorm)
                : withHead ? _w.Weight(WeightNames.FinalNorm, WeightLayout.AsIs, _n.FinalNorm) : null;
            var hooks = l < last ? new[] { (HookKind.ResidPost, l), (HookKind.ResidPre, l + 1) } : [(HookKind.ResidPost, l)];
            string? n;
            (r, n) = AddAndNorm(r, mlp, next, hooks);
            normed = n ?? "";
        }
        return (r, withHead ? normed : null);
    }

    string NormWeight(int l, string suffix, string source) => _w.Weight(W(l, suffix), WeightLayout.AsIs, _n.InLayer(l, source));

    /// <summary>
    /// residual + branch, the hooks at that point, then the norm (when <paramref name="normWeight"/> is given). Without
    /// injection inputs one SkipSimplifiedLayerNormalization computes both; its fourth output is the residual sum.
    /// </summary>
    (string Residual, string? Normed) AddAndNorm(string residual, string branch, string? normWeight, (HookKind Kind, int Layer)[] hooks)
    {
        var g = _g;
        string sum;
        string? normed = null;
        if (!_o.InjectionInputs && normWeight is not null)
        {
            var outs = g.Ops("SkipSimplifiedLayerNormalization", [residual, branch, normWeight], [g.Fresh("normed"), "", "", g.Fresh("residual")],
                GraphBuilder.MicrosoftDomain, ("epsilon", (float)_c.RmsNormEps));
            normed = outs[0];
            sum = outs[3];
        }
        else
        {
            sum = g.Op("Add", [residual, branch]);
        }
        foreach (var (kind, layer) in hooks) sum = Hook(kind, layer, sum, _c.HiddenSize);
        if (normed is null && normWeight is not null) normed = Norm(sum, normWeight);
        return (sum, normed);
    }

    /// <summary>Q, K, V from one projection; RotaryEmbedding on Q and K; GroupQueryAttention over past + current keys; o_proj.</summary>
    string FusedAttention(int l, string x)
    {
        var g = _g;
        int q = _c.NumHeads * _c.HeadDim, kv = _c.NumKvHeads * _c.HeadDim;
        string? bqkv = _c.QkvBias
            ? _w.Weight(W(l, "self_attn.qkv_proj.bias"), WeightLayout.AsIs, _n.Bias(l, _n.QProj), _n.Bias(l, _n.KProj), _n.Bias(l, _n.VProj))
            : null;
        var qkv = Linear(x, W(l, "self_attn.qkv_proj.weight"),
            [_n.Weight(l, _n.QProj), _n.Weight(l, _n.KProj), _n.Weight(l, _n.VProj)], _c.HiddenSize, q + 2 * kv, bqkv);
        var parts = g.Ops("Split", [qkv, g.ConstInt64(q, kv, kv)], [g.Fresh("q"), g.Fresh("k"), g.Fresh("v")], null, ("axis", -1L));
        var qr = g.Op("RotaryEmbedding", [parts[0], "position_ids", _cosCache, _sinCache], null, GraphBuilder.MicrosoftDomain, ("interleaved", 0L));
        var kr = g.Op("RotaryEmbedding", [parts[1], "position_ids", _cosCache, _sinCache], null, GraphBuilder.MicrosoftDomain, ("interleaved", 0L));
        var bias = _c.IsSlidingLayer(l) ? _maskSliding : _maskFull;
        var outs = g.Ops("GroupQueryAttention",
            [qr, kr, parts[2], PastKey(l), PastValue(l), _seqlensK, _totalLength, "", "", "", bias],
            [g.Fresh("attn"), PresentKey(l), PresentValue(l)], GraphBuilder.MicrosoftDomain,
            ("num_heads", (long)_c.NumHeads), ("kv_num_heads", (long)_c.NumKvHeads), ("scale", (float)(1.0 / Math.Sqrt(_c.HeadDim))),
            ("do_rotary", 0L), ("local_window_size", -1L));
        g.Output(PresentKey(l), _t, "batch_size", _c.NumKvHeads, "total_sequence_length", _c.HeadDim);
        g.Output(PresentValue(l), _t, "batch_size", _c.NumKvHeads, "total_sequence_length", _c.HeadDim);
        string? bo = _c.OProjBias ? _w.Weight(W(l, "self_attn.o_proj.bias"), WeightLayout.AsIs, _n.Bias(l, _n.OProj)) : null;
        return Linear(outs[0], W(l, "self_attn.o_proj.weight"), [_n.Weight(l, _n.OProj)], q, _c.HiddenSize, bo);
    }
}
