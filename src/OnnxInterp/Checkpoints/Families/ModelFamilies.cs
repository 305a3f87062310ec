using OnnxInterp.Internals;

namespace OnnxInterp.Checkpoints.Families;

/// <summary>
/// The families that config.json, genai_config.json and manifests can name: Llama, Mistral and Qwen2 first, then any
/// added with <see cref="Register"/>. Lookups go through here and nowhere else switches on a family's name.
/// </summary>
public static class ModelFamilies
{
    static readonly Lock s_gate = new();

    // Replaced, never mutated, under s_gate: readers take the current array without locking.
    static volatile ModelFamily[] s_all = [LlamaFamily.Family, MistralFamily.Family, Qwen2Family.Family];

    public static ModelFamily Llama => LlamaFamily.Family;
    public static ModelFamily Mistral => MistralFamily.Family;
    public static ModelFamily Qwen2 => Qwen2Family.Family;

    /// <summary>The family made when none is asked for (random checkpoints, `sample`): Llama, whose block every family shares.</summary>
    public static ModelFamily Default => Llama;

    /// <summary>Every registered family, the built-in ones first, in registration order.</summary>
    public static IReadOnlyList<ModelFamily> All => s_all;

    /// <summary>The family whose <see cref="ModelFamily.Architectures"/> lists <paramref name="architecture"/> (case-sensitive, as transformers).</summary>
    public static ModelFamily? FindByArchitecture(string architecture) =>
        s_all.FirstOrDefault(f => f.Architectures.Contains(architecture, StringComparer.Ordinal));

    /// <summary>The family of config.json's model_type (case-sensitive, as transformers).</summary>
    public static ModelFamily? FindByModelType(string? modelType) =>
        modelType is null ? null : s_all.FirstOrDefault(f => string.Equals(f.ModelType, modelType, StringComparison.Ordinal));

    /// <summary>The family named <paramref name="name"/> (<see cref="ModelFamily.Name"/>, any case), as a manifest records it.</summary>
    public static ModelFamily? FindByName(string name) =>
        s_all.FirstOrDefault(f => string.Equals(f.Name, name, StringComparison.OrdinalIgnoreCase));

    /// <summary>
    /// The family of config.json's architectures[0].
    /// </summary>
    /// <exception cref="UnsupportedModelException">No registered family reads it; names <paramref name="file"/>, the field and the value.</exception>
    public static ModelFamily FromArchitecture(string architecture, string file)
    {
        var family = FindByArchitecture(architecture);
        if (family is null)
            Throw.Unsupported($"unknown architecture; supported: {string.Join(", ", s_all.SelectMany(f => f.Architectures))}", file, "architectures", architecture);
        return family;
    }

    /// <summary>
    /// The family and architecture of genai_config.json's model.type: a family's own <see cref="ModelFamily.GenAiModelType"/>
    /// (the first registered that writes it), else a <see cref="ModelFamily.DeployedAliases"/> entry.
    /// </summary>
    /// <exception cref="UnsupportedModelException">No family reads the type; names <paramref name="file"/>, the field and the value.</exception>
    public static (ModelFamily Family, string Architecture) FromGenAiType(string modelType, string file)
    {
        var all = s_all;
        if (all.FirstOrDefault(f => f.GenAiModelType == modelType) is { } own) return (own, own.Architectures[0]);
        foreach (var f in all)
            foreach (var alias in f.DeployedAliases)
                if (alias.GenAiModelType == modelType) return (f, alias.Architecture);
        throw new UnsupportedModelException($"model type not mapped; supported: {string.Join(", ", GenAiModelTypes(all))}", file, "model.type", modelType);
    }

    static IEnumerable<string> GenAiModelTypes(ModelFamily[] all) =>
        all.Select(f => f.GenAiModelType).Concat(all.SelectMany(f => f.DeployedAliases.Select(a => a.GenAiModelType))).Distinct();

    /// <summary>"Llama, Mistral or Qwen2": the family names for help texts.</summary>
    public static string NamesText(string conjunction = "or") => Enumerate(s_all.Select(f => f.Name), conjunction);

    /// <summary>"llama, mistral or qwen2": the model types for help texts.</summary>
    public static string ModelTypesText(string conjunction = "or") => Enumerate(s_all.Select(f => f.ModelType), conjunction);

