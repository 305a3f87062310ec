using OnnxInterp.Checkpoints;
using OnnxInterp.Checkpoints.Families;

namespace OnnxInterp.Export;

/// <summary>How an initializer's bytes are derived from checkpoint tensors.</summary>
enum WeightLayout
{
    /// <summary>As stored (norm weights, biases, the embedding).</summary>
    AsIs,

    /// <summary>[out, in] stored, [in, out] emitted, several sources concatenated along out (fused QKV, gate+up).</summary>
    TransposedConcat,
}

/// <summary>The initializers of one MatMulNBits weight: packed B, scales and (asymmetric only) zero points.</summary>
sealed record QuantizedWeightNames(string Packed, string Scales, string? ZeroPoints);

/// <summary>Receives each weight as the graph asks for it; writes its bytes and registers the initializer.</summary>
interface IWeightSink
{
    /// <summary>Registers an initializer named <paramref name="name"/> built from <paramref name="sources"/> and returns the name.</summary>
    string Weight(string name, WeightLayout layout, params string[] sources);

    /// <summary>
    /// Registers the MatMulNBits initializers of <paramref name="sources"/> ([out, in] each) concatenated along out:
    /// <c>{name}_Q{bits}</c>, <c>{name}_scales</c> and, for asymmetric quantization, <c>{name}_zero_points</c> (the
    /// model builder's names).
    /// </summary>
    QuantizedWeightNames Quantized(string name, WeightQuantization q, params string[] sources);

    /// <summary>Registers an initializer computed by the exporter (the rotary cos/sin caches).</summary>
    string Computed(string name, float[] values, long[] dims);
}

/// <summary>
/// Emits the decoder block every family shares as plain ONNX ops with a KV cache, hook outputs and injection inputs;
/// what differs between families reaches it as data (the config's biases and window, the family's tensor names). Semantics follow transformers' eager implementation; see the tests' reference forward pass.
/// </summary>
sealed partial class DecoderGraph
{
    readonly GraphBuilder _g;
    readonly ModelConfig _c;
    readonly ExportOptions _o;
    readonly IWeightSink _w;
    readonly TensorNames _n;
    readonly OnnxType _t;
    readonly List<HookPoint> _hooks = [];

    // Shared values computed once per graph.
    string _cos = "", _sin = "", _maskFull = "", _maskSliding = "";
    string _batch = "", _seq = "";

    public DecoderGraph(GraphBuilder g, ModelConfig c, ExportOptions o, IWeightSink w)
    {
        _g = g; _c = c; _o = o; _w = w;
        _n = c.Family.Tensors;
        _t = o.DType == ExportDType.Fp16 ? OnnxType.Float16 : OnnxType.Float;
    }

    public IReadOnlyList<HookPoint> Hooks => _hooks;

    /// <summary>The whole model: tokens in, logits out.</summary>
    public void Build() => BuildRange(0, _c.NumLayers - 1, fromTokens: true, withHead: true);

    /// <summary>One layer: hidden_in [B, S, d] and that layer's cache in, blocks.{l}.hook_resid_post and present out.</summary>
    public void BuildLayer(int layer) => BuildRange(layer, layer, fromTokens: false, withHead: false);

    /// <summary>The head alone: hidden_in [B, S, d] through the final norm to logits.</summary>
    public void BuildHead() => BuildRange(0, -1, fromTokens: false, withHead: true);

    public const string HiddenInput = "hidden_in";

    /// <summary>Optional input [1] of graphs with a head: compute logits for the last K positions only (0, the default: all).</summary>
    public const string LogitsToKeep = "logits_to_keep";

