using OnnxInterp.Data;
using OnnxInterp.Internals;
using OnnxInterp.Runtime;
using OnnxInterp.Tokenization;

namespace OnnxInterp.Analysis.Refusal;

public readonly record struct RefusalProgress(string Stage, string Model, int Done, int Total);

/// <summary>
/// The refusal analysis of the paper (§refusal) after Arditi et al. (2024): per model, the refusal direction (the
/// difference of mean resid_pre over harmful and harmless instructions, at a given, selected or — under
/// <see cref="AnalysisProtocol.Paper"/> — the paper's fixed place); then, on the held-out test instructions, greedy
/// completions of every model without intervention, with each model's direction ablated (harmful instructions) and
/// added (harmless instructions), optionally subtracted (harmful), scored by refusal phrases: the paper's Table 4,
/// with the cosine similarity of the directions.
/// </summary>
public static class RefusalAnalysis
{
    public static RefusalResult Run(IReadOnlyList<RefusalModel> models, InstructionSet instructions, RefusalOptions? options = null,
        IProgress<RefusalProgress>? progress = null, CancellationToken cancellation = default)
    {
        var o = options ?? new RefusalOptions();
        if (models.Count == 0) Throw.Argument("at least one model is needed", "models", 0);
        if (models.Select(m => m.Name).Distinct().Count() != models.Count) Throw.Argument("model names must be distinct", "models", string.Join(",", models.Select(m => m.Name)));
        if (o.Layer.HasValue != o.Position.HasValue) Throw.Argument("give both layer and position, or neither", o.Layer.HasValue ? "position" : "layer", "(missing)");
        if (o.MaxNewTokens < 1) Throw.Argument("must be at least 1", "max_new_tokens", o.MaxNewTokens);
        if (o.BatchSize < 1) Throw.Argument("must be at least 1", "batch_size", o.BatchSize);
        bool paper = o.Protocol == AnalysisProtocol.Paper;
        if (paper)
        {
            if (o.Layer is not null) Throw.Argument("the paper protocol fixes each model's layer and position (RefusalPaperSettings); give them under the default protocol", "layer", o.Layer);
            if (models.FirstOrDefault(m => m.Paper is null) is { } bare)
                Throw.Argument("the paper protocol needs each model's paper settings (RefusalModel.ForPaper)", "models", bare.Name);
        }
        foreach (var m in models.Skip(1)) ModelPair.CheckCompatible(models[0].Model, m.Model);
        var split = paper
            ? instructions.SplitAsPaper(o.Seed, o.TestFraction, o.MaxTrain, o.MaxTest)
            : instructions.Split(o.Seed, o.TestFraction, o.MaxTrain, o.MaxValidation, o.MaxTest);

        var directions = models.Select(m => paper ? PaperDirection(m, split, o, progress, cancellation) : FindDirection(m, split, o, progress, cancellation)).ToList();
        var cells = new List<RefusalCell>();
        int perModel = 2 + (o.Subtraction ? 3 : 2) * models.Count;
        foreach (var m in models)
        {
            int done = 0;
            var harmful = m.Prompts.Encode(split.Test.Harmful);
            var harmless = m.Prompts.Encode(split.Test.Harmless);
            int layers = m.Model.Config.NumLayers;
            RefusalCell Evaluate(RefusalIntervention kind, ModelDirection? d, bool onHarmful)
            {
                progress?.Report(new RefusalProgress($"{kind} {(onHarmful ? "harmful" : "harmless")}{(d is null ? "" : " with " + d.Model + "'s direction")}", m.Name, done++, perModel));
                float? coefficient = null;
                int? layer = null;
                IReadOnlyList<Intervention>? ivs = null;
                if (kind == RefusalIntervention.Ablation) ivs = d!.Direction.Ablation(layers);
                else if (kind != RefusalIntervention.Baseline) (ivs, coefficient, layer) = Steering(m, d!, kind == RefusalIntervention.Subtraction, o);
                var texts = Complete(m, onHarmful ? harmful : harmless, ivs, o, cancellation);
                var list = onHarmful ? split.Test.Harmful : split.Test.Harmless;
                var completions = texts.Select((t, i) => new RefusalCompletion(list[i], t,
                    RefusalScore.StartsWithRefusal(t, o.PrefixPhrases), RefusalScore.ContainsRefusal(t, o.SubstringPhrases))).ToList();
                return new RefusalCell(m.Name, kind, d?.Model, onHarmful,
                    completions.Count(c => c.PrefixRefusal) / (double)completions.Count,
                    completions.Count(c => c.SubstringRefusal) / (double)completions.Count, completions)
                { Coefficient = coefficient, InterventionLayer = layer };
            }
            cells.Add(Evaluate(RefusalIntervention.Baseline, null, onHarmful: true));
            cells.Add(Evaluate(RefusalIntervention.Baseline, null, onHarmful: false));
            foreach (var d in directions) cells.Add(Evaluate(RefusalIntervention.Ablation, d, onHarmful: true));
            foreach (var d in directions) cells.Add(Evaluate(RefusalIntervention.Addition, d, onHarmful: false));
            if (o.Subtraction)
                foreach (var d in directions) cells.Add(Evaluate(RefusalIntervention.Subtraction, d, onHarmful: true));
        }
        var cosines = directions.Select(a => directions.Select(b => RefusalDirection.Cosine(a.Direction, b.Direction)).ToArray()).ToArray();
        return new RefusalResult(directions, cells, cosines, split, o);
    }

    /// <summary>
    /// Addition (or subtraction) of <paramref name="d"/>'s direction in <paramref name="m"/>: at the direction's layer
    /// under the default protocol, at the intervened model's paper layer under the paper's; coefficient as given, else 1
    /// (default) or the paper's per-model value; the vector and hooks as <see cref="RefusalOptions.AdditionScale"/>
    /// and <see cref="RefusalOptions.AdditionHooks"/> say.
    /// </summary>
    public static (IReadOnlyList<Intervention> Interventions, float Coefficient, int Layer) Steering(RefusalModel m, ModelDirection d, bool subtract, RefusalOptions o)
    {
        bool paper = o.Protocol == AnalysisProtocol.Paper;
        if (paper && (m.Paper is null || d.Paper is null)) Throw.Argument("the paper protocol needs both models' paper settings", "models", $"{m.Name}, {d.Model}");
        int layer = paper ? m.Paper!.InterventionLayer : d.Direction.Layer;
        int n = m.Model.Config.NumLayers;
        if (layer >= n) Throw.Argument($"the steered layer lies outside the model's 0..{n - 1}", "layer", layer);
        float addition = o.AdditionCoefficient ?? (paper ? RefusalPaperSettings.AdditionCoefficient(m.Paper!.Model, d.Paper!.Model) : 1f);
        float c = !subtract ? addition
            : o.SubtractionCoefficient ?? (paper ? RefusalPaperSettings.SubtractionCoefficient(m.Paper!.Model, d.Paper!.Model) : addition);
        return (d.Direction.Addition(subtract ? -c : c, o.AdditionScale, layer, o.AdditionHooks), c, layer);
    }

    /// <summary>
    /// Greedy completions under the interventions (at every position, generated ones included), decoded with special
    /// tokens skipped. With <see cref="RefusalOptions.StopAtEndOfTurn"/> a row stops at the template's end-of-turn tokens
    /// or EOS and its text is cut at the template's stop strings; without, every row gets MaxNewTokens tokens, all decoded.
    /// </summary>
    public static IReadOnlyList<string> Complete(RefusalModel model, IReadOnlyList<int[]> prompts, IReadOnlyList<Intervention>? interventions,
        RefusalOptions options, CancellationToken cancellation = default)
    {
        var texts = new List<string>(prompts.Count);
        for (int start = 0; start < prompts.Count; start += options.BatchSize)
        {
            var batch = prompts.Skip(start).Take(options.BatchSize).ToList();
            var r = model.Model.Generate(batch, new GenerationOptions
            {
                MaxNewTokens = options.MaxNewTokens,
                StopTokens = options.StopAtEndOfTurn ? model.Prompts.StopTokens : [],
                PadTokenId = model.Prompts.PadTokenId,
                Interventions = interventions,
            }, cancellation: cancellation);
            texts.AddRange(r.Tokens.Select(t => options.StopAtEndOfTurn
                ? model.Prompts.Decode(t)
                : model.Prompts.Tokenizer.Decode(t, skipSpecialTokens: true)));
        }
        return texts;
    }

    /// <summary>
    /// The paper's direction (extract_refusal_dir.py lines 251-266): resid_pre of the model's paper layer at its paper
    /// position, mean over the harmful train instructions minus mean over the harmless ones, in the direction template.
    /// </summary>
    static ModelDirection PaperDirection(RefusalModel m, InstructionSplit split, RefusalOptions o, IProgress<RefusalProgress>? progress, CancellationToken cancellation)
    {
        var s = m.Paper!;
        var p = m.DirectionPrompts ?? m.Prompts;
        int n = m.Model.Config.NumLayers;
        if ((uint)s.Layer >= (uint)n) Throw.Argument($"the paper's layer lies outside the model's 0..{n - 1}", "layer", s.Layer);
        progress?.Report(new RefusalProgress("direction", m.Name, 0, 1));
        var diff = RefusalDirections.MeanDifferences(m.Model, p.Encode(split.Train.Harmful), p.Encode(split.Train.Harmless),
            [s.Layer], [s.Position], p.PadTokenId, o.BatchSize, cancellation);
        return new ModelDirection(m.Name, p.Template.Name, p.PostInstructionTokens, new RefusalDirection(m.Name, s.Layer, s.Position, diff[0][0]), null)
        {
            Paper = s,
            InterventionTemplate = m.DirectionPrompts is null ? null : m.Prompts.Template.Name,
        };
    }

    /// <summary>The model's direction at the given (layer, position), or selected among the candidates.</summary>
    static ModelDirection FindDirection(RefusalModel m, InstructionSplit split, RefusalOptions o, IProgress<RefusalProgress>? progress, CancellationToken cancellation)
    {
        var p = m.DirectionPrompts ?? m.Prompts;
        var harmfulTrain = p.Encode(split.Train.Harmful);
        var harmlessTrain = p.Encode(split.Train.Harmless);
        int n = m.Model.Config.NumLayers;
        string? interventionTemplate = m.DirectionPrompts is null ? null : m.Prompts.Template.Name;
        if (o.Layer is int layer && o.Position is int position)
        {
            progress?.Report(new RefusalProgress("direction", m.Name, 0, 1));
            var diff = RefusalDirections.MeanDifferences(m.Model, harmfulTrain, harmlessTrain, [layer], [position], p.PadTokenId, o.BatchSize, cancellation);
            return new ModelDirection(m.Name, p.Template.Name, p.PostInstructionTokens, new RefusalDirection(m.Name, layer, position, diff[0][0]), null)
            { Paper = m.Paper, InterventionTemplate = interventionTemplate };
        }
        var layers = o.CandidateLayers ?? Enumerable.Range(0, n).ToList();
        var positions = o.CandidatePositions ?? Enumerable.Range(-p.PostInstructionTokens, p.PostInstructionTokens).ToList();
        progress?.Report(new RefusalProgress("candidates", m.Name, 0, positions.Count * layers.Count));
        var diffs = RefusalDirections.MeanDifferences(m.Model, harmfulTrain, harmlessTrain, layers, positions, p.PadTokenId, o.BatchSize, cancellation);
        var tokens = o.RefusalTokens is { } t ? RefusalLogits.Tokens(p.Tokenizer, t) : RefusalLogits.DefaultTokens(p.Tokenizer);
        var selectionProgress = progress is null ? null : new InlineProgress<(int Done, int Total)>(x => progress.Report(new RefusalProgress("selection", m.Name, x.Done, x.Total)));
        var selection = DirectionSelection.Run(m.Model, p.Encode(split.Validation.Harmful), p.Encode(split.Validation.Harmless), diffs, layers, positions,
            tokens, p.PadTokenId, o.Selection, o.AdditionCoefficient ?? 1f, o.AdditionScale, o.AdditionHooks, o.BatchSize, selectionProgress, cancellation);
        int pi = positions.ToList().IndexOf(selection.Position), li = layers.ToList().IndexOf(selection.Layer);
        return new ModelDirection(m.Name, p.Template.Name, p.PostInstructionTokens,
            new RefusalDirection(m.Name, selection.Layer, selection.Position, diffs[pi][li]), selection)
        { Paper = m.Paper, InterventionTemplate = interventionTemplate };
    }

    /// <summary>Reports synchronously (Progress&lt;T&gt; posts to a context and may reorder).</summary>
    sealed class InlineProgress<T>(Action<T> report) : IProgress<T>
    {
        public void Report(T value) => report(value);
    }
}
