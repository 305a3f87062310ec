using OnnxInterp.Data;
using OnnxInterp.Runtime;
using OnnxInterp.Tokenization;

namespace OnnxInterp.Analysis;

/// <summary>Everything a step may use. Sessions open on first use and are shared by the steps of one run.</summary>
public sealed class StepContext
{
    readonly IStepSession _session;

    internal StepContext(IStepSession session, string outputDirectory, IProgress<StepProgress> progress, CancellationToken cancellation)
    {
        _session = session;
        OutputDirectory = outputDirectory;
        Progress = progress;
        Cancellation = cancellation;
    }

    /// <summary>The configured statement datasets (synthetic:NAME or CSV paths), in order.</summary>
    public IReadOnlyList<string> Datasets => _session.Datasets;

    /// <summary>The models, base first (its <see cref="AnalysisModel.Name"/> is the name the user gave, "base" by default).</summary>
    public IReadOnlyList<AnalysisModel> Models => _session.Models;

    public AnalysisModel Base => _session.Models[0];

    public IReadOnlyList<AnalysisModel> Post => _session.Models.Skip(1).ToList();

    /// <summary>The base model's tokenizer (models were checked to share the vocabulary).</summary>
    public HfTokenizer Tokenizer => _session.Tokenizer;

    /// <summary>The synthetic world of the comparison's world seed (generated on first use).</summary>
    public SyntheticWorld World => _session.World;

    /// <summary>Reads a dataset spec (synthetic:NAME or a CSV path) once per run.</summary>
    public AnalysisDataset Dataset(string spec) => _session.Dataset(spec);

    /// <summary>An empty folder for this part's files: data files at its top, PNG figures in figures/.</summary>
    public string OutputDirectory { get; }

    public string FiguresDirectory => Path.Combine(OutputDirectory, "figures");

    public IProgress<StepProgress> Progress { get; }

    public CancellationToken Cancellation { get; }
}

/// <summary>What a <see cref="StepContext"/> reads from: the comparison's shared state (models, tokenizer, world, datasets).</summary>
interface IStepSession
{
    IReadOnlyList<string> Datasets { get; }
    IReadOnlyList<AnalysisModel> Models { get; }
    HfTokenizer Tokenizer { get; }
    SyntheticWorld World { get; }
    AnalysisDataset Dataset(string spec);
}

/// <summary>A statement dataset read for a comparison, with the few-shot examples the knowledge prompts use.</summary>
public sealed record AnalysisDataset(string Id, string Spec, StatementDataset Data, IReadOnlyList<(string Statement, bool True)>? FewShot);

/// <summary>A model in the comparison: its name, folder and chat template, and its session (opened on first use, disposed by the run).</summary>
public sealed class AnalysisModel
{
    readonly Func<IHookedModel> _open;
    readonly string? _chatTemplate, _templateOverride;
    IHookedModel? _model;
    IModelWeights? _weights;
    ChatTemplate? _template;

    /// <summary>A model named <paramref name="name"/> at <paramref name="index"/> (0: the base), exported in <paramref name="directory"/>,
    /// declaring <paramref name="chatTemplate"/>; <paramref name="templateOverride"/>: a template name given over the folder's
    /// (null: its own); <paramref name="open"/> opens the model on first use (the run disposes it if it is disposable).</summary>
    internal AnalysisModel(string name, int index, string directory, string? chatTemplate, string? templateOverride, Func<IHookedModel> open)
    {
        Name = name;
        Index = index;
        Directory = directory;
        _chatTemplate = chatTemplate;
        _templateOverride = templateOverride;
        _open = open;
    }

    public string Name { get; }

    /// <summary>Its place in the comparison: 0 is the base.</summary>
    public int Index { get; }

    /// <summary>The exported folder the model loads.</summary>
    public string Directory { get; }

    /// <summary>Its weights, read from the folder without opening the model (weights-only analyses need no session).</summary>
    public IModelWeights Weights => _weights ??= ModelWeights.Open(Directory);

    /// <summary>What post-training it had, as the paper's tables key it: the base first, Tulu-format models SFT, other post-trained models instruct.</summary>
    public PostTraining Role => PaperModels.RoleOf(Index, _chatTemplate);

    /// <summary>The model as the paper's settings tables know it (under `--preset paper`).</summary>
    public PaperModel Paper => PaperModels.Identify(Weights.Config, Role);

    /// <summary>The name of the chat template to prompt it with (the one given, else the one its folder declares, else plain).</summary>
    public string ChatTemplate => _chatTemplate ?? "plain";

    /// <summary>The chat template itself: a named one, or the model's own jinja rendered (read once).</summary>
    public ChatTemplate Template => _template ??= ModelChatTemplate.Resolve(Directory, _templateOverride).Template;

    /// <summary>The model (opened on first use).</summary>
    public IHookedModel Model => _model ??= _open();

    internal bool IsOpen => _model is not null;

    internal void Close()
    {
        (_model as IDisposable)?.Dispose();
        _model = null;
    }
}