    void BuildRange(int first, int last, bool fromTokens, bool withHead)
    {
        var g = _g;
        bool layers = last >= first;
        if (fromTokens) g.Input("input_ids", OnnxType.Int64, "batch_size", "sequence_length");
        else g.Input(HiddenInput, _t, "batch_size", "sequence_length", _c.HiddenSize);
        if (layers)
        {
            g.Input("attention_mask", OnnxType.Int64, "batch_size", "total_sequence_length");
            g.Input("position_ids", OnnxType.Int64, "batch_size", "sequence_length");
            for (int l = first; l <= last; l++)
            {
                g.Input(PastKey(l), _t, "batch_size", _c.NumKvHeads, "past_sequence_length", _c.HeadDim);
                g.Input(PastValue(l), _t, "batch_size", _c.NumKvHeads, "past_sequence_length", _c.HeadDim);
            }
        }

        var inputShape = g.Op("Shape", [fromTokens ? "input_ids" : HiddenInput]);
        _batch = g.Op("Gather", [inputShape, g.ConstScalarInt64(0)], null, null, ("axis", 0L));
        _seq = g.Op("Gather", [inputShape, g.ConstScalarInt64(1)], null, null, ("axis", 0L));
        if (layers)
        {
            if (_o.Fused) BuildRotaryCaches();
            else BuildRotary();
            BuildMasks();
            if (_o.Fused) BuildAttentionLengths();
        }

        string? embed = fromTokens || (withHead && _c.TieWordEmbeddings) ? _w.Weight(WeightNames.Embed, WeightLayout.AsIs, _n.Embed) : null;
        string h = fromTokens ? g.Op("Gather", [embed!, "input_ids"], null, null, ("axis", 0L)) : HiddenInput;
        string? normed = null;
        if (_o.Fused) (h, normed) = FusedLayers(first, last, h, withHead);
        else for (int l = first; l <= last; l++) h = Layer(l, h);
        if (!withHead) return;

        normed ??= Norm(h, _w.Weight(WeightNames.FinalNorm, WeightLayout.AsIs, _n.FinalNorm));
        // logits_to_keep [1] (default 0: every position; transformers' argument): the head reads the last K positions
        // only, so a caller that wants the last token's logits does not pay the vocabulary product for the others. The
        // norm is per position, so slicing after it is the same as before it.
        g.ConstInt64([0], [1], LogitsToKeep);
        g.Input(LogitsToKeep, OnnxType.Int64, 1L);
        normed = g.Op("Slice", [normed, g.Op("Neg", [LogitsToKeep]), g.ConstInt64(long.MaxValue), g.ConstInt64(1)]);
        var keptSeq = g.Op("Gather", [g.Op("Shape", [normed]), g.ConstScalarInt64(1)], null, null, ("axis", 0L));
        g.Output("logits", OnnxType.Float, "batch_size", "logits_length", _c.VocabSize);
        if (_o.Quantization is { Head: true } q)
        {
            // MatMulNBits reads B as [N, K] = [vocab, hidden], the head as stored (a tied head quantizes a copy of the embedding).
            MatMulNBits(normed, _w.Quantized(WeightNames.LmHead, q, _c.TieWordEmbeddings ? _n.Embed : _n.LmHead),
                q, _c.HiddenSize, _c.VocabSize, "logits");
            return;
        }
        string headName = _c.TieWordEmbeddings ? embed! : _w.Weight(WeightNames.LmHead, WeightLayout.AsIs, _n.LmHead);
        // Gemm with transB reads the [vocab, hidden] matrix as stored, so a tied head shares the embedding.
        var flat = g.Op("Reshape", [normed, g.ConstInt64(-1, _c.HiddenSize)]);
        var logits2d = g.Op("Gemm", [flat, headName], null, null, ("transB", 1L));
        var outShape = g.Op("Concat", [Unsq(_batch), Unsq(keptSeq), g.ConstInt64(_c.VocabSize)], null, null, ("axis", 0L));
        if (_t == OnnxType.Float)
        {
            g.Op("Reshape", [logits2d, outShape], "logits");
        }
        else
        {
            var l3 = g.Op("Reshape", [logits2d, outShape]);
            g.Op("Cast", [l3], "logits", null, ("to", (long)OnnxType.Float));
        }
    }

    public static string PastKey(int l) => $"past_key_values.{l}.key";
    public static string PastValue(int l) => $"past_key_values.{l}.value";
    public static string PresentKey(int l) => $"present.{l}.key";
    public static string PresentValue(int l) => $"present.{l}.value";

    string Unsq(string scalar) => _g.Op("Unsqueeze", [scalar, _g.ConstInt64(0)]);

