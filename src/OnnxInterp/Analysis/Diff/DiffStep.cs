using System.Globalization;
using OnnxInterp.Data;
using OnnxInterp.Tokenization;

namespace OnnxInterp.Analysis.Diff;

/// <summary>The diff's options plus its corpus: instructions, judging prompts and a text file.</summary>
public sealed record DiffStepOptions : DiffOptions
{
    /// <summary>"synthetic" (the world's instructions), a CSV or JSON instruction file (<see cref="InstructionSet.Read"/>), or null for none.</summary>
    public string? Instructions { get; init; } = SyntheticInstructions;

    /// <summary>Harmful and harmless instructions taken, each (the first ones).</summary>
    public int MaxInstructions { get; init; } = 24;

    /// <summary>The paper's few-shot judging prompts (plain text) on <see cref="Dataset"/>.</summary>
    public bool Judging { get; init; } = true;

    /// <summary>The judging prompts' statements: synthetic:NAME (the world's held-out statements) or a statement CSV with the paper's few-shot examples; null: the comparison's first dataset.</summary>
    public string? Dataset { get; init; }

    public int MaxJudging { get; init; } = 24;

    /// <summary>A UTF-8 text file, each non-empty line one prompt of plain text; null for none.</summary>
    public string? Text { get; init; }

    public int MaxText { get; init; } = 64;

    /// <summary>The chat template instructions are rendered in, for both models: "post" (each post-trained model's own), "base", or a template name.</summary>
    public string Template { get; init; } = PostTemplate;

    public const string SyntheticInstructions = "synthetic", PostTemplate = "post", BaseTemplate = "base";
}

/// <summary>
/// Where post-training acts (model diffing): per-token divergence, the logit lens of both models and across them,
/// activation differences per layer and the activation-difference lens with steering. Not in `compare`'s default set:
/// it runs through `--only diff`, `"analyses": ["diff"]` or the `diff` verb. results.json: diff = <see cref="DiffSection"/>
/// (docs/results-schema.md).
/// </summary>
public sealed class DiffStep : AnalysisStep<DiffStepOptions, DiffSection>
{
    public override string Name => "diff";
    public override string Title => "Where post-training acts (per-token divergence, logit lens, activation differences)";
    public override bool RunsByDefault => false;
    public override DiffStepOptions Defaults => new();

    public override IReadOnlyList<StepPart> Parts(IReadOnlyList<string> datasets, DiffStepOptions options) =>
        [new StepPart("", options.Judging ? options.Dataset ?? datasets[0] : null)
        {
            Files = new[] { options.Instructions is { } i && i != DiffStepOptions.SyntheticInstructions ? i : null, options.Text }.OfType<string>().ToList(),
        }];

    protected override void Validate(DiffStepOptions o)
    {
        if (o.Instructions is { } i && i != DiffStepOptions.SyntheticInstructions && !File.Exists(i))
            Bad("the instruction file does not exist (give a CSV or JSON file, synthetic, or null for none)", "instructions", i);
        if (o.Text is { } t && !File.Exists(t)) Bad("the text file does not exist", "text", t);
        if (o.Instructions is null && !o.Judging && o.Text is null) Bad("the corpus is empty: give instructions, judging or a text file", "instructions", "null");
        if (o.Dataset is { } d)
        {
            try { DatasetSpec.Check(d); }
            catch (InvalidArgumentException e) { Bad(e.Message, "dataset", d); }
        }
        if (o.Template is not (DiffStepOptions.PostTemplate or DiffStepOptions.BaseTemplate) && !ChatTemplates.Names.Contains(o.Template))
            Bad($"unknown chat template; give post, base or one of {string.Join(", ", ChatTemplates.Names)}", "template", o.Template);
        foreach (var (name, value) in new[] { ("maxInstructions", o.MaxInstructions), ("maxJudging", o.MaxJudging), ("maxText", o.MaxText), ("batchSize", o.BatchSize),
            ("directionTokens", o.DirectionTokens), ("maxDirectionSamples", o.MaxDirectionSamples), ("steering.maxNewTokens", o.Steering.MaxNewTokens) })
            if (value < 1) Bad("must be at least 1", name, value);
        if (o.MaxTokens < 2) Bad("must be at least 2", "maxTokens", o.MaxTokens);
        foreach (var (name, value) in new[] { ("topTokens", o.TopTokens), ("contextTokens", o.ContextTokens), ("highlightPrompts", o.HighlightPrompts),
            ("directions", o.Directions), ("steering.prompts", o.Steering.Prompts) })
            if (value < 0) Bad("must be 0 or more", name, value);
        if (!double.IsFinite(o.Steering.Scale)) Bad("must be a finite number", "steering.scale", o.Steering.Scale);
    }

