using System.Globalization;
using System.Text.Json;
using OnnxInterp.Analysis.Editing;
using OnnxInterp.Checkpoints;
using OnnxInterp.Data;
using OnnxInterp.Export;
using OnnxInterp.Internals;
using OnnxInterp.Reports;
using OnnxInterp.Runtime;

namespace OnnxInterp.Comparison;

/// <summary>What to edit, with what, and where to write the edited checkpoint.</summary>
public sealed record EditRequest
{
    /// <summary>A Hugging Face checkpoint folder (config.json, safetensors, tokenizer).</summary>
    public required string Checkpoint { get; init; }

    public required IReadOnlyList<EditFact> Facts { get; init; }

    /// <summary>The file the facts came from (for messages and edit.json).</summary>
    public string? FactsFile { get; init; }

    /// <summary>DIR: the edited checkpoint, its export in DIR/onnx, and DIR/edit.json.</summary>
    public required string OutputDirectory { get; init; }

    /// <summary>The layer whose down projection is edited; null: the one causal tracing picks.</summary>
    public int? Layer { get; init; }

    /// <summary>Texts for the keys' second moment; null: the synthetic world's (<see cref="EditWorld.Corpus"/>).</summary>
    public IReadOnlyList<string>? Corpus { get; init; }

    /// <summary>Where <see cref="Corpus"/> came from (a file), for edit.json.</summary>
    public string? CorpusSource { get; init; }

    /// <summary>The synthetic world that completes facts about its subjects (and gives the default corpus).</summary>
    public int WorldSeed { get; init; } = 1;

    /// <summary>The export cache for the checkpoint; null uses <see cref="ModelResolver.DefaultCacheDirectory"/>.</summary>
    public string? CacheDirectory { get; init; }

    public EditOptions Options { get; init; } = new();
}

/// <summary>A finished edit: the folder written and edit.json's content.</summary>
public sealed record EditOutcome(string OutputDirectory, EditRecord Record);

