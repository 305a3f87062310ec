using System.Text.Json.Serialization;

namespace OnnxInterp.Export;

[JsonConverter(typeof(JsonStringEnumConverter<ExportDType>))]
public enum ExportDType
{
    /// <summary>fp32 weights and activations: the CPU choice and the reference for every test.</summary>
    Fp32,

    /// <summary>fp16 weights and activations, with RMSNorm statistics, rotary angles and softmax in fp32 as Hugging Face computes them.</summary>
    Fp16,
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

    /// <summary>Copy tokenizer files from the checkpoint folder.</summary>
    public bool CopyTokenizer { get; init; } = true;

    /// <summary>Compute the checkpoint's SHA-256 for the manifest (reads the whole checkpoint once).</summary>
    public bool HashSource { get; init; } = true;

    /// <summary>A plain graph with neither hook outputs nor injection inputs: the baseline for benchmarks.</summary>
    public static ExportOptions Plain => new() { HookOutputs = false, InjectionInputs = false, LayerGraphs = false };
}