    void BuildRotary()
    {
        var g = _g;
        var invFreq = RotaryFrequencies.InverseFrequencies(_c).Select(x => (float)x).ToArray();
        var inv = g.ConstFloats(invFreq, OnnxType.Float, [1, 1, invFreq.Length], "rotary.inv_freq");
        var pos = g.Op("Cast", ["position_ids"], null, null, ("to", (long)OnnxType.Float));
        var pos3 = g.Op("Unsqueeze", [pos, g.ConstInt64(2)]);
        var freqs = g.Op("Mul", [pos3, inv]);
        var emb = g.Op("Concat", [freqs, freqs], null, null, ("axis", -1L));
        var cos = g.Op("Unsqueeze", [g.Op("Cos", [emb]), g.ConstInt64(1)]);
        var sin = g.Op("Unsqueeze", [g.Op("Sin", [emb]), g.ConstInt64(1)]);
        _cos = CastTo(cos);
        _sin = CastTo(sin);
    }

    /// <summary>Additive masks [B, 1, 1, S, T] ([B, 1, S, T] when fused): 0 where query i may see key j, the lowest float elsewhere.</summary>
    void BuildMasks()
    {
        var g = _g;
        var maskShape = g.Op("Shape", ["attention_mask"]);
        var total = g.Op("Gather", [maskShape, g.ConstScalarInt64(1)], null, null, ("axis", 0L));
        var past = g.Op("Sub", [total, _seq]);
        var one = g.ConstScalarInt64(1);
        var qPos = g.Op("Unsqueeze", [g.Op("Range", [past, total, one]), g.ConstInt64(1)]);  // [S, 1]
        var kPos = g.Op("Unsqueeze", [g.Op("Range", [g.ConstScalarInt64(0), total, one]), g.ConstInt64(0)]);  // [1, T]
        var causal = g.Op("LessOrEqual", [kPos, qPos]);  // [S, T]
        var padding = g.Op("Unsqueeze", [g.Op("Cast", ["attention_mask"], null, null, ("to", (long)OnnxType.Bool)), g.ConstInt64(1)]);  // [B, 1, T]
        var allowed = g.Op("And", [causal, padding]);  // [B, S, T]
        _maskFull = Additive(allowed);
        if (_c.SlidingWindow is int w)
        {
            // transformers' sliding_window_overlay: key j is visible to query i iff j > i - window.
            var lowest = g.Op("Sub", [qPos, g.ConstScalarInt64(w)]);
            var inWindow = g.Op("Greater", [kPos, lowest]);
            _maskSliding = Additive(g.Op("And", [allowed, inWindow]));
        }
    }

    string Additive(string allowed)
    {
        var g = _g;
        var m = g.Op("Where", [allowed, g.ConstFloat(0f, OnnxType.Float), g.ConstFloat(float.MinValue, OnnxType.Float)]);
        // [B, 1, 1, S, T] for the grouped MatMul of the plain graph; [B, 1, S, T] as GroupQueryAttention's attention_bias.
        return _o.Fused ? g.Op("Unsqueeze", [m, g.ConstInt64(1)]) : g.Op("Unsqueeze", [m, g.ConstInt64(1, 2)]);
    }

    string CastTo(string x) => _t == OnnxType.Float ? x : _g.Op("Cast", [x], null, null, ("to", (long)_t));

    string CastFloat(string x) => _t == OnnxType.Float ? x : _g.Op("Cast", [x], null, null, ("to", (long)OnnxType.Float));

    /// <summary>x / sqrt(mean(x²) + eps) · w, statistics in fp32 as transformers' LlamaRMSNorm.</summary>
    string RmsNorm(string x, string weight)
    {
        var g = _g;
        var xf = CastFloat(x);
        var sq = g.Op("Pow", [xf, g.ConstFloat(2f, OnnxType.Float)]);
        var mean = g.Op("ReduceMean", [sq, g.ConstInt64(-1)], null, null, ("keepdims", 1L));
        var std = g.Op("Sqrt", [g.Op("Add", [mean, g.ConstFloat((float)_c.RmsNormEps, OnnxType.Float)])]);
        var n = CastTo(g.Op("Div", [xf, std]));
        return g.Op("Mul", [n, weight]);
    }

    /// <summary>
    /// x · Wᵀ (+ b), W the rows of <paramref name="sources"/> ([out, in] each) stacked: a MatMul over the transposed weight,
    /// or MatMulNBits over the block-quantized weight.
    /// </summary>
    string Linear(string x, string name, string[] sources, int inDim, int outDim, string? bias)
    {
        var y = _o.Quantization is { } q
            ? MatMulNBits(x, _w.Quantized(name, q, sources), q, inDim, outDim)
            : _g.Op("MatMul", [x, _w.Weight(name, WeightLayout.TransposedConcat, sources)]);
        return bias is null ? y : _g.Op("Add", [y, bias]);
    }

