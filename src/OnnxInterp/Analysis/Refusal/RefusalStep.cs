using System.Globalization;
using OnnxInterp.Data;
using OnnxInterp.Tokenization;

namespace OnnxInterp.Analysis.Refusal;

/// <summary>The refusal analysis's options plus what the comparison must know to run it.</summary>
public sealed record RefusalStepOptions : RefusalOptions
{
    /// <summary>"synthetic" (the world's instructions) or a CSV/JSON file of harmful and harmless instructions (<see cref="InstructionSet.Read"/>).</summary>
    public string Instructions { get; init; } = SyntheticInstructions;

    /// <summary>
    /// The paper's sources, both or neither, instead of <see cref="Instructions"/>: AdvBench's harmful_behaviors.csv
    /// (goal column) and Alpaca's JSON (instructions without input) (<see cref="Data.RefusalDatasets"/>).
    /// </summary>
    public string? AdvBench { get; init; }
    public string? Alpaca { get; init; }

    /// <summary>Chat template per model name, overriding the one the model declares (e.g. {"instruct": "llama3"}).</summary>
    public IReadOnlyDictionary<string, string>? Templates { get; init; }

    /// <summary>Sample completions per table in the Markdown.</summary>
    public int Samples { get; init; } = 3;

    public const string SyntheticInstructions = "synthetic";
}

/// <summary>
/// Refusal (the paper's §refusal, after Arditi et al.): each model's refusal direction, greedy completions of held-out
/// instructions with every model's direction ablated (harmful) and added (harmless), and the directions' cosines.
/// Each model is prompted in its own chat template, or under `--preset paper` in the paper's templates
/// (<see cref="RefusalPaperSettings"/>). <see cref="RefusalOptions.Layer"/> may count from the end (−1: the last
/// block's input). results.json: refusal = <see cref="RefusalSection"/> (docs/results-schema.md).
/// </summary>
public sealed class RefusalStep : AnalysisStep<RefusalStepOptions, RefusalSection>
{
    public override string Name => "refusal";
    public override string Title => "Refusal (refusal direction, ablation and activation addition)";

    /// <summary>
    /// The analysis's defaults: Arditi et al.'s selection of the direction per model (which suits real models; small
    /// ones may need a fixed place, e.g. layer −1 and position −1, as the demo sets), 100 test instructions per class.
    /// </summary>
    public override RefusalStepOptions Defaults => new();

    /// <summary>
    /// The paper's code, setting by setting: its split (train_test_split(test_size=0.2, random_state=42), Refusal/utils.py
    /// lines 32 and 45; train[:128], extract_refusal_dir.py line 18; test[:100], apply_refusal_dir.py line 68), each
    /// model's fixed layer, position and templates (<see cref="RefusalPaperSettings"/>), c·r̂ with the unit direction
    /// added at resid_pre, resid_mid and resid_post (apply_refusal_dir.py lines 19-26, 378, 493) with the per-model
    /// coefficients, 16 greedy tokens without stopping (lines 71; utils.py lines 55-64), batches of 4 (line 74).
    /// The data are AdvBench and Alpaca when <see cref="RefusalStepOptions.AdvBench"/> and
    /// <see cref="RefusalStepOptions.Alpaca"/> are given; other instruction sets are split the same way.
    /// </summary>
    public override RefusalStepOptions PaperDefaults => new()
    {
        Protocol = AnalysisProtocol.Paper,
        Seed = 42,
        TestFraction = 0.2,
        MaxTrain = 128,
        MaxTest = 100,
        AdditionScale = AdditionScale.UnitDirection,
        AdditionHooks = AdditionHooks.ResidPreMidPost,
        MaxNewTokens = 16,
        BatchSize = 4,
        StopAtEndOfTurn = false,
    };

    /// <summary>
    /// One part; its dataset is the instruction set (AdvBench's file, with Alpaca's as a further file, when the paper's
    /// sources are given), so the journal key covers those files' content (or the world seed).
    /// </summary>
    public override IReadOnlyList<StepPart> Parts(IReadOnlyList<string> datasets, RefusalStepOptions options) =>
        [new StepPart("", options.AdvBench ?? (options.Instructions == RefusalStepOptions.SyntheticInstructions ? "synthetic:instructions" : options.Instructions))
        {
            Files = options.Alpaca is { } alpaca ? [alpaca] : null,
        }];

    /// <summary>Every model under every model's direction, over the test instructions: 4–6 s a comparison of the demo sweep (2 models, 100 per class), 21 s the demo's (3).</summary>
    public override double EstimatedCost(RefusalStepOptions options, StepPart part, int models) =>
        1.5 * models * models * options.MaxTest / 100.0;

