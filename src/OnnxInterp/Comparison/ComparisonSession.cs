using System.Security.Cryptography;
using OnnxInterp.Analysis;
using OnnxInterp.Analysis.Knowledge;
using OnnxInterp.Data;
using OnnxInterp.Internals;
using OnnxInterp.Runtime;
using OnnxInterp.Tokenization;

namespace OnnxInterp.Comparison;

/// <summary>A model in the comparison: where it came from, and its session (opened on first use, disposed by the run).</summary>
public sealed class ComparisonModel
{
    readonly Func<ModelSession> _open;
    ModelSession? _session;

    internal ComparisonModel(ResolvedModel resolved, int index, Func<ModelSession> open)
    {
        Resolved = resolved;
        Index = index;
        _open = open;
    }

    /// <summary>Its place in the comparison: 0 is the base.</summary>
    public int Index { get; }

    /// <summary>What post-training it had, as the paper's tables key it: the base first, Tulu-format models SFT, other post-trained models instruct.</summary>
    public PostTraining Role => PaperModels.RoleOf(Index, Resolved.ChatTemplate);

    /// <summary>The model as the paper's settings tables know it (under `--preset paper`).</summary>
    public PaperModel Paper => PaperModels.Identify(Session.Manifest.Config, Role);

    public ResolvedModel Resolved { get; }
    public string Name => Resolved.Name;
    public string Directory => Resolved.Exported;

    /// <summary>The name of the chat template to prompt it with (<see cref="ResolvedModel.ChatTemplate"/>).</summary>
    public string ChatTemplate => Resolved.ChatTemplate ?? "plain";

    /// <summary>The chat template itself: a named one, or the model's own jinja rendered (read once).</summary>
    public ChatTemplate Template => _template ??= ModelChatTemplate.Resolve(Directory,
        Resolved.ChatTemplateSource == ModelChatTemplate.OverrideSource ? Resolved.ChatTemplate : null).Template;

    ChatTemplate? _template;

    public ModelSession Session => _session ??= _open();

    internal bool IsOpen => _session is not null;

    internal void Close()
    {
        _session?.Dispose();
        _session = null;
    }
}

/// <summary>A statement dataset read for a comparison, with the few-shot examples the knowledge prompts use.</summary>
public sealed record ComparisonDataset(string Id, string Spec, StatementDataset Data, IReadOnlyList<(string Statement, bool True)>? FewShot);

/// <summary>The shared state of one comparison run: models, tokenizer, world, datasets. Disposing closes the sessions.</summary>
sealed class ComparisonSession : IDisposable
{
    readonly Dictionary<string, ComparisonDataset> _datasets = new(StringComparer.Ordinal);
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
        Models = models.Select((m, i) => new ComparisonModel(m, i, () =>
        {
            var s = ModelSession.Open(m.Exported, session, warn);
            return s;
        })).ToList();
    }

    public ComparisonConfig Config { get; }
    public IReadOnlyList<ComparisonModel> Models { get; }

    /// <summary>Opens every session and checks once that the models can be compared (vocabulary, sizes, hooks).</summary>
    public void CheckCompatible()
    {
        if (_checked) return;
        foreach (var m in Models.Skip(1)) ModelPair.CheckCompatible(Models[0].Session, m.Session);
        _checked = true;
    }

    public HfTokenizer Tokenizer
    {
        get
        {
            CheckCompatible();
            return _tokenizer ??= Models[0].Session.Tokenizer;
        }
    }

    public SyntheticWorld World => _world ??= SyntheticWorld.Generate(Config.WorldSeed, WorldSize.Family);

    public const string SyntheticPrefix = "synthetic:";

    /// <summary>The part id of a dataset spec: the synthetic dataset's name, or the CSV's file name without extension.</summary>
    public static string DatasetId(string spec) =>
        spec.StartsWith(SyntheticPrefix, StringComparison.Ordinal) ? spec[SyntheticPrefix.Length..] : Path.GetFileNameWithoutExtension(spec);

    /// <summary>
    /// What identifies a dataset's content for the journal: the world seed for synthetic ones, the file's SHA-256 for
    /// files, and for a CSV also that of the few_shot_samples.json beside it, whose examples its prompts use.
    /// </summary>
    public static string DatasetFingerprint(string spec, int worldSeed)
    {
        if (spec.StartsWith(SyntheticPrefix, StringComparison.Ordinal)) return $"{spec}@world{worldSeed}";
        if (!File.Exists(spec)) Throw.Argument("dataset file does not exist", "datasets", spec);
        string Hash(string path)
        {
            using var fs = File.OpenRead(path);
            return "sha256:" + Convert.ToHexStringLower(SHA256.HashData(fs));
        }
        var fewShot = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(spec)) ?? ".", FewShotSamples.FileName);
        return Hash(spec) + (spec.EndsWith(".csv", StringComparison.OrdinalIgnoreCase) && File.Exists(fewShot) ? $" + {FewShotSamples.FileName} {Hash(fewShot)}" : "");
    }

    public static void CheckDatasetSpec(string spec)
    {
        if (spec.StartsWith(SyntheticPrefix, StringComparison.Ordinal))
        {
            var name = spec[SyntheticPrefix.Length..];
            if (!SyntheticWorld.StatementDatasets.Contains(name))
                Throw.Argument($"unknown synthetic dataset; known: {string.Join(", ", SyntheticWorld.StatementDatasets.Select(d => SyntheticPrefix + d))}", "datasets", spec);
        }
        else if (!File.Exists(spec))
        {
            Throw.Argument("dataset file does not exist (give a statement CSV or synthetic:NAME)", "datasets", spec);
        }
    }

    public ComparisonDataset Dataset(string spec)
    {
        if (_datasets.TryGetValue(spec, out var known)) return known;
        CheckDatasetSpec(spec);
        ComparisonDataset d;
        if (spec.StartsWith(SyntheticPrefix, StringComparison.Ordinal))
        {
            var name = spec[SyntheticPrefix.Length..];
            d = new ComparisonDataset(name, spec, World.ToDataset(name, heldOutOnly: false), World.FewShot(name));
        }
        else
        {
            var data = StatementDataset.Read(spec);
            // few_shot_samples.json beside the CSV, as the paper's datasets folder keeps it (interventions.py reads it for
            // every dataset), else the examples the paper's patching.py hard-codes.
            var fewShot = FewShotSamples.Beside(spec)?.For(data.Name) ?? TracingPrompts.PaperExamplesFor(data.Name);
            d = new ComparisonDataset(DatasetId(spec), spec, data, fewShot);
        }
        _datasets[spec] = d;
        return d;
    }

    public void Dispose()
    {
        foreach (var m in Models) m.Close();
    }
}