    string MatMulNBits(string x, QuantizedWeightNames w, WeightQuantization q, int k, int n, string? output = null)
    {
        string[] inputs = w.ZeroPoints is null ? [x, w.Packed, w.Scales] : [x, w.Packed, w.Scales, w.ZeroPoints];
        var attributes = new List<(string, object)> { ("K", (long)k), ("N", (long)n), ("bits", (long)q.Bits), ("block_size", (long)q.BlockSize) };
        if (q.AccuracyLevel != 0) attributes.Add(("accuracy_level", (long)q.AccuracyLevel));
        return _g.Op("MatMulNBits", inputs, output, GraphBuilder.MicrosoftDomain, [.. attributes]);
    }

    /// <summary>An initializer's name in the graph (<see cref="WeightNames"/>); its sources are the family's checkpoint names (<see cref="TensorNames"/>).</summary>
    string W(int l, string suffix) => WeightNames.Layer(l, suffix);

    string Layer(int l, string h)
    {
        var g = _g;
        h = Hook(HookKind.ResidPre, l, h, _c.HiddenSize);

        // Attention: fused QKV projection, rotary, grouped-query attention over past + current keys.
        int q = _c.NumHeads * _c.HeadDim, kv = _c.NumKvHeads * _c.HeadDim;
        var n1 = RmsNorm(h, _w.Weight(W(l, "input_layernorm.weight"), WeightLayout.AsIs, _n.InLayer(l, _n.InputNorm)));
        string? bqkv = _c.QkvBias
            ? _w.Weight(W(l, "self_attn.qkv_proj.bias"), WeightLayout.AsIs, _n.Bias(l, _n.QProj), _n.Bias(l, _n.KProj), _n.Bias(l, _n.VProj))
            : null;
        var qkv = Linear(n1, W(l, "self_attn.qkv_proj.weight"),
            [_n.Weight(l, _n.QProj), _n.Weight(l, _n.KProj), _n.Weight(l, _n.VProj)], _c.HiddenSize, q + 2 * kv, bqkv);
        var parts = g.Ops("Split", [qkv, g.ConstInt64(q, kv, kv)], [g.Fresh("q"), g.Fresh("k"), g.Fresh("v")], null, ("axis", -1L));
        var qh = g.Op("Transpose", [g.Op("Reshape", [parts[0], g.ConstInt64(0, 0, _c.NumHeads, _c.HeadDim)])], null, null, ("perm", new long[] { 0, 2, 1, 3 }));
        var kh = g.Op("Transpose", [g.Op("Reshape", [parts[1], g.ConstInt64(0, 0, _c.NumKvHeads, _c.HeadDim)])], null, null, ("perm", new long[] { 0, 2, 1, 3 }));
        var vh = g.Op("Transpose", [g.Op("Reshape", [parts[2], g.ConstInt64(0, 0, _c.NumKvHeads, _c.HeadDim)])], null, null, ("perm", new long[] { 0, 2, 1, 3 }));
        qh = Rotate(qh);
        kh = Rotate(kh);
        var keys = g.Op("Concat", [PastKey(l), kh], PresentKey(l), null, ("axis", 2L));
        var values = g.Op("Concat", [PastValue(l), vh], PresentValue(l), null, ("axis", 2L));
        g.Output(PresentKey(l), _t, "batch_size", _c.NumKvHeads, "total_sequence_length", _c.HeadDim);
        g.Output(PresentValue(l), _t, "batch_size", _c.NumKvHeads, "total_sequence_length", _c.HeadDim);

        // Query heads grouped by the KV head they share: [B, kvH, G, S, hd] against [B, kvH, 1, T, hd].
        var scaled = g.Op("Mul", [qh, g.ConstFloat((float)(1.0 / Math.Sqrt(_c.HeadDim)), _t)]);
        var q5 = g.Op("Reshape", [scaled, g.ConstInt64(0, _c.NumKvHeads, _c.KvGroups, -1, _c.HeadDim)]);
        var kT = g.Op("Transpose", [g.Op("Unsqueeze", [keys, g.ConstInt64(2)])], null, null, ("perm", new long[] { 0, 1, 2, 4, 3 }));
        var scores = CastFloat(g.Op("MatMul", [q5, kT]));
        var masked = g.Op("Add", [scores, _c.IsSlidingLayer(l) ? _maskSliding : _maskFull]);
        var probs = CastTo(g.Op("Softmax", [masked], null, null, ("axis", -1L)));
        var ctx = g.Op("MatMul", [probs, g.Op("Unsqueeze", [values, g.ConstInt64(2)])]);  // [B, kvH, G, S, hd]
        var ctx4 = g.Op("Reshape", [ctx, g.ConstInt64(0, _c.NumHeads, -1, _c.HeadDim)]);
        var ctxFlat = g.Op("Reshape", [g.Op("Transpose", [ctx4], null, null, ("perm", new long[] { 0, 2, 1, 3 })), g.ConstInt64(0, 0, q)]);
        string? bo = _c.OProjBias ? _w.Weight(W(l, "self_attn.o_proj.bias"), WeightLayout.AsIs, _n.Bias(l, _n.OProj)) : null;
        var attn = Linear(ctxFlat, W(l, "self_attn.o_proj.weight"), [_n.Weight(l, _n.OProj)], q, _c.HiddenSize, bo);
        var mid = Hook(HookKind.ResidMid, l, g.Op("Add", [h, attn]), _c.HiddenSize);

        var n2 = RmsNorm(mid, _w.Weight(W(l, "post_attention_layernorm.weight"), WeightLayout.AsIs, _n.InLayer(l, _n.PostAttentionNorm)));
        return Hook(HookKind.ResidPost, l, g.Op("Add", [mid, Mlp(l, n2)]), _c.HiddenSize);
    }