    protected override void Validate(RefusalStepOptions o)
    {
        if (o.Instructions != RefusalStepOptions.SyntheticInstructions && !File.Exists(o.Instructions))
            Bad("the instruction file does not exist (give a CSV or JSON file, or synthetic)", "instructions", o.Instructions);
        if ((o.AdvBench is null) != (o.Alpaca is null))
            Bad("give both the AdvBench and the Alpaca file, or neither", o.AdvBench is null ? "advBench" : "alpaca", "null");
        if (o.AdvBench is not null && o.Instructions != RefusalStepOptions.SyntheticInstructions)
            Bad("give either an instruction file or the AdvBench and Alpaca files", "instructions", o.Instructions);
        foreach (var (name, path) in new[] { ("advBench", o.AdvBench), ("alpaca", o.Alpaca) })
            if (path is not null && !File.Exists(path)) Bad("the file does not exist", name, path);
        if (o.Protocol == AnalysisProtocol.Paper && (o.Layer is not null || o.Position is not null))
            Bad("the paper protocol fixes each model's layer and position; use the default preset to give them", o.Layer is not null ? "layer" : "position", o.Layer ?? o.Position);
        if (o.Layer.HasValue != o.Position.HasValue)
            Bad("give both layer and position, or neither (Arditi et al.'s selection)", o.Layer.HasValue ? "position" : "layer", "null");
        if (o.Position is >= 0) Bad("the position counts from the end of the prompt: -1 is the last token", "position", o.Position);
        if (o.CandidatePositions?.Where(p => p >= 0).Select(p => (int?)p).FirstOrDefault() is { } pos) Bad("positions count from the end of the prompt: -1 is the last token", "candidatePositions", pos);
        if (o.CandidateLayers is { Count: 0 }) Bad("give at least one layer, or null for all", "candidateLayers", "[]");
        if (o.CandidatePositions is { Count: 0 }) Bad("give at least one position, or null for every post-instruction token", "candidatePositions", "[]");
        if (!(o.TestFraction > 0 && o.TestFraction < 1)) Bad("must lie in (0, 1)", "testFraction", o.TestFraction);
        if (o.MaxTrain < 1) Bad("must be at least 1", "maxTrain", o.MaxTrain);
        if (o.MaxValidation < 1) Bad("must be at least 1", "maxValidation", o.MaxValidation);
        if (o.MaxTest < 1) Bad("must be at least 1", "maxTest", o.MaxTest);
        if (o.MaxNewTokens < 1) Bad("must be at least 1", "maxNewTokens", o.MaxNewTokens);
        if (o.BatchSize < 1) Bad("must be at least 1", "batchSize", o.BatchSize);
        if (o.Samples < 0) Bad("must be 0 or more", "samples", o.Samples);
        if (o.AdditionCoefficient is { } c && !float.IsFinite(c)) Bad("must be a finite number", "additionCoefficient", c);
        if (o.SubtractionCoefficient is { } sc && !float.IsFinite(sc)) Bad("must be a finite number", "subtractionCoefficient", sc);
        if (o.Seed < 0) Bad("must be 0 or more (numpy's RandomState seed under the paper protocol)", "seed", o.Seed);
        foreach (var (model, template) in o.Templates ?? new Dictionary<string, string>())
            if (!ChatTemplates.Names.Contains(template))
                Bad($"unknown chat template; known: {string.Join(", ", ChatTemplates.Names)}", $"templates.{model}", template);
    }