    static void Bad(string message, string option, object? value) =>
        throw new InvalidArgumentException(message, $"diff.{option}", Convert.ToString(value, CultureInfo.InvariantCulture));

    public override StepResult<DiffSection> Run(StepContext context, DiffStepOptions options, StepPart part)
    {
        if (context.Post.Count == 0) Bad("the diff compares post-trained models with the base: give at least one --post", "models", context.Models.Count);
        var (corpus, about) = Corpus(context, options, part);
        var models = context.Post.Select(m => new DiffModel(m.Name, m.Model)
        {
            Template = options.Template switch
            {
                DiffStepOptions.PostTemplate => m.Template,
                DiffStepOptions.BaseTemplate => context.Base.Template,
                var name => ChatTemplates.Get(name),
            },
        }).ToList();
        int pairs = models.Count;
        var index = models.Select((m, i) => (m.Name, i)).ToDictionary(x => $"{context.Base.Name} → {x.Name}", x => x.i);
        var progress = new SyncProgress<DiffProgress>(p =>
        {
            // Forward passes take most of the time; directions and steering the rest.
            double within = p.Stage switch
            {
                "forward" => 0.8 * p.Done / Math.Max(1, p.Total),
                "directions" => 0.8,
                _ => 0.8 + 0.2 * p.Done / Math.Max(1, p.Total),
            };
            context.Progress.Report(new StepProgress((index.GetValueOrDefault(p.Pair) + within) / pairs, $"{p.Pair}: {p.Stage} {p.Done}/{p.Total}"));
        });
        var result = DiffAnalysis.Run(new DiffModel(context.Base.Name, context.Base.Model), models, corpus, options, progress, context.Cancellation);
        DiffReport.Write(context.OutputDirectory, result);
        return new StepResult<DiffSection>(DiffSection.From(result, about), DiffReport.Markdown(result, about));
    }

