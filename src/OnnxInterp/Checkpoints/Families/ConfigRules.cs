namespace OnnxInterp.Checkpoints.Families;

/// <summary>
/// Whether a family's projections carry a bias: never, always, or as a boolean config.json field says (absent: no
/// bias). Data, so that a family states its rule and <see cref="ModelConfigReader"/> applies it.
/// </summary>
public sealed record BiasRule
{
    BiasRule(string? field, bool always) { Field = field; Always = always; }

    /// <summary>The boolean field that turns the bias on; null where the family fixes it.</summary>
    public string? Field { get; }

    /// <summary>With no <see cref="Field"/>: whether the family always has the bias.</summary>
    public bool Always { get; }

    public static BiasRule None { get; } = new(null, false);
    public static BiasRule Present { get; } = new(null, true);
    public static BiasRule FromField(string field) => new(field, false);

    public override string ToString() => Field is { } f ? $"from {f}" : Always ? "always" : "none";
}

/// <summary>
/// How a family reads its attention window from config.json. The window is <see cref="Field"/>, or
/// <see cref="DefaultWindow"/> when the key is absent (an explicit null turns it off). Which layers slide: all of them, or
/// those from <see cref="FromLayerField"/> on, or as the per-layer list <see cref="LayerTypesField"/> says when present.
/// A window that no layer uses is dropped.
/// </summary>
public sealed record SlidingWindowRule
{
    public string Field { get; init; } = "sliding_window";
    public int DefaultWindow { get; init; } = 4096;

    /// <summary>A boolean field that must be true for any window; null where the window field alone decides.</summary>
    public string? EnabledBy { get; init; }

    /// <summary>A field naming the first sliding layer (layers i &gt;= it slide); null: every layer slides.</summary>
    public string? FromLayerField { get; init; }

    /// <summary>The first sliding layer when <see cref="FromLayerField"/> is absent.</summary>
    public int FromLayerDefault { get; init; }

    /// <summary>
    /// A list of "sliding_attention" / "full_attention", one per layer, that takes precedence over
    /// <see cref="FromLayerField"/> (transformers' layer_types); null where the family does not read one.
    /// </summary>
    public string? LayerTypesField { get; init; }
}

/// <summary>
/// A model.type of onnxruntime-genai's genai_config.json that the hook rewriter reads as this family's decoder block,
/// with the architecture recorded for it and the name help texts give it.
/// </summary>
public sealed record DeployedAlias(string GenAiModelType, string Architecture, string DisplayName);
