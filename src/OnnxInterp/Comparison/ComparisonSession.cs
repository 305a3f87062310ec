using System.Security.Cryptography;
using OnnxInterp.Analysis;
using OnnxInterp.Analysis.Knowledge;
using OnnxInterp.Data;
using OnnxInterp.Internals;
using OnnxInterp.Runtime;
using OnnxInterp.Tokenization;

namespace OnnxInterp.Comparison;

/// <summary>The shared state of one comparison run: models, tokenizer, world, datasets. Disposing closes the sessions.</summary>
sealed class ComparisonSession : IStepSession, IDisposable
{
    readonly Dictionary<string, AnalysisDataset> _datasets = new(StringComparer.Ordinal);
    SyntheticWorld? _world;
    HfTokenizer? _tokenizer;
    bool _checked;

    public ComparisonSession(ComparisonConfig config, IReadOnlyList<ResolvedModel> models, Action<string>? warn)
    {
        Config = config;
        var session = new SessionConfig
        {
            Provider = config.Execution.Provider switch { "cuda" => ExecutionProviderKind.Cuda, "auto" => ExecutionProviderKind.Auto, _ => ExecutionProviderKind.Cpu },
            Threads = config.Execution.Threads,
        };
        Models = models.Select((m, i) => new AnalysisModel(m.Name, i, m.Exported, m.ChatTemplate,
            m.ChatTemplateSource == ModelChatTemplate.OverrideSource ? m.ChatTemplate : null,
            () => ModelSession.Open(m.Exported, session, warn))).ToList();
    }

    public ComparisonConfig Config { get; }
    public IReadOnlyList<AnalysisModel> Models { get; }

    public IReadOnlyList<string> Datasets => Config.Datasets;

    /// <summary>Opens every session and checks once that the models can be compared (vocabulary, sizes, hooks).</summary>
    public void CheckCompatible()
    {
        if (_checked) return;
        foreach (var m in Models.Skip(1)) ModelPair.CheckCompatible(Models[0].Model, m.Model);
        _checked = true;
    }

    public HfTokenizer Tokenizer
    {
        get
        {
            CheckCompatible();
            return _tokenizer ??= Models[0].Model.Tokenizer;
        }
    }

    public SyntheticWorld World => _world ??= SyntheticWorld.Generate(Config.WorldSeed, WorldSize.Family);

    /// <summary>
    /// What identifies a dataset's content for the journal: the world seed for synthetic ones, the file's SHA-256 for
    /// files, and for a CSV also that of the few_shot_samples.json beside it, whose examples its prompts use.
    /// </summary>
    public static string DatasetFingerprint(string spec, int worldSeed)
    {
        if (DatasetSpec.IsSynthetic(spec)) return $"{spec}@world{worldSeed}";
        if (!File.Exists(spec)) Throw.Argument("dataset file does not exist", "datasets", spec);
        string Hash(string path)
        {
            using var fs = File.OpenRead(path);
            return "sha256:" + Convert.ToHexStringLower(SHA256.HashData(fs));
        }
        var fewShot = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(spec)) ?? ".", FewShotSamples.FileName);
        return Hash(spec) + (spec.EndsWith(".csv", StringComparison.OrdinalIgnoreCase) && File.Exists(fewShot) ? $" + {FewShotSamples.FileName} {Hash(fewShot)}" : "");
    }

    public AnalysisDataset Dataset(string spec)
    {
        if (_datasets.TryGetValue(spec, out var known)) return known;
        DatasetSpec.Check(spec);
        AnalysisDataset d;
        if (DatasetSpec.IsSynthetic(spec))
        {
            var name = DatasetSpec.Id(spec);
            d = new AnalysisDataset(name, spec, World.ToDataset(name, heldOutOnly: false), World.FewShot(name));
        }
        else
        {
            var data = StatementDataset.Read(spec);
            // few_shot_samples.json beside the CSV, as the paper's datasets folder keeps it (interventions.py reads it for
            // every dataset), else the examples the paper's patching.py hard-codes.
            var fewShot = FewShotSamples.Beside(spec)?.For(data.Name) ?? TracingPrompts.PaperExamplesFor(data.Name);
            d = new AnalysisDataset(DatasetSpec.Id(spec), spec, data, fewShot);
        }
        _datasets[spec] = d;
        return d;
    }

    public void Dispose()
    {
        foreach (var m in Models) m.Close();
    }
}
