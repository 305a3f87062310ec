using OnnxInterp.Data;
using OnnxInterp.Runtime;

namespace OnnxInterp.Analysis.Truth;

/// <summary>
/// A model taking part in the comparison; the first one given is the base. <see cref="Paper"/> is its identity in the
/// paper's settings tables (the paper protocol's layers); null: identified from its config (the first as the base,
/// the others as instruct models).
/// </summary>
public sealed record TruthModel(string Name, IHookedModel Model, PaperModel? Paper = null);

/// <summary>A statement dataset and, for the intervention, its few-shot examples (null when it has none).</summary>
public sealed record TruthDataset(StatementDataset Data, IReadOnlyList<(string Statement, bool True)>? FewShot = null)
{
    public string Name => Data.Name;
}

/// <summary>Where truth is read (probes, directions) and written (the intervention).</summary>
[System.Text.Json.Serialization.JsonConverter(typeof(System.Text.Json.Serialization.JsonStringEnumConverter<TruthReading>))]
public enum TruthReading
{
    /// <summary>
    /// The paper's: the bare statement (no few-shot prefix) at its last token; the intervention at the statement's last
    /// two tokens inside the few-shot prompt.
    /// </summary>
    Statement,

    /// <summary>
    /// Where the judgement is asked for: the few-shot prompt (each dataset's own examples) at its last token, the ":" of
    /// " This statement is:"; the intervention at the prompt's last two tokens. For models that compute truth only when
    /// asked (small models trained on judging documents), not in the paper.
    /// </summary>
    Judgement,
}

/// <summary>
/// The analysis's options. Under <see cref="AnalysisProtocol.Paper"/> the null ones take the paper's values
/// (<see cref="TruthPaperSettings"/>): the probe layer and the intervention's layers from the base model's config.ini
/// row, only the probe layer collected, the mass-mean 1-D fit unpenalised on raw projections, probes and directions
/// trained on <see cref="TrainingDatasets"/> and tested on the other datasets, the paper's few-shot queries, positions
/// and answer tokens.
/// </summary>
public record TruthOptions
{
    /// <summary>OnnxInterp's choices (best layer, leave-one-dataset-out) or the paper's code's (see the type's summary).</summary>
    public AnalysisProtocol Protocol { get; init; } = AnalysisProtocol.Default;

    public TruthReading Reading { get; init; } = TruthReading.Statement;

    /// <summary>
    /// Paper protocol only: the datasets the probes, the cosines' directions and the intervention's direction are
    /// trained on (pooled, each centred); the others are held out. null: <see cref="TruthPaperSettings.TrainingDatasets"/>.
    /// Those of them not among the datasets are left out (the report names them); at least one must be present.
    /// </summary>
    public IReadOnlyList<string>? TrainingDatasets { get; init; }

    /// <summary>Use at most this many statements (the first ones) of each dataset; null: all.</summary>
    public int? MaxStatementsPerDataset { get; init; }

    /// <summary>
    /// The probe layer (Table 2, the cosines, the intervention's direction); null: the base model's best layer by
    /// mass-mean accuracy (paper protocol: its config.ini probe_layer).
    /// </summary>
    public int? Layer { get; init; }

    /// <summary>Layers whose activations are collected and probed; null: all (paper protocol: the probe layer only).</summary>
    public IReadOnlyList<int>? Layers { get; init; }

    /// <summary>Also fit plain logistic regression at every layer, for comparison.</summary>
    public bool Logistic { get; init; } = true;

    /// <summary>Inverse L2 strength of the logistic probe (scikit-learn's C).</summary>
    public double LogisticC { get; init; } = LogisticProbe.DefaultC;

    public bool Intervene { get; init; } = true;

    /// <summary>
    /// The dataset whose few-shot prompts are intervened on; null: the first dataset with few-shot examples (paper
    /// protocol: set it; the preset gives cities).
    /// </summary>
    public string? InterventionDataset { get; init; }

    /// <summary>
    /// First and last layer the direction is added at; null: the <see cref="DefaultInterventionLayers"/> layers up to the
    /// probe layer (paper protocol: config.ini intervene_layer to the probe layer, inclusive).
    /// </summary>
    public int? InterventionFirstLayer { get; init; }

    public int? InterventionLastLayer { get; init; }

    public const int DefaultInterventionLayers = 5;

    /// <summary>Multiplies the added direction (the paper's intervention_coefficient).</summary>
    public double InterventionScale { get; init; } = 1.0;

    /// <summary>
    /// Use at most this many true and this many false statements for the intervention (the first ones that are not
    /// few-shot examples); null: all.
    /// </summary>
    public int? MaxInterventionStatements { get; init; }

    public int BatchSize { get; init; } = 32;

    /// <summary>
    /// Seeds the few-shot shuffles (paper protocol: statement i of each subset uses Python's random.seed(Seed + i)) and,
    /// with a single dataset, the default protocol's train/test split.
    /// </summary>
    public int Seed { get; init; } = 1;

    public string TrueAnswer { get; init; } = JudgingAnswers.True;
    public string FalseAnswer { get; init; } = JudgingAnswers.False;
}

public readonly record struct TruthProgress(string Stage, int Done, int Total);
