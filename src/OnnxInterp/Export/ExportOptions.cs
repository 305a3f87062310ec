using System.Text.Json.Serialization;
using OnnxInterp.Internals;

namespace OnnxInterp.Export;

[JsonConverter(typeof(JsonStringEnumConverter<ExportDType>))]
public enum ExportDType
{
    /// <summary>fp32 weights and activations: the CPU choice and the reference for every test.</summary>
    Fp32,

    /// <summary>fp16 weights and activations, with RMSNorm statistics, rotary angles and softmax in fp32 as Hugging Face computes them.</summary>
    Fp16,
}

/// <summary>
/// Weight-only block quantization of the linear layers into ONNX Runtime's MatMulNBits, as onnxruntime-genai's model
/// builder deploys int4/int8 models: blocks of <see cref="BlockSize"/> weights along the input dimension share one fp32
/// scale (and, when not <see cref="Symmetric"/>, one zero point). Activations stay fp32.
/// </summary>
public sealed record WeightQuantization
{
    /// <summary>4 or 8.</summary>
    public int Bits { get; init; } = 4;

    /// <summary>32 or 128 (the builder's default is 32).</summary>
    public int BlockSize { get; init; } = 32;

    /// <summary>
    /// Symmetric (the builder's default): scale = the block's largest-magnitude value / −2^(bits−1), no zero-point tensor
    /// (MatMulNBits then uses 2^(bits−1)). Otherwise min/max with a per-block zero point.
    /// </summary>
    public bool Symmetric { get; init; } = true;

    /// <summary>
    /// MatMulNBits' accuracy_level: 0 computes in fp32; 4 (the builder's CPU default) lets the kernel quantize activations to
    /// int8 per block, which is faster and adds error.
    /// </summary>
    public int AccuracyLevel { get; init; } = 4;

    /// <summary>Quantize the LM head too (the builder does: it is a MatMul like the others). The embedding stays fp32.</summary>
    public bool Head { get; init; } = true;

    public static WeightQuantization Int4(int blockSize = 32) => new() { Bits = 4, BlockSize = blockSize };
    public static WeightQuantization Int8(int blockSize = 32) => new() { Bits = 8, BlockSize = blockSize };

    /// <summary>Short label for reports: "int4-b32", "int8-b128-asym".</summary>
    public override string ToString() => $"int{Bits}-b{BlockSize}{(Symmetric ? "" : "-asym")}";

    internal void Validate()
    {
        if (Bits is not (4 or 8)) Throw.Argument("quantization bits must be 4 or 8", "quantization.bits", Bits);
        if (BlockSize is not (32 or 128)) Throw.Argument("quantization block size must be 32 or 128", "quantization.blockSize", BlockSize);
        if (AccuracyLevel is not (0 or 1 or 4)) Throw.Argument("accuracy level must be 0 (unset), 1 (fp32) or 4 (int8 activations)", "quantization.accuracyLevel", AccuracyLevel);
    }
}

/// <summary>How to export. Defaults give the full hook I/O that the analyses expect.</summary>
public readonly record struct ExportOptions()
{
    public ExportDType DType { get; init; } = ExportDType.Fp32;

    /// <summary>Expose every hook point as a graph output.</summary>
    public bool HookOutputs { get; init; } = true;

    /// <summary>Add the no-op injection inputs (scale, shift, projection) at every hook point.</summary>
    public bool InjectionInputs { get; init; } = true;

    /// <summary>
    /// Also write one graph per layer (layer_{l}.onnx: hidden_in and that layer's cache in, its hooks out) and the head
    /// (head.onnx), sharing model.onnx.data, so analyses can restart the model at any layer. Needs hook outputs.
    /// </summary>
    public bool LayerGraphs { get; init; } = true;

    /// <summary>
    /// Also write decode.onnx: the model without hook outputs and injection inputs, over the same weights, which
    /// generation without interventions runs (the injection sub-graphs of every hook point are a fixed cost per decode
    /// step). Only where the main graph has hook I/O and is not fused (a fused graph without hooks fuses differently, so its
    /// logits would not be the hooked graph's bit for bit).
    /// </summary>
    public bool DecodeGraph { get; init; } = true;

    /// <summary>Copy tokenizer files from the checkpoint folder.</summary>
    public bool CopyTokenizer { get; init; } = true;

    /// <summary>Compute the checkpoint's SHA-256 for the manifest (reads the whole checkpoint once).</summary>
    public bool HashSource { get; init; } = true;

    /// <summary>Quantize the linear layers to MatMulNBits (fp32 exports only); null keeps float weights.</summary>
    public WeightQuantization? Quantization { get; init; }

    /// <summary>
    /// The deployment form of the graph (fp32 only): RotaryEmbedding and GroupQueryAttention contrib ops, and
    /// SkipSimplifiedLayerNormalization for the residual adds where no injection input sits between the add and the norm
    /// (with injection inputs the norm must see the injected value, so it is a SimplifiedLayerNormalization after it).
    /// The inputs stay ours (input_ids, attention_mask, position_ids, past_key_values.*): any padding is honoured.
    /// </summary>
    public bool Fused { get; init; }

    /// <summary>A plain graph with neither hook outputs nor injection inputs: the baseline for benchmarks.</summary>
    public static ExportOptions Plain => new() { HookOutputs = false, InjectionInputs = false, LayerGraphs = false, DecodeGraph = false };

    internal void Validate()
    {
        Quantization?.Validate();
        if (DType != ExportDType.Fp32 && (Quantization is not null || Fused))
            Throw.Argument("quantized and fused exports are the CPU deployment forms and need fp32", "dtype", DType);
    }
}