    /// <summary>The corpus the options name, and a sentence saying what it is.</summary>
    static (IReadOnlyList<CorpusText> Corpus, string About) Corpus(StepContext context, DiffStepOptions o, StepPart part)
    {
        var corpus = new List<CorpusText>();
        var about = new List<string>();
        if (o.Instructions is { } source)
        {
            var set = source == DiffStepOptions.SyntheticInstructions ? InstructionSet.FromWorld(context.World) : InstructionSet.Read(source);
            var texts = DiffCorpus.Instructions(set, o.MaxInstructions);
            corpus.AddRange(texts);
            about.Add($"{texts.Count(t => t.Source == DiffCorpus.Harmful)} harmful and {texts.Count(t => t.Source == DiffCorpus.Harmless)} harmless instructions " +
                $"({(source == DiffStepOptions.SyntheticInstructions ? "the synthetic world's" : Path.GetFileName(source))})");
        }
        if (o.Judging && part.Dataset is { } spec)
        {
            StatementDataset data;
            IReadOnlyList<(string, bool)> fewShot;
            if (DatasetSpec.IsSynthetic(spec))
            {
                var name = DatasetSpec.Id(spec);
                (data, fewShot) = (context.World.ToDataset(name, heldOutOnly: true), context.World.FewShot(name));
            }
            else
            {
                var d = context.Dataset(spec);
                if (d.FewShot is null)
                    Bad($"no few-shot examples for this dataset (the paper's few_shot_samples.json beside it, or a dataset the paper hard-codes)", "dataset", spec);
                (data, fewShot) = (d.Data, d.FewShot!);
            }
            var texts = DiffCorpus.JudgingPrompts(data, fewShot, o.MaxJudging);
            corpus.AddRange(texts);
            about.Add($"{texts.Count} few-shot judging prompts on {DatasetSpec.Id(spec)}{(DatasetSpec.IsSynthetic(spec) ? " (held-out statements)" : "")}");
        }
        if (o.Text is { } file)
        {
            var texts = DiffCorpus.TextFile(file, o.MaxText);
            corpus.AddRange(texts);
            about.Add($"{texts.Count} lines of {Path.GetFileName(file)}");
        }
        if (corpus.Count == 0) Bad("the corpus is empty: give instructions, judging or a text file", "instructions", o.Instructions);
        return (corpus, string.Join("; ", about));
    }

    /// <summary>Per pair: mean KL over all, template and content tokens, top-1 disagreement, and the relative activation difference at the last layer.</summary>
    public override IReadOnlyList<SummaryItem> Headlines(DiffSection section, StepPart part)
    {
        var items = new List<SummaryItem>();
        foreach (var p in section.Pairs)
        {
            string at = $"diff.pairs[post={p.Post}]";
            foreach (var cls in new[] { "all", "template", "content" })
                if (p.Totals.FirstOrDefault(t => t.Source == "all" && t.TokenClass == cls) is { } t)
                    items.Add(new SummaryItem($"mean KL({p.Post} ‖ {p.Base}) per token, {(cls == "all" ? "all tokens" : cls + " tokens")}", t.MeanKl,
                        $"{at}.totals[source=all,tokenClass={cls}].meanKl"));
            if (p.Totals.FirstOrDefault(t => t.Source == "all" && t.TokenClass == "all") is { } all)
                items.Add(new SummaryItem($"top-1 disagreement, {p.Base} vs {p.Post}", all.Top1Disagreement, $"{at}.totals[source=all,tokenClass=all].top1Disagreement"));
            if (p.Layers.Count > 0)
                items.Add(new SummaryItem($"‖h_{p.Post} − h_{p.Base}‖ / ‖h_{p.Base}‖, last layer", p.Layers[^1].Relative, $"{at}.layers[layer={p.Layers[^1].Layer}].relative"));
        }
        return items;
    }

    public override IEnumerable<string> Describe(DiffSection section, DiffStepOptions options)
    {
        static string F(double v, string f = "0.000") => v.ToString(f, CultureInfo.InvariantCulture);
        yield return $"corpus: {section.Corpus}";
        foreach (var p in section.Pairs)
        {
            yield return $"{p.Base} → {p.Post} ({p.Template} template, {p.Prompts} prompts, {p.Tokens} tokens):";
            var bySource = p.Totals.Where(t => t.TokenClass == "all" || t.TokenClass == "template" || t.TokenClass == "content" || t.TokenClass == "last")
                .GroupBy(t => t.Source);
            foreach (var g in bySource)
                yield return $"  {g.Key}: " + string.Join(", ", g.Select(t => $"{t.TokenClass} KL {F(t.MeanKl, "0.0000")} (top-1 differs {F(t.Top1Disagreement, "0%")}, n={t.Tokens})"));
            foreach (var t in p.TopTokens.Take(5))
                yield return $"  #{t.Rank} KL {F(t.Kl)} at {t.Source} prompt {t.Prompt} token {t.Position} '{Visible(t.Token)}' ({t.TokenClass}): {p.Base} → '{Visible(t.BaseTop1)}', {p.Post} → '{Visible(t.PostTop1)}'";
            var last = p.Layers.Count > 0 ? p.Layers[^1] : null;
            if (last is not null)
                yield return $"  layers: relative activation difference {string.Join(" ", p.Layers.Select(l => F(l.Relative, "0.000")))} (layer 0..{last.Layer})";
            if (p.Lens is { } s)
                yield return $"  lens: predictions form at layer {F(s.BaseForms, "0.00")} ({p.Base}) and {F(s.PostForms, "0.00")} ({p.Post}); " +
                    $"disagreeing outputs ({s.SplitTokens} tokens) part at layer {(s.Split is { } x ? F(x, "0.00") : "-")}";
            if (last?.PostThroughBaseHead is { } pb && last.BaseThroughPostHead is { } bp)
                yield return $"  last layer through the other head: {p.Post} via {p.Base}'s head KL {F(pb.KlToOwn, "0.0000")} from {p.Post}'s output; " +
                    $"{p.Base} via {p.Post}'s head KL {F(bp.KlToOwn, "0.0000")} from {p.Base}'s output";
            foreach (var d in p.Directions)
                yield return $"  direction {d.Index} at layer {p.DirectionLayer} ({F(d.Share, "0.0%")} of ‖Δ‖², cos {F(d.MeanCosine, "0.00")} with the mean): promotes {string.Join(" ", d.Promoted.Take(5).Select(x => $"'{Visible(x)}'"))}";
            foreach (var s2 in p.Steering)
            {
                yield return $"  steer {s2.Source}: {p.Base}: '{Visible(s2.Base)}'";
                for (int k = 0; k < s2.Steered.Count; k++) yield return $"    + direction {k + 1}: '{Visible(s2.Steered[k])}'";
                yield return $"    {p.Post}: '{Visible(s2.Post)}'";
            }
        }
    }

    static string Visible(string s) => s.Replace("\n", "↵", StringComparison.Ordinal).Replace("\r", "", StringComparison.Ordinal);
}
