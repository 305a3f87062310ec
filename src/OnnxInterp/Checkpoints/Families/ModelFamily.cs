using System.Collections.Immutable;
using System.Runtime.CompilerServices;
using System.Text.Json.Serialization;

namespace OnnxInterp.Checkpoints.Families;

/// <summary>
/// Everything that differs between the decoder families we read (pyvene's one mapping per family): how config.json
/// names it, where its checkpoint keeps each tensor, the config fields it reads beyond the common ones and their
/// defaults, and how deployed forms name it. Every family shares the Llama block; the reader turns these rules into a
/// <see cref="ModelConfig"/>, which the exporter reads. One file per family (LlamaFamily.cs, ...) builds one; the
/// registry <see cref="ModelFamilies"/> looks them up. A variant is a <c>with</c> of an existing family.
/// </summary>
/// <remarks>
/// A family is its instance: equality is by reference (two families holding the same data are still two), so a
/// config's family compares as the registered family it was read as.
/// </remarks>
[JsonConverter(typeof(ModelFamilyJsonConverter))]
public sealed record ModelFamily
{
    /// <summary>The name in manifests and messages, e.g. "Llama".</summary>
    public required string Name { get; init; }

    /// <summary>config.json's model_type, e.g. "llama": the architecture read when the config lists none.</summary>
    public required string ModelType { get; init; }

    /// <summary>The values of config.json's architectures[0] read as this family; the first is the one written.</summary>
    public required ImmutableArray<string> Architectures { get; init; }

    /// <summary>Where the checkpoint stores each tensor.</summary>
    public required TensorNames Tensors { get; init; }

    /// <summary>Biases of the q, k and v projections.</summary>
    public required BiasRule QkvBias { get; init; }

    /// <summary>Bias of the o projection.</summary>
    public required BiasRule OProjBias { get; init; }

    /// <summary>Biases of the gate, up and down projections.</summary>
    public required BiasRule MlpBias { get; init; }

    /// <summary>How the attention window is read; null where the family has none (full attention everywhere).</summary>
    public SlidingWindowRule? SlidingWindow { get; init; }

    /// <summary>tie_word_embeddings when config.json omits it.</summary>
    public bool TieWordEmbeddingsDefault { get; init; }

    /// <summary>The rotary types (rope_type) accepted, a subset of those the reader implements.</summary>
    public required ImmutableArray<string> RopeTypes { get; init; }

    /// <summary>genai_config.json's model.type written on export, and read back by the hook rewriter.</summary>
    public required string GenAiModelType { get; init; }

    /// <summary>Other genai_config.json model types whose graphs the hook rewriter reads as this family.</summary>
    public ImmutableArray<DeployedAlias> DeployedAliases { get; init; } = [];

    public bool Equals(ModelFamily? other) => ReferenceEquals(this, other);

    public override int GetHashCode() => RuntimeHelpers.GetHashCode(this);

    public override string ToString() => Name;
}
