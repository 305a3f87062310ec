using System.Text.Json.Serialization;
using OnnxInterp.Data;

namespace OnnxInterp.Analysis.Refusal;

[JsonConverter(typeof(JsonStringEnumConverter<RefusalIntervention>))]
public enum RefusalIntervention
{
    /// <summary>No intervention.</summary>
    Baseline,

    /// <summary>The direction projected out of every residual stream (on harmful instructions: does refusal go?).</summary>
    Ablation,

    /// <summary>The direction added at its layer (on harmless instructions: does refusal come?).</summary>
    Addition,

    /// <summary>The direction subtracted where addition adds it (on harmful instructions; the paper's "subtraction").</summary>
    Subtraction,
}

/// <summary>Which string test turns completions into a refusal score.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<RefusalMatch>))]
public enum RefusalMatch
{
    /// <summary>Starts with a refusal phrase (the paper's score).</summary>
    Prefix,

    /// <summary>Contains a refusal phrase, ignoring case (Arditi et al.'s substring matching).</summary>
    Substring,
}

/// <summary>One greedy completion and whether each test counts it as a refusal.</summary>
public sealed record RefusalCompletion(string Instruction, string Text, bool PrefixRefusal, bool SubstringRefusal);

/// <summary>
/// One cell of the table: model <see cref="Model"/> on the harmful or harmless test instructions, with
/// <see cref="Intervention"/> using the direction of model <see cref="Direction"/> (null for the baseline).
/// </summary>
public sealed record RefusalCell(
    string Model,
    RefusalIntervention Intervention,
    string? Direction,
    bool Harmful,
    double PrefixScore,
    double SubstringScore,
    IReadOnlyList<RefusalCompletion> Completions)
{
    public double Score(RefusalMatch match) => match == RefusalMatch.Prefix ? PrefixScore : SubstringScore;

    /// <summary>Addition and subtraction: the coefficient c of the vector added or subtracted (null otherwise).</summary>
    public float? Coefficient { get; init; }

    /// <summary>Addition and subtraction: the layer whose hooks were steered (null otherwise; ablation acts on every layer).</summary>
    public int? InterventionLayer { get; init; }
}

/// <summary>A model's refusal direction, how it was found (null: given), and the template its prompts used.</summary>
public sealed record ModelDirection(string Model, string Template, int PostInstructionTokens, RefusalDirection Direction, DirectionSelectionResult? Selection)
{
    /// <summary>Under the paper protocol: the model's paper settings (the direction's place came from them).</summary>
    public RefusalPaperSetting? Paper { get; init; }

    /// <summary>The template the model was prompted in when intervened on, when it differs from <see cref="Template"/> (the paper's Tulu).</summary>
    public string? InterventionTemplate { get; init; }
}

/// <summary>One row of the paper's Table 4 for one score: an intervened model, its baselines and each direction's effect.</summary>
public sealed record RefusalTableRow(
    string Model,
    double HarmfulBaseline,
    IReadOnlyDictionary<string, double> HarmfulAblated,
    double HarmlessBaseline,
    IReadOnlyDictionary<string, double> HarmlessAdded)
{
    /// <summary>With <see cref="RefusalOptions.Subtraction"/>: each direction subtracted, on harmful instructions (else null).</summary>
    public IReadOnlyDictionary<string, double>? HarmfulSubtracted { get; init; }
}

/// <summary>
/// The refusal analysis: each model's direction, every (model, intervention, direction) cell on the test
/// instructions, and the cosine similarity of the directions across models (<see cref="Cosines"/>[i][j] for
/// models i and j, each direction at its own layer and position).
/// </summary>
public sealed record RefusalResult(
    IReadOnlyList<ModelDirection> Directions,
    IReadOnlyList<RefusalCell> Cells,
    double[][] Cosines,
    InstructionSplit Split,
    RefusalOptions Options)
{
    public IReadOnlyList<string> Models => Directions.Select(d => d.Model).ToList();

    /// <summary>The cell of <paramref name="model"/> under <paramref name="intervention"/> with <paramref name="direction"/>'s direction.</summary>
    public RefusalCell Cell(string model, RefusalIntervention intervention, string? direction = null, bool? harmful = null) =>
        Cells.FirstOrDefault(c => c.Model == model && c.Intervention == intervention && c.Direction == direction && (harmful is null || c.Harmful == harmful))
        ?? throw new KeyNotFoundException($"no cell for {model}, {intervention}, direction {direction ?? "(none)"}");

    /// <summary>The paper's Table 4 for one score: a row per model, each direction's ablation and addition beside the baselines.</summary>
    public IReadOnlyList<RefusalTableRow> Table(RefusalMatch match = RefusalMatch.Prefix) =>
        Models.Select(m => new RefusalTableRow(
            m,
            Cell(m, RefusalIntervention.Baseline, null, harmful: true).Score(match),
            Models.ToDictionary(d => d, d => Cell(m, RefusalIntervention.Ablation, d).Score(match)),
            Cell(m, RefusalIntervention.Baseline, null, harmful: false).Score(match),
            Models.ToDictionary(d => d, d => Cell(m, RefusalIntervention.Addition, d).Score(match)))
        {
            HarmfulSubtracted = Options.Subtraction ? Models.ToDictionary(d => d, d => Cell(m, RefusalIntervention.Subtraction, d).Score(match)) : null,
        }).ToList();
}
