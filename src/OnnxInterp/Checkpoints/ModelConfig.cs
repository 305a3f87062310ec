using System.Collections.Immutable;
using OnnxInterp.Checkpoints.Families;

namespace OnnxInterp.Checkpoints;

/// <summary>Rotary scaling as config.json's rope_scaling describes it. Only "llama3" and "linear" are implemented.</summary>
public sealed record RopeScaling(string Type, double Factor, double LowFreqFactor = 1, double HighFreqFactor = 4, int OriginalMaxPositionEmbeddings = 8192);

/// <summary>
/// What the exporter and the analyses need from a Hugging Face config.json, validated. Create it with
/// <see cref="ModelConfigReader"/>; the record is immutable and compares by value.
/// </summary>
public sealed record ModelConfig
{
    /// <summary>The family the config was read as; its rules gave the fields below (biases, window, defaults).</summary>
    public required ModelFamily Family { get; init; }

    /// <summary>The architectures[0] string, e.g. "LlamaForCausalLM".</summary>
    public required string Architecture { get; init; }
    public required int HiddenSize { get; init; }
    public required int IntermediateSize { get; init; }
    public required int NumLayers { get; init; }
    public required int NumHeads { get; init; }
    public required int NumKvHeads { get; init; }
    public required int HeadDim { get; init; }
    public required int VocabSize { get; init; }
    public required double RmsNormEps { get; init; }
    public required double RopeTheta { get; init; }
    public RopeScaling? RopeScaling { get; init; }
    public int MaxPositionEmbeddings { get; init; } = 4096;
    public bool TieWordEmbeddings { get; init; }

    /// <summary>q, k and v projections have biases (<see cref="ModelFamily.QkvBias"/>).</summary>
    public bool QkvBias { get; init; }

    /// <summary>o_proj has a bias (<see cref="ModelFamily.OProjBias"/>).</summary>
    public bool OProjBias { get; init; }

    /// <summary>gate, up and down projections have biases (<see cref="ModelFamily.MlpBias"/>).</summary>
    public bool MlpBias { get; init; }

    /// <summary>Attention window in tokens for the layers in <see cref="SlidingLayers"/>; null for full attention.</summary>
    public int? SlidingWindow { get; init; }

    /// <summary>Per layer: true where the sliding window applies. Empty when <see cref="SlidingWindow"/> is null.</summary>
    public ImmutableArray<bool> SlidingLayers { get; init; } = [];

    public int? BosTokenId { get; init; }
    public ImmutableArray<int> EosTokenIds { get; init; } = [];
    public int? PadTokenId { get; init; }

    /// <summary>torch_dtype of the checkpoint ("bfloat16", "float16", "float32"), informational.</summary>
    public string? TorchDtype { get; init; }

    public int KvGroups => NumHeads / NumKvHeads;

    public bool IsSlidingLayer(int layer) => SlidingWindow is not null && !SlidingLayers.IsDefaultOrEmpty && SlidingLayers[layer];

    public bool Equals(ModelConfig? other) =>
        other is not null && Family == other.Family && Architecture == other.Architecture && HiddenSize == other.HiddenSize
        && IntermediateSize == other.IntermediateSize && NumLayers == other.NumLayers && NumHeads == other.NumHeads
        && NumKvHeads == other.NumKvHeads && HeadDim == other.HeadDim && VocabSize == other.VocabSize
        && RmsNormEps == other.RmsNormEps && RopeTheta == other.RopeTheta && RopeScaling == other.RopeScaling
        && MaxPositionEmbeddings == other.MaxPositionEmbeddings && TieWordEmbeddings == other.TieWordEmbeddings
        && QkvBias == other.QkvBias && OProjBias == other.OProjBias && MlpBias == other.MlpBias
        && SlidingWindow == other.SlidingWindow && SlidingLayers.AsSpan().SequenceEqual(other.SlidingLayers.AsSpan())
        && BosTokenId == other.BosTokenId && EosTokenIds.AsSpan().SequenceEqual(other.EosTokenIds.AsSpan())
        && PadTokenId == other.PadTokenId && TorchDtype == other.TorchDtype;

    public override int GetHashCode() => HashCode.Combine(Family, HiddenSize, NumLayers, NumHeads, VocabSize, IntermediateSize);

    /// <summary>Weight count of the whole model.</summary>
    public long ParameterCount
    {
        get
        {
            long d = HiddenSize, q = (long)NumHeads * HeadDim, kv = (long)NumKvHeads * HeadDim, i = IntermediateSize;
            long perLayer = 2 * d + d * q + 2 * d * kv + q * d + 3 * d * i
                + (QkvBias ? q + 2 * kv : 0) + (OProjBias ? d : 0) + (MlpBias ? 2 * i + d : 0);
            return (long)VocabSize * d * (TieWordEmbeddings ? 1 : 2) + d + NumLayers * perLayer;
        }
    }
}
