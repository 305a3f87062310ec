using OnnxInterp.Internals;
using OnnxInterp.Runtime;
using OnnxInterp.Tokenization;

namespace OnnxInterp.Analysis.Refusal;

/// <summary>A model taking part: its session and how it is prompted. The first one given is the base.</summary>
public sealed record RefusalModel(string Name, ModelSession Session, InstructionPrompts Prompts)
{
    /// <summary>
    /// Prompts from the session's folder: its tokenizer and the chat template named by <paramref name="template"/>,
    /// else the one the folder declares (<see cref="ModelChatTemplate"/>: plain for a base model).
    /// </summary>
    public static RefusalModel FromSession(string name, ModelSession session, string? template = null) =>
        new(name, session, new InstructionPrompts(HfTokenizer.FromDirectory(session.Directory),
            template is null ? ModelChatTemplate.Of(session.Directory) : ChatTemplates.Get(template),
            session.Manifest.Config.PadTokenId ?? 0));
}

public record RefusalOptions
{
    /// <summary>Seed of the train/validation/test split (the paper's random_state 42).</summary>
    public int Seed { get; init; } = 42;
    public double TestFraction { get; init; } = 0.2;
    public int MaxTrain { get; init; } = 128;
    public int MaxValidation { get; init; } = 32;
    public int MaxTest { get; init; } = 100;

    /// <summary>The direction's layer and position for every model (both or neither); null: Arditi et al.'s selection per model.</summary>
    public int? Layer { get; init; }
    public int? Position { get; init; }

    /// <summary>Restrict the selection's candidate layers (null: all) and positions (null: every post-instruction position).</summary>
    public IReadOnlyList<int>? CandidateLayers { get; init; }
    public IReadOnlyList<int>? CandidatePositions { get; init; }
    public SelectionOptions Selection { get; init; } = new();

    /// <summary>Activation addition: coefficient · the mean difference (Arditi et al.: 1) or · the unit direction (the paper).</summary>
    public float AdditionCoefficient { get; init; } = 1f;
    public AdditionScale AdditionScale { get; init; } = AdditionScale.MeanDifference;

    /// <summary>Greedy tokens per completion (the paper's max_tokens_generated).</summary>
    public int MaxNewTokens { get; init; } = 16;
    public int BatchSize { get; init; } = 32;

    /// <summary>Phrases of the prefix score (null: the paper's) and of the substring score (null: Arditi et al.'s).</summary>
    public IReadOnlyList<string>? PrefixPhrases { get; init; }
    public IReadOnlyList<string>? SubstringPhrases { get; init; }

    /// <summary>Texts whose first token counts as refusing in the selection's log-odds (null: <see cref="RefusalLogits.DefaultTokens"/>).</summary>
    public IReadOnlyList<string>? RefusalTokens { get; init; }
}

public readonly record struct RefusalProgress(string Stage, string Model, int Done, int Total);

