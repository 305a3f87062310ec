using System.Globalization;
using System.Text;
using OnnxInterp.Data;

namespace OnnxInterp.Analysis.Attribution;

/// <summary>
/// Feature attribution over input words (the talk's unified view of attribution: occlusion, KernelSHAP, LIME as local
/// function approximation): per dataset, the judging answer of a few statements; and the "refusal" part, the refusal score
/// of harmful instructions; each in the base and every post-trained model, side by side. Not part of a comparison's default
/// analyses (the demo's results.json is pinned): run it with `--only attribution`, "analyses": ["attribution"] or
/// `onnxinterp attribute`. results.json: attribution.PART = <see cref="AttributionSection"/>.
/// </summary>
public sealed class AttributionStep : AnalysisStep<AttributionOptions, AttributionSection>
{
    public const string RefusalPart = "refusal";

    public override string Name => "attribution";
    public override string Title => "Feature attribution (occlusion, KernelSHAP, LIME over input words)";
    public override bool PerDataset => true;
    public override bool RunsByDefault => false;
    public override AttributionOptions Defaults => new();

    public override IReadOnlyList<StepPart> Parts(IReadOnlyList<string> datasets, AttributionOptions options)
    {
        var parts = options.Statements > 0 ? base.Parts(datasets, options).ToList() : [];
        if (options.RefusalPrompts > 0) parts.Add(new StepPart(RefusalPart));
        return parts;
    }

    protected override void Validate(AttributionOptions o)
    {
        if (o.Methods is null || o.Methods.Count == 0) Bad("at least one method is needed", "methods", 0);
        foreach (var m in o.Methods!)
            if (!Enum.IsDefined(m)) Bad($"unknown method; known: {string.Join(", ", Enum.GetNames<AttributionMethod>())}", "methods", (int)m);
        if (o.Methods.Distinct().Count() != o.Methods.Count) Bad("a method is named twice", "methods", string.Join(",", o.Methods));
        if (o.Statements < 0) Bad("must not be negative", "statements", o.Statements);
        if (o.RefusalPrompts < 0) Bad("must not be negative", "refusalPrompts", o.RefusalPrompts);
        if (o.Statements == 0 && o.RefusalPrompts == 0) Bad("nothing to attribute: statements and refusalPrompts are both 0", "statements", 0);
        if (o.Coalitions < 1) Bad("must be at least 1", "coalitions", o.Coalitions);
        if (o.BatchSize < 1) Bad("must be at least 1", "batchSize", o.BatchSize);
        if (!(o.LimeKernelWidth > 0 && double.IsFinite(o.LimeKernelWidth))) Bad("must be a positive number", "limeKernelWidth", o.LimeKernelWidth);
        if (!(o.LimeRidge >= 0 && double.IsFinite(o.LimeRidge))) Bad("must be a non-negative number", "limeRidge", o.LimeRidge);
    }

    static void Bad(string message, string option, object? value) =>
        throw new InvalidArgumentException(message, $"attribution.{option}", Convert.ToString(value, CultureInfo.InvariantCulture));

    public override StepResult<AttributionSection> Run(StepContext context, AttributionOptions options, StepPart part)
    {
        var models = context.Models.Select(m => new AttributionModel(m.Name, m.Model, m.Template)).ToList();
        var progress = new SyncProgress<AttributionProgress>(p =>
            context.Progress.Report(new StepProgress((double)p.Done / p.Total, $"{p.Model}: {p.Done}/{p.Total} prompts")));
        AttributionSection section;
        if (part.Id == RefusalPart)
        {
            var instructions = context.World.Instructions.Where(i => i.Harmful).Take(options.RefusalPrompts).Select(i => i.Instruction).ToList();
            section = AttributionAnalysis.Refusal(part.Id, models, context.Tokenizer, instructions, options, progress, context.Cancellation);
        }
        else
        {
            var data = context.Dataset(part.Dataset!);
            if (data.FewShot is null)
                throw new InvalidArgumentException("no few-shot examples for this dataset (few_shot_samples.json beside the CSV, or a dataset the paper's code has examples for)",
                    "datasets", part.Dataset);
            section = AttributionAnalysis.Judging(part.Id, models, context.Tokenizer, Statements(data, options), data.FewShot, options, progress, context.Cancellation);
        }
        AttributionReport.Write(context.OutputDirectory, section);
        return new StepResult<AttributionSection>(section, AttributionReport.Markdown(section));
    }