/// <summary>
/// Model editing at the traced site (ROME, Meng et al. 2022) as the `edit` verb runs it: the checkpoint exported (cached) and
/// opened; facts completed from the synthetic world; the layer picked by causal tracing (<see cref="FactTracing"/>) unless
/// given; the rank-one update computed (<see cref="RomeEdit"/>); the edited checkpoint written, exported and opened, and the
/// scores, generations and maps measured on that re-exported model, not on an intervention. DIR is built aside and moved
/// into place at the end, so a failed edit leaves nothing behind.
/// </summary>
public static class ModelEditor
{
    public static EditOutcome Run(EditRequest request, Action<string>? log = null, CancellationToken cancellation = default)
    {
        var source = Path.GetFullPath(request.Checkpoint);
        if (!Directory.Exists(source)) Throw.Argument("the checkpoint folder does not exist", "checkpoint", request.Checkpoint);
        if (File.Exists(Path.Combine(source, ModelManifest.FileName)))
            Throw.Argument("edit writes a new checkpoint, so it reads a Hugging Face checkpoint folder (config.json, safetensors, tokenizer), not an exported one",
                "checkpoint", request.Checkpoint);
        if (!File.Exists(Path.Combine(source, HfCheckpoint.ConfigFile)))
            Throw.Argument("not a Hugging Face checkpoint folder: it has no config.json", "checkpoint", request.Checkpoint);
        var outDir = Path.GetFullPath(request.OutputDirectory);
        CheckOutput(outDir, source);
        EditFacts.Check(request.Facts, request.FactsFile);
        var o = request.Options;
        string hash, tensor;
        using (var ckpt = HfCheckpoint.Open(source))
        {
            hash = "sha256:" + ckpt.ComputeHash();
            if (request.Layer is int given && (uint)given >= (uint)ckpt.Config.NumLayers)
                Throw.Argument($"layer outside 0..{ckpt.Config.NumLayers - 1}", "layer", given);
        }

        var resolved = new ModelResolver(request.CacheDirectory).Resolve(new ModelSpec("model", source), log: log, cancellation: cancellation);
        using var model = ModelSession.Open(resolved.Exported);
        var world = SyntheticWorld.Generate(request.WorldSeed, WorldSize.Family);
        var facts = request.Facts.Select((f, i) => EditWorld.Resolve(i, f, world, o.Neighbours, o.Donors)).ToList();
        facts = EditScoring.WithModelAnswers(model, facts, o.GenerateTokens, cancellation).ToList();

        // Pairs for tracing: world facts with other subjects of their dataset (not sharing the old object or the target),
        // other facts with the file's other subjects.
        var pairs = facts.Select(f => (Fact: f, Pair: FactTracing.Pair(model.Tokenizer, f, f.Dataset is { } d
            ? world.Facts[d].Where(x => x.Object != f.Old && x.Object != f.Target).Select(x => x.Subject)
            : facts.Select(x => x.Subject)))).ToList();
        var site = FactTracing.Site(model, pairs, cancellation);
        int layer;
        if (request.Layer is int l) layer = l;
        else if (site is { } s) layer = Array.IndexOf(s.MeanEffect, s.MeanEffect.Max());
        else throw new InvalidArgumentException("no fact could be traced (none has a partner subject whose prompt has as many tokens), so tracing picks no layer; pass --layer",
            "layer", null);
        log?.Invoke(site is { } t
            ? string.Create(CultureInfo.InvariantCulture, $"causal tracing ({t.Traced} facts, MLP restored at the subject's last token), recovered share per layer: {string.Join(" ", t.MeanEffect.Select(x => x.ToString("0.00", CultureInfo.InvariantCulture)))}; editing layer {layer}{(request.Layer is null ? "" : " (given)")}")
            : $"editing layer {layer} (given; no fact could be traced)");

        var corpus = request.Corpus ?? EditWorld.Corpus(world);
        var plan = RomeEdit.Compute(model, facts, layer, corpus, o, new SyncProgress<string>(m => log?.Invoke(m)), cancellation);
        var before = EditScoring.Score(model, facts, o.BatchSize, cancellation);
        var generatedBefore = EditScoring.Generate(model, facts.Select(f => f.Prompt).ToList(), o.GenerateTokens, cancellation);
        var mapsBefore = pairs.Select(p => p.Pair is null ? null : FactTracing.Map(model, p.Fact, p.Pair, cancellation)).ToList();
        tensor = new CheckpointWeights(source).NameOf(WeightTensor.MlpDown, layer);

        EditRecord? record = null;
        AtomicFile.WriteDirectory(outDir, staging =>
        {
            log?.Invoke(string.Create(CultureInfo.InvariantCulture,
                $"writing the edited checkpoint ({plan.Written} of {facts.Count} facts; {tensor} changed by {plan.RelativeChange:P1}, its output on the corpus by {plan.CorpusOutputChange:P1}) and exporting it"));
            CheckpointEditor.WriteCopy(source, staging, new Dictionary<string, float[]> { [tensor] = plan.NewDown },
                new Dictionary<string, string> { ["onnxinterp_edit"] = $"ROME at layer {layer}, {facts.Count} fact(s); see edit.json" });
            var exported = Path.Combine(staging, EditRecord.ExportFolder);
            ModelExporter.Export(staging, exported, new ExportOptions { HashSource = false });
            using var edited = ModelSession.Open(exported);
            var after = EditScoring.Score(edited, facts, o.BatchSize, cancellation);
            var generatedAfter = EditScoring.Generate(edited, facts.Select(f => f.Prompt).ToList(), o.GenerateTokens, cancellation);
            var maps = pairs.Select((p, i) => p.Pair is null || mapsBefore[i] is null ? null
                : new FactMap(p.Pair.Pair.FalseSubject, p.Pair.Labels, FactTracing.SubjectLast(p.Pair), mapsBefore[i]!, FactTracing.Map(edited, p.Fact, p.Pair, cancellation)!)).ToList();
            record = Record(request, source, hash, tensor, plan, site, corpus, facts, before, after, generatedBefore, generatedAfter, maps);
            AtomicFile.WriteAllText(Path.Combine(staging, EditRecord.FileName), JsonSerializer.Serialize(record, ResultsJson.Strict));
        });
        return new EditOutcome(outDir, record!);
    }

    /// <summary>DIR may be new, empty, or an earlier edit's output (it is replaced); not the checkpoint itself or another folder with files.</summary>
    static void CheckOutput(string outDir, string source)
    {
        if (File.Exists(outDir)) Throw.Argument("the output folder is a file", "out", outDir);
        if (string.Equals(outDir.TrimEnd(Path.DirectorySeparatorChar), source.TrimEnd(Path.DirectorySeparatorChar), StringComparison.Ordinal))
            Throw.Argument("the output folder is the checkpoint being edited; write the edited copy elsewhere", "out", outDir);
        if (Directory.Exists(outDir) && Directory.EnumerateFileSystemEntries(outDir).Any() && !File.Exists(Path.Combine(outDir, EditRecord.FileName)))
            Throw.Argument("the output folder exists and holds other files (no edit.json); choose an empty or new folder", "out", outDir);
    }