/// <summary>
/// The refusal analysis of the paper (§refusal) after Arditi et al. (2024): per model, the refusal direction (the
/// normalised difference of mean resid_pre over harmful and harmless instructions, given or selected); then, on the
/// held-out test instructions, greedy completions of every model without intervention, with each model's direction
/// ablated (harmful instructions) and added (harmless instructions), scored by refusal phrases: the paper's Table 4,
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
        foreach (var m in models.Skip(1)) ModelPair.CheckCompatible(models[0].Session, m.Session);
        var split = instructions.Split(o.Seed, o.TestFraction, o.MaxTrain, o.MaxValidation, o.MaxTest);

        var directions = models.Select(m => FindDirection(m, split, o, progress, cancellation)).ToList();
        var cells = new List<RefusalCell>();
        int perModel = 2 + 2 * models.Count;
        foreach (var m in models)
        {
            int done = 0;
            var harmful = m.Prompts.Encode(split.Test.Harmful);
            var harmless = m.Prompts.Encode(split.Test.Harmless);
            int layers = m.Session.Manifest.Config.NumLayers;
            RefusalCell Evaluate(RefusalIntervention kind, ModelDirection? d, bool onHarmful)
            {
                progress?.Report(new RefusalProgress($"{kind} {(onHarmful ? "harmful" : "harmless")}{(d is null ? "" : " with " + d.Model + "'s direction")}", m.Name, done++, perModel));
                IReadOnlyList<Intervention>? ivs = kind switch
                {
                    RefusalIntervention.Ablation => d!.Direction.Ablation(layers),
                    RefusalIntervention.Addition => [d!.Direction.Addition(o.AdditionCoefficient, o.AdditionScale)],
                    _ => null,
                };
                var texts = Complete(m, onHarmful ? harmful : harmless, ivs, o, cancellation);
                var list = onHarmful ? split.Test.Harmful : split.Test.Harmless;
                var completions = texts.Select((t, i) => new RefusalCompletion(list[i], t,
                    RefusalScore.StartsWithRefusal(t, o.PrefixPhrases), RefusalScore.ContainsRefusal(t, o.SubstringPhrases))).ToList();
                return new RefusalCell(m.Name, kind, d?.Model, onHarmful,
                    completions.Count(c => c.PrefixRefusal) / (double)completions.Count,
                    completions.Count(c => c.SubstringRefusal) / (double)completions.Count, completions);
            }
            cells.Add(Evaluate(RefusalIntervention.Baseline, null, onHarmful: true));
            cells.Add(Evaluate(RefusalIntervention.Baseline, null, onHarmful: false));
            foreach (var d in directions) cells.Add(Evaluate(RefusalIntervention.Ablation, d, onHarmful: true));
            foreach (var d in directions) cells.Add(Evaluate(RefusalIntervention.Addition, d, onHarmful: false));
        }
        var cosines = directions.Select(a => directions.Select(b => RefusalDirection.Cosine(a.Direction, b.Direction)).ToArray()).ToArray();
        return new RefusalResult(directions, cells, cosines, split, o);
    }

    /// <summary>Greedy completions under the interventions (at every position, generated ones included), decoded and cut at the template's stop strings.</summary>
    public static IReadOnlyList<string> Complete(RefusalModel model, IReadOnlyList<int[]> prompts, IReadOnlyList<Intervention>? interventions,
        RefusalOptions options, CancellationToken cancellation = default)
    {
        var texts = new List<string>(prompts.Count);
        for (int start = 0; start < prompts.Count; start += options.BatchSize)
        {
            var batch = prompts.Skip(start).Take(options.BatchSize).ToList();
            var r = model.Session.Generate(batch, new GenerationOptions
            {
                MaxNewTokens = options.MaxNewTokens,
                StopTokens = model.Prompts.StopTokens,
                PadTokenId = model.Prompts.PadTokenId,
                Interventions = interventions,
            }, cancellation: cancellation);
            texts.AddRange(r.Tokens.Select(t => model.Prompts.Decode(t)));
        }
        return texts;
    }

    /// <summary>The model's direction at the given (layer, position), or selected among the candidates.</summary>
    static ModelDirection FindDirection(RefusalModel m, InstructionSplit split, RefusalOptions o, IProgress<RefusalProgress>? progress, CancellationToken cancellation)
    {
        var p = m.Prompts;
        var harmfulTrain = p.Encode(split.Train.Harmful);
        var harmlessTrain = p.Encode(split.Train.Harmless);
        int n = m.Session.Manifest.Config.NumLayers;
        if (o.Layer is int layer && o.Position is int position)
        {
            progress?.Report(new RefusalProgress("direction", m.Name, 0, 1));
            var diff = RefusalDirections.MeanDifferences(m.Session, harmfulTrain, harmlessTrain, [layer], [position], p.PadTokenId, o.BatchSize, cancellation);
            return new ModelDirection(m.Name, p.Template.Name, p.PostInstructionTokens, new RefusalDirection(m.Name, layer, position, diff[0][0]), null);
        }
        var layers = o.CandidateLayers ?? Enumerable.Range(0, n).ToList();
        var positions = o.CandidatePositions ?? Enumerable.Range(-p.PostInstructionTokens, p.PostInstructionTokens).ToList();
        progress?.Report(new RefusalProgress("candidates", m.Name, 0, positions.Count * layers.Count));
        var diffs = RefusalDirections.MeanDifferences(m.Session, harmfulTrain, harmlessTrain, layers, positions, p.PadTokenId, o.BatchSize, cancellation);
        var tokens = o.RefusalTokens is { } t ? RefusalLogits.Tokens(p.Tokenizer, t) : RefusalLogits.DefaultTokens(p.Tokenizer);
        var selectionProgress = progress is null ? null : new InlineProgress<(int Done, int Total)>(x => progress.Report(new RefusalProgress("selection", m.Name, x.Done, x.Total)));
        var selection = DirectionSelection.Run(m.Session, p.Encode(split.Validation.Harmful), p.Encode(split.Validation.Harmless), diffs, layers, positions,
            tokens, p.PadTokenId, o.Selection, o.AdditionCoefficient, o.AdditionScale, o.BatchSize, selectionProgress, cancellation);
        int pi = positions.ToList().IndexOf(selection.Position), li = layers.ToList().IndexOf(selection.Layer);
        return new ModelDirection(m.Name, p.Template.Name, p.PostInstructionTokens,
            new RefusalDirection(m.Name, selection.Layer, selection.Position, diffs[pi][li]), selection);
    }

    /// <summary>Reports synchronously (Progress&lt;T&gt; posts to a context and may reorder).</summary>
    sealed class InlineProgress<T>(Action<T> report) : IProgress<T>
    {
        public void Report(T value) => report(value);
    }
}