    /// <summary>down(silu(gate(x)) * up(x)), gate and up fused into one product, with the MLP hook on the activation.</summary>
    string Mlp(int l, string x)
    {
        var g = _g;
        string? bgu = _c.MlpBias ? _w.Weight(W(l, "mlp.gate_up_proj.bias"), WeightLayout.AsIs, _n.Bias(l, _n.GateProj), _n.Bias(l, _n.UpProj)) : null;
        var gu = Linear(x, W(l, "mlp.gate_up_proj.weight"), [_n.Weight(l, _n.GateProj), _n.Weight(l, _n.UpProj)], _c.HiddenSize, 2 * _c.IntermediateSize, bgu);
        var gate_up = g.Ops("Split", [gu, g.ConstInt64(_c.IntermediateSize, _c.IntermediateSize)], [g.Fresh("gate"), g.Fresh("up")], null, ("axis", -1L));
        var act = g.Op("Mul", [g.Op("Mul", [gate_up[0], g.Op("Sigmoid", [gate_up[0]])]), gate_up[1]]);
        act = Hook(HookKind.MlpPost, l, act, _c.IntermediateSize);
        string? bd = _c.MlpBias ? _w.Weight(W(l, "mlp.down_proj.bias"), WeightLayout.AsIs, _n.Bias(l, _n.DownProj)) : null;
        return Linear(act, W(l, "mlp.down_proj.weight"), [_n.Weight(l, _n.DownProj)], _c.IntermediateSize, _c.HiddenSize, bd);
    }

    /// <summary>x·cos + rotate_half(x)·sin, with rotate_half(x) = [−x₂, x₁] over the two halves of the head.</summary>
    string Rotate(string x)
    {
        var g = _g;
        int half = _c.HeadDim / 2;
        var halves = g.Ops("Split", [x, g.ConstInt64(half, half)], [g.Fresh("x1"), g.Fresh("x2")], null, ("axis", -1L));
        var rot = g.Op("Concat", [g.Op("Neg", [halves[1]]), halves[0]], null, null, ("axis", -1L));
        return g.Op("Add", [g.Op("Mul", [x, _cos]), g.Op("Mul", [rot, _sin])]);
    }

    string Hook(HookKind kind, int layer, string h, int dim)
    {
        var hook = HookPoint.Create(kind, layer, dim);
        _hooks.Add(hook);
        return HookEmitter.Emit(_g, hook, h, _t, _o.HookOutputs, _o.InjectionInputs);
    }
}