    static EditRecord Record(EditRequest request, string source, string hash, string tensor, RomePlan plan, (double[] MeanEffect, int Traced)? site,
        IReadOnlyList<string> corpus, IReadOnlyList<ResolvedFact> facts, IReadOnlyList<FactScores> before, IReadOnlyList<FactScores> after,
        IReadOnlyList<string> generatedBefore, IReadOnlyList<string> generatedAfter, IReadOnlyList<FactMap?> maps)
    {
        var o = request.Options;
        var edited = facts.Select((f, i) => new EditedFact(f.Subject, f.Prompt, f.Target, f.Old, f.OldSource, f.Dataset, f.Paraphrases, f.Neighbours,
            after[i].Efficacy, after[i].Paraphrase, after[i].Specificity, after[i].Margin, before[i], RomePlan.IsWritten(plan.Values[i]), plan.Values[i],
            new EditGeneration(generatedBefore[i], generatedAfter[i]), maps[i])).ToList();
        var withMaps = maps.OfType<FactMap>().ToList();
        EditMapSummary? summary = null;
        if (withMaps.Count > 0)
        {
            double Site(Func<FactMap, double[][]> m) => withMaps.Average(x => m(x)[plan.Layer][x.SubjectLast]);
            double Elsewhere(Func<FactMap, double[][]> m) => withMaps.Average(x =>
                m(x).SelectMany((row, l) => row.Select((v, p) => (l, p, v))).Where(c => c.l != plan.Layer || c.p != x.SubjectLast).Average(c => c.v));
            summary = new EditMapSummary(Site(x => x.Before), Site(x => x.After), Elsewhere(x => x.Before), Elsewhere(x => x.After), withMaps.Count);
        }
        var method = new EditMethod(
            "ROME (rank-one model editing, Meng et al. 2022) with a forward-only value",
            plan.Layer,
            tensor,
            $"k* = blocks.{plan.Layer}.mlp.hook_post (the activation entering down_proj) at the subject's last token of the fact's prompt",
            "v* = W k* + δ, δ found by forward passes that add it to blocks.{l}.hook_resid_post at the subject's last token (where the edited down_proj adds it) " +
            "and compare the target's mean token log-probability with the old object's: first the smallest step (octave grid, then bisection) along the mean " +
            "layer-output state of donor subjects whose answer is already the target minus the fact's own (\"donors\"; the synthetic world supplies donors); " +
            "where that falls short or there are no donors, rounds of steepest ascent on a central finite-difference gradient of the margin (2 × hidden rows per " +
            "round) with a line search (\"gradient\"); ‖δ‖ clamped to clampNormFactor × ‖W k*‖ as ROME clamps it; the search stops at the margin. A fact " +
            "whose search falls short is not written.",
            "ROME finds v* by gradient descent with backpropagation through the layers above (the target's negative log-likelihood over the prompt after random " +
            "prefixes, a KL term on \"{subject} is a\" and a weight decay on δ); forward-only graphs have no backward pass, so here δ is a line search toward donor " +
            "subjects or finite-difference gradient ascent, on the prompt alone, with no KL term, stopped at the margin instead of minimising the loss. The key " +
            "is the prompt's own (ROME averages it over random prefixes). With several facts every written key is constrained at once (ROME's least-squares " +
            "problem with one constraint per key: a rank-k update), each v* found on the unedited model; ROME edits one fact per model.",
            "W' = W + Δ (Kᵀ C⁻¹ K)⁻¹ (C⁻¹ K)ᵀ with K the written facts' keys, Δ their v* − W k*, C = E[k kᵀ] over the corpus's tokens; for one fact W' = W + (v* − W k*) (C⁻¹ k*)ᵀ / ((C⁻¹ k*)ᵀ k*)",
            o.Margin, o.MaxScale, o.ClampNormFactor, o.GradientRounds,
            new EditCorpus(request.CorpusSource ?? (request.Corpus is null ? $"synthetic world {request.WorldSeed}: generic sentences and the first 100 statements of each dataset" : "given"),
                plan.Covariance.Texts, plan.Covariance.Keys),
            plan.Written, plan.RelativeChange, plan.CorpusOutputChange);
        var siteRecord = new EditSite(request.Layer is null ? "causal tracing" : "given", HookName.SuffixOf(FactTracing.Hook),
            site?.MeanEffect, site?.Traced ?? 0, summary);
        return new EditRecord(EditRecord.SchemaName, ComparisonRunner.ToolVersion, new EditSource(source, hash, request.FactsFile is null ? null : Path.GetFullPath(request.FactsFile), request.WorldSeed),
            method, siteRecord,
            EditScoring.Mean(after.Select(a => (double?)a.Efficacy)), EditScoring.Mean(after.Select(a => a.Paraphrase)), EditScoring.Mean(after.Select(a => a.Specificity)),
            new EditAverages(EditScoring.Mean(before.Select(a => (double?)a.Efficacy)), EditScoring.Mean(before.Select(a => a.Paraphrase)), EditScoring.Mean(before.Select(a => a.Specificity))),
            edited);
    }
}