    /// <summary>A seeded choice of statements that are not few-shot examples, true and false alternating.</summary>
    static IReadOnlyList<(string, bool)> Statements(AnalysisDataset data, AttributionOptions o)
    {
        var examples = data.FewShot!.Select(e => e.Statement).ToHashSet(StringComparer.Ordinal);
        var pool = data.Data.Statements.Where(s => !examples.Contains(s.Text)).ToArray();
        new Random(o.Seed).Shuffle(pool);
        var trues = pool.Where(s => s.Label == 1).ToList();
        var falses = pool.Where(s => s.Label == 0).ToList();
        var chosen = new List<(string, bool)>();
        for (int i = 0; chosen.Count < o.Statements && (i < trues.Count || i < falses.Count); i++)
        {
            if (i < trues.Count) chosen.Add((trues[i].Text, true));
            if (i < falses.Count && chosen.Count < o.Statements) chosen.Add((falses[i].Text, false));
        }
        if (chosen.Count == 0) throw new InvalidArgumentException("no statement is left once the few-shot examples are set aside", "datasets", data.Spec);
        return chosen;
    }

    public override IReadOnlyList<SummaryItem> Headlines(AttributionSection section, StepPart part) =>
        section.Agreement.Where(a => a.MeanSpearman is not null).Select(a => new SummaryItem(
            $"attribution agreement with the base ({AttributionReport.Name(a.Method)}, Spearman), {a.Model}", a.MeanSpearman!.Value,
            $"attribution.{part.Id}.agreement[model={a.Model}].meanSpearman")).ToList();

    public override string? Overview(IReadOnlyList<(string Part, AttributionSection Section)> parts, IReadOnlyList<string> models)
    {
        if (models.Count < 2) return null;
        var md = new StringBuilder("How each post-trained model's word scores agree with the base's (headline method; mean Spearman over prompts / same top word):\n\n");
        md.Append("| model | " + string.Join(" | ", parts.Select(p => p.Part)) + " |\n|" + string.Concat(Enumerable.Repeat(" --- |", parts.Count + 1)) + "\n");
        foreach (var m in models.Skip(1))
            md.Append($"| {m} | " + string.Join(" | ", parts.Select(p => p.Section.Agreement.FirstOrDefault(a => a.Model == m) is { } a
                ? string.Create(CultureInfo.InvariantCulture, $"{(a.MeanSpearman is double r ? r.ToString("F2", CultureInfo.InvariantCulture) : "-")} / {a.TopWordAgreement:P0}")
                : "-")) + " |\n");
        return md.ToString();
    }

    /// <summary>Per prompt and model: the scalar and the three words the headline method gives the largest |score|.</summary>
    public override IEnumerable<string> Describe(AttributionSection section, AttributionOptions options)
    {
        foreach (var p in section.Prompts)
        {
            yield return $"{section.Part}: {p.Text}{(p.Label is bool b ? (b ? " (true)" : " (false)") : "")}";
            foreach (var m in p.Models)
            {
                var x = m.Methods[0];
                var top = Enumerable.Range(0, x.Scores.Count).OrderByDescending(i => Math.Abs(x.Scores[i])).Take(3)
                    .Select(i => string.Create(CultureInfo.InvariantCulture, $"{p.Words[i]} {x.Scores[i]:+0.00;-0.00}"));
                yield return string.Create(CultureInfo.InvariantCulture, $"  {m.Model}: f(x) {m.Full:+0.00;-0.00}, f(∅) {m.Baseline:+0.00;-0.00}; {AttributionReport.Name(x.Method)} top: {string.Join(", ", top)}");
            }
        }
        foreach (var a in section.Agreement)
            yield return string.Create(CultureInfo.InvariantCulture,
                $"{section.Part}: {a.Model} vs base ({AttributionReport.Name(a.Method)}): mean Spearman {(a.MeanSpearman is double r ? r.ToString("F3", CultureInfo.InvariantCulture) : "-")}, same top word {a.TopWordAgreement:P0}");
    }
}