    static void Bad(string message, string option, object? value) =>
        throw new InvalidArgumentException(message, $"refusal.{option}", Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture));

    public override StepResult<RefusalSection> Run(StepContext context, RefusalStepOptions options, StepPart part)
    {
        var set = options.AdvBench is not null ? InstructionSet.FromAdvBenchAndAlpaca(options.AdvBench, options.Alpaca!)
            : options.Instructions == RefusalStepOptions.SyntheticInstructions ? InstructionSet.FromWorld(context.World)
            : InstructionSet.Read(options.Instructions);
        var unknown = (options.Templates?.Keys ?? []).FirstOrDefault(k => context.Models.All(m => m.Name != k));
        if (unknown is not null)
            Bad($"no model has this name; the models are {string.Join(", ", context.Models.Select(m => m.Name))}", $"templates.{unknown}", unknown);
        // Each model in its resolved chat template (a named one or its own jinja) unless one is given here. Under the paper
        // protocol each model gets its paper settings and the paper's templates; a template given for a model overrides them.
        var models = context.Models.Select(m =>
        {
            var given = options.Templates?.GetValueOrDefault(m.Name) is { } name ? ChatTemplates.Get(name) : null;
            if (options.Protocol != AnalysisProtocol.Paper) return RefusalModel.FromSession(m.Name, m.Model, given ?? m.Template);
            return given is null
                ? RefusalModel.ForPaper(m.Name, m.Model, m.Paper, m.Template)
                : RefusalModel.FromSession(m.Name, m.Model, given) with { Paper = RefusalPaperSettings.For(m.Paper) };
        }).ToList();
        var analysis = ResolveLayers(options, context.Base.Model.Config.NumLayers);

        // Directions first (one per model, a selection sweep unless the place is given), then 2 + 2·models cells per model.
        int n = models.Count, perModel = 2 + (analysis.Subtraction ? 3 : 2) * n;
        double directionShare = analysis.Layer is null && analysis.Protocol != AnalysisProtocol.Paper ? 0.4 : 0.05;
        var index = models.Select((m, i) => (m.Name, i)).ToDictionary(x => x.Name, x => x.i);
        var progress = new SyncProgress<RefusalProgress>(p =>
        {
            int i = index.GetValueOrDefault(p.Model);
            double within = p.Total > 0 ? (double)p.Done / p.Total : 0;
            bool directions = p.Stage is "direction" or "candidates" or "selection";
            double fraction = directions
                ? directionShare * (i + within) / n
                : directionShare + (1 - directionShare) * (i * perModel + p.Done) / (n * perModel);
            context.Progress.Report(new StepProgress(fraction, $"{p.Model}: {p.Stage}{(p.Total > 1 ? $" {p.Done}/{p.Total}" : "")}"));
        });
        var result = RefusalAnalysis.Run(models, set, analysis, progress, context.Cancellation);
        RefusalReport.Write(context.OutputDirectory, result, options.Samples);

        var section = RefusalSection.From(result, options.AdvBench is null ? options.Instructions : $"AdvBench {options.AdvBench}, Alpaca {options.Alpaca}");
        return new StepResult<RefusalSection>(section, RefusalReport.Markdown(result, options.Samples, heading: false));
    }

    /// <summary>Per model its refusal rate, the drop when its own direction is ablated and the rise when it is added; the base's direction's cosines.</summary>
    public override IReadOnlyList<SummaryItem> Headlines(RefusalSection section, StepPart part)
    {
        var summary = new List<SummaryItem>();
        foreach (var score in section.Scores)
        {
            var m = score.Model;
            var own = section.Effect(m, m);
            summary.Add(new SummaryItem($"refusal on harmful instructions, {m}", score.Harmful, $"refusal.scores[model={m}].harmful"));
            summary.Add(new SummaryItem($"refusal drop, {m}'s direction ablated", own.AblationDrop, $"refusal.effects[model={m},direction={m}].ablationDrop"));
            summary.Add(new SummaryItem($"refusal rise, {m}'s direction added", own.AdditionRise, $"refusal.effects[model={m},direction={m}].additionRise"));
        }
        var b = section.Scores[0].Model;
        foreach (var c in section.Cosines.Where(c => c.A == b))
            summary.Add(new SummaryItem($"refusal direction cosine, {b} vs {c.B}", c.Cosine, $"refusal.cosines[a={b},b={c.B}].cosine"));
        return summary;
    }

    /// <summary>Each model's direction and the prefix-score table.</summary>
    public override IEnumerable<string> Describe(RefusalSection section, RefusalStepOptions options)
    {
        static string F(double v) => v.ToString("F2", CultureInfo.InvariantCulture);
        yield return $"protocol: {section.Protocol}";
        string How(RefusalSectionDirection d) =>
            section.Protocol == AnalysisProtocol.Paper && d.PaperSource is not null
                ? d.PaperScript is { } script ? $"the paper's, {script}" : "the paper protocol's rule"
                : d.Selected ? "selected" : "given";
        foreach (var d in section.Directions)
            yield return $"{d.Model}: {d.Template} template, direction at layer {d.Layer}, position {d.Position} ({How(d)}), norm {F(d.Norm)}";
        yield return "refusal score (prefix): harmful baseline -> ablated with each direction; harmless baseline -> added";
        foreach (var s in section.Scores)
        {
            var mine = section.Effects.Where(e => e.Model == s.Model).ToList();
            yield return $"  {s.Model,-12} harmful {F(s.Harmful)} -> {string.Join(" ", mine.Select(e => $"{e.Direction}:{F(e.Ablated)}"))}; " +
                $"harmless {F(s.Harmless)} -> {string.Join(" ", mine.Select(e => $"{e.Direction}:{F(e.Added)}"))}";
        }
    }

    /// <summary>Negative layers count from the end (−1: the last block's input, resid_pre of layer L−1).</summary>
    static RefusalOptions ResolveLayers(RefusalStepOptions o, int layers)
    {
        int Resolve(int l, string option)
        {
            int r = l < 0 ? layers + l : l;
            if ((uint)r >= (uint)layers) Bad($"the models have {layers} layers: give 0..{layers - 1}, or -1..-{layers} counted from the end", option, l);
            return r;
        }
        return o with
        {
            Layer = o.Layer is { } l ? Resolve(l, "layer") : null,
            CandidateLayers = o.CandidateLayers?.Select(l => Resolve(l, "candidateLayers")).ToList(),
        };
    }
}
