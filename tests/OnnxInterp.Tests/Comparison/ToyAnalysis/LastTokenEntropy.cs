using System.Globalization;
using System.Text;
using OnnxInterp.Analysis;
using OnnxInterp.Runtime;

namespace OnnxInterp.Tests.Comparison.ToyAnalysis;

// A sixth analysis, whole, as a user of the library would write one: its options, its results.json section, its
// registration (run, headline numbers, report section, an overview over the datasets, what its verb prints). It is
// registered with one line (ToyAnalysisTests.Registry) and nothing else in the library or the CLI knows it.

/// <summary>How many statements of each dataset to read.</summary>
public sealed record LastTokenEntropyOptions
{
    public int Statements { get; init; } = 8;
}

/// <summary>One dataset's "toy" section: per model, the mean entropy (nats) of its next-token distribution after each statement.</summary>
public sealed record LastTokenEntropySection(string Dataset, int Statements, IReadOnlyList<ModelEntropy> Models);

public sealed record ModelEntropy(string Model, double MeanEntropy);

/// <summary>Mean last-token entropy per model, once per dataset.</summary>
public sealed class LastTokenEntropyStep : AnalysisStep<LastTokenEntropyOptions, LastTokenEntropySection>
{
    public override string Name => "toy";
    public override string Title => "Toy: entropy of the next token after a statement";
    public override bool PerDataset => true;
    public override LastTokenEntropyOptions Defaults => new();

    protected override void Validate(LastTokenEntropyOptions o)
    {
        if (o.Statements < 1) throw new InvalidArgumentException("must be at least 1", "toy.statements", o.Statements.ToString(CultureInfo.InvariantCulture));
    }

    public override StepResult<LastTokenEntropySection> Run(StepContext context, LastTokenEntropyOptions options, StepPart part)
    {
        var data = context.Dataset(part.Dataset!).Data;
        var prompts = data.Statements.Take(options.Statements).Select(s => context.Tokenizer.Encode(s.Text)).ToList();
        var csv = new StringBuilder("model,statement,entropy\n");
        var models = new List<ModelEntropy>();
        foreach (var (m, i) in context.Models.Select((m, i) => (m, i)))
        {
            var entropies = new List<double>();
            foreach (var prompt in prompts)
            {
                context.Cancellation.ThrowIfCancellationRequested();
                var logits = m.Model.Run(new ForwardRequest([prompt]) { LogitPositions = [-1] }, context.Cancellation).Logits.Vector(0, 0);
                entropies.Add(Entropy(logits));
                csv.Append(CultureInfo.InvariantCulture, $"{m.Name},{entropies.Count - 1},{entropies[^1]:R}\n");
                context.Progress.Report(new StepProgress((i + (double)entropies.Count / prompts.Count) / context.Models.Count, $"{m.Name} {entropies.Count}/{prompts.Count}"));
            }
            models.Add(new ModelEntropy(m.Name, entropies.Average()));
        }
        File.WriteAllText(Path.Combine(context.OutputDirectory, "entropies.csv"), csv.ToString());
        var section = new LastTokenEntropySection(data.Name, prompts.Count, models);
        var md = new StringBuilder($"Mean entropy of the next-token distribution after each of {prompts.Count} statements of `{data.Name}`.\n\n");
        md.Append("| model | mean entropy (nats) |\n| --- | --- |\n");
        foreach (var x in models) md.Append(CultureInfo.InvariantCulture, $"| {x.Model} | {x.MeanEntropy:F4} |\n");
        return new StepResult<LastTokenEntropySection>(section, md.ToString());
    }

    /// <summary>Shannon entropy (nats) of softmax(logits), in double.</summary>
    public static double Entropy(ReadOnlySpan<float> logits)
    {
        double max = double.NegativeInfinity;
        foreach (var x in logits) max = Math.Max(max, x);
        double z = 0, s = 0;
        foreach (var x in logits)
        {
            double e = Math.Exp(x - max);
            z += e;
            s += e * (x - max);
        }
        return Math.Log(z) - s / z;
    }

    public override IReadOnlyList<SummaryItem> Headlines(LastTokenEntropySection section, StepPart part) =>
        section.Models.Select(x => new SummaryItem($"last-token entropy, {x.Model}", x.MeanEntropy, $"toy.{part.Id}.models[model={x.Model}].meanEntropy")).ToList();

    public override string? Overview(IReadOnlyList<(string Part, LastTokenEntropySection Section)> parts, IReadOnlyList<string> models) =>
        "| model | " + string.Join(" | ", parts.Select(p => p.Part)) + " |\n|" + string.Concat(Enumerable.Repeat(" --- |", parts.Count + 1)) + "\n" +
        string.Concat(models.Select(m => $"| {m} | " + string.Join(" | ", parts.Select(p =>
            p.Section.Models.First(x => x.Model == m).MeanEntropy.ToString("F3", CultureInfo.InvariantCulture))) + " |\n"));

    public override IEnumerable<string> Describe(LastTokenEntropySection section, LastTokenEntropyOptions options) =>
        section.Models.Select(x => FormattableString.Invariant($"{section.Dataset}: {x.Model} mean last-token entropy {x.MeanEntropy:F4} over {section.Statements} statements"));
}