    /// <summary>"Llama, Mistral, Qwen2, Phi-3": the families and the deployed aliases the hook rewriter reads.</summary>
    public static string DeployedNamesText() =>
        string.Join(", ", s_all.Select(f => f.Name).Concat(s_all.SelectMany(f => f.DeployedAliases.Select(a => a.DisplayName))));

    static string Enumerate(IEnumerable<string> items, string conjunction)
    {
        var list = items.ToList();
        return list.Count <= 1 ? string.Concat(list) : string.Join(", ", list.Take(list.Count - 1)) + $" {conjunction} " + list[^1];
    }

    /// <summary>
    /// Adds a family: from then on config.json, genai_config.json and manifests that name it are read, exported and hooked
    /// as the built-in families are. Its name, model_type and architectures must be new. Dispose the result to remove it
    /// again (tests); folders already read keep their config.
    /// </summary>
    /// <exception cref="InvalidArgumentException">A field is empty, a rotary type is not implemented, or a name is taken.</exception>
    public static IDisposable Register(ModelFamily family)
    {
        Validate(family);
        lock (s_gate)
        {
            foreach (var f in s_all)
            {
                if (string.Equals(f.Name, family.Name, StringComparison.OrdinalIgnoreCase))
                    Throw.Argument($"the name is {f.Name}'s", "family.name", family.Name);
                if (f.ModelType == family.ModelType) Throw.Argument($"the model_type is {f.Name}'s", "family.modelType", family.ModelType);
                if (family.Architectures.FirstOrDefault(a => f.Architectures.Contains(a, StringComparer.Ordinal)) is { } taken)
                    Throw.Argument($"the architecture is {f.Name}'s", "family.architectures", taken);
            }
            s_all = [.. s_all, family];
        }
        return new Registration(family);
    }

    static void Validate(ModelFamily? family)
    {
        if (family is null) Throw.Argument("a family must be given", "family", null);
        NotEmpty(family.Name, "family.name");
        NotEmpty(family.ModelType, "family.modelType");
        NotEmpty(family.GenAiModelType, "family.genAiModelType");
        if (family.Architectures.IsDefaultOrEmpty) Throw.Argument("at least one architecture must be given", "family.architectures", null);
        foreach (var a in family.Architectures) NotEmpty(a, "family.architectures");
        if (family.Tensors is null) Throw.Argument("tensor names must be given", "family.tensors", null);
        foreach (var (field, value) in family.Tensors.Fields()) NotEmpty(value, "family.tensors." + field);
        if (!family.Tensors.Layer.Contains("{0}", StringComparison.Ordinal))
            Throw.Argument("the layer name must contain {0} for the layer index", "family.tensors.layer", family.Tensors.Layer);
        if (family.QkvBias is null || family.OProjBias is null || family.MlpBias is null)
            Throw.Argument("every bias rule must be given", "family.bias", null);
        if (family.RopeTypes.IsDefaultOrEmpty) Throw.Argument("at least one rotary type must be given", "family.ropeTypes", null);
        foreach (var t in family.RopeTypes)
            if (!ModelConfigReader.ImplementedRopeTypes.Contains(t))
                Throw.Argument($"rotary type not implemented; implemented: {string.Join(", ", ModelConfigReader.ImplementedRopeTypes)}", "family.ropeTypes", t);
        if (family.DeployedAliases.IsDefault) Throw.Argument("deployed aliases must be a list (empty for none)", "family.deployedAliases", null);
        foreach (var a in family.DeployedAliases)
        {
            if (a is null) Throw.Argument("a deployed alias must not be null", "family.deployedAliases", null);
            NotEmpty(a.GenAiModelType, "family.deployedAliases.genAiModelType");
            NotEmpty(a.Architecture, "family.deployedAliases.architecture");
            NotEmpty(a.DisplayName, "family.deployedAliases.displayName");
        }
    }

    static void NotEmpty(string? value, string field)
    {
        if (string.IsNullOrWhiteSpace(value)) Throw.Argument("must not be empty", field, value);
    }

    sealed class Registration(ModelFamily family) : IDisposable
    {
        public void Dispose()
        {
            lock (s_gate) s_all = [.. s_all.Where(f => !ReferenceEquals(f, family))];
        }
    }
}
