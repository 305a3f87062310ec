using OnnxInterp.Data;

namespace OnnxInterp.Analysis.Refusal;

/// <summary>
/// results.json's "refusal" section (docs/results-schema.md): the split sizes, each model's direction and how it was
/// found, the baselines (<see cref="Scores"/>), every (model, direction) effect of ablation and addition, and the
/// directions' cosines; the report's tables as arrays of records keyed by model.
/// </summary>
public sealed record RefusalSection(
    AnalysisProtocol Protocol,
    string Instructions,
    RefusalSplitCounts Split,
    int MaxNewTokens,
    bool StopAtEndOfTurn,
    AdditionScale AdditionScale,
    AdditionHooks AdditionHooks,
    IReadOnlyList<RefusalSectionDirection> Directions,
    IReadOnlyList<RefusalSectionScore> Scores,
    IReadOnlyList<RefusalSectionEffect> Effects,
    IReadOnlyList<RefusalSectionCosine> Cosines)
{
    /// <summary>The section of a result; <paramref name="instructions"/> says what the instructions were (the option's value, or the AdvBench and Alpaca files).</summary>
    public static RefusalSection From(RefusalResult r, string instructions)
    {
        var models = r.Models;
        var table = r.Table(RefusalMatch.Prefix).ToDictionary(t => t.Model);
        var substring = r.Table(RefusalMatch.Substring).ToDictionary(t => t.Model);
        var directions = r.Directions.Select(d =>
        {
            var s = d.Selection;
            var chosen = s?.Candidates.First(c => c.Layer == s.Layer && c.Position == s.Position);
            return new RefusalSectionDirection(d.Model, d.Template, d.InterventionTemplate ?? d.Template, d.Paper?.Model.Key, d.Paper?.Script,
                d.Paper?.Source, d.Paper?.InterventionLayer, d.PostInstructionTokens, d.Direction.Layer, d.Direction.Position, d.Direction.Norm,
                s is not null, s?.Candidates.Count, s?.Relaxed, chosen?.AblationScore, chosen?.AdditionScore, chosen?.Kl, s?.BaselineHarmful, s?.BaselineHarmless);
        }).ToList();
        var scores = models.Select(m => new RefusalSectionScore(m, table[m].HarmfulBaseline, table[m].HarmlessBaseline,
            substring[m].HarmfulBaseline, substring[m].HarmlessBaseline)).ToList();
        var effects = new List<RefusalSectionEffect>();
        foreach (var m in models)
            foreach (var d in models)
                effects.Add(new RefusalSectionEffect(m, d,
                    table[m].HarmfulAblated[d],
                    table[m].HarmlessAdded[d],
                    table[m].HarmfulBaseline - table[m].HarmfulAblated[d],
                    table[m].HarmlessAdded[d] - table[m].HarmlessBaseline,
                    substring[m].HarmfulAblated[d],
                    substring[m].HarmlessAdded[d],
                    r.Cell(m, RefusalIntervention.Addition, d).Coefficient,
                    r.Cell(m, RefusalIntervention.Addition, d).InterventionLayer,
                    table[m].HarmfulSubtracted?[d],
                    r.Options.Subtraction ? r.Cell(m, RefusalIntervention.Subtraction, d).Coefficient : null));
        var cosines = new List<RefusalSectionCosine>();
        for (int i = 0; i < models.Count; i++)
            for (int j = i + 1; j < models.Count; j++)
                cosines.Add(new RefusalSectionCosine(models[i], models[j], r.Cosines[i][j],
                    r.Directions[i].Paper is { } a && r.Directions[j].Paper is { } b ? RefusalPaperSettings.PublishedCosine(a.Model, b.Model) : null));
        return new RefusalSection(r.Options.Protocol, instructions,
            new RefusalSplitCounts(RefusalClassCounts.Of(r.Split.Train), RefusalClassCounts.Of(r.Split.Validation), RefusalClassCounts.Of(r.Split.Test)),
            r.Options.MaxNewTokens, r.Options.StopAtEndOfTurn, r.Options.AdditionScale, r.Options.AdditionHooks, directions, scores, effects, cosines);
    }

    public RefusalSectionScore Score(string model) => Scores.First(s => s.Model == model);

    public RefusalSectionEffect Effect(string model, string direction) => Effects.First(e => e.Model == model && e.Direction == direction);
}

public sealed record RefusalSplitCounts(RefusalClassCounts Train, RefusalClassCounts Validation, RefusalClassCounts Test);

public sealed record RefusalClassCounts(int Harmful, int Harmless)
{
    public static RefusalClassCounts Of(InstructionSet s) => new(s.Harmful.Count, s.Harmless.Count);
}

/// <summary>
/// A model's direction: its templates, under the paper protocol the paper's settings it came from, its place and norm,
/// and when it was selected the candidates' count, the relaxed filters and the chosen candidate's scores.
/// </summary>
public sealed record RefusalSectionDirection(
    string Model,
    string Template,
    string InterventionTemplate,
    string? PaperModel,
    string? PaperScript,
    string? PaperSource,
    int? InterventionLayer,
    int PostInstructionTokens,
    int Layer,
    int Position,
    double Norm,
    bool Selected,
    int? Candidates,
    IReadOnlyList<string>? Relaxed,
    double? AblationLogOdds,
    double? AdditionLogOdds,
    double? Kl,
    double? BaselineHarmfulLogOdds,
    double? BaselineHarmlessLogOdds);

/// <summary>A model's refusal rates without intervention: prefix score (the paper's) and substring score.</summary>
public sealed record RefusalSectionScore(string Model, double Harmful, double Harmless, double HarmfulSubstring, double HarmlessSubstring);

/// <summary>Model <see cref="Model"/> with <see cref="Direction"/>'s direction ablated (harmful) and added (harmless), and subtracted when asked.</summary>
public sealed record RefusalSectionEffect(
    string Model,
    string Direction,
    double Ablated,
    double Added,
    double AblationDrop,
    double AdditionRise,
    double AblatedSubstring,
    double AddedSubstring,
    float? AdditionCoefficient,
    int? AdditionLayer,
    double? Subtracted,
    float? SubtractionCoefficient);

/// <summary>The cosine of two models' directions, and the paper's for the pair when its published directions are known.</summary>
public sealed record RefusalSectionCosine(string A, string B, double Cosine, double? Paper);
