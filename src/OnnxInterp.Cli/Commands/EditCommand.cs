using System.CommandLine;
using System.Globalization;
using OnnxInterp.Analysis.Editing;
using OnnxInterp.Comparison;

namespace OnnxInterp.Cli.Commands;

static class EditCommand
{
    public static Command Create(CliContext ctx)
    {
        var checkpoint = new Argument<string>("checkpoint") { Description = "Hugging Face checkpoint folder to edit (config.json, *.safetensors, tokenizer files)." };
        var facts = new Option<string>("--facts")
        {
            Description = "JSON array of facts {\"subject\", \"prompt\", \"target\"} with optional \"old\", \"paraphrases\" and \"neighbours\" (prompts); " +
                "about a subject of the synthetic world, the world supplies what is left out.",
            Required = true,
        };
        var output = new Option<string>("--out", "-o") { Description = "Folder for the edited checkpoint, its export (onnx/) and edit.json (replaced atomically).", Required = true };
        var layer = new Option<int?>("--layer") { Description = "The layer whose MLP down projection is edited (default: the one causal tracing picks)." };
        var corpus = new Option<string?>("--corpus") { Description = "Text file, one text per line, for the keys' covariance (default: the synthetic world's sentences)." };
        var margin = new Option<double>("--margin") { Description = "Nats by which the new object must beat the old one at the value found.", DefaultValueFactory = _ => new EditOptions().Margin };
        var worldSeed = new Option<int>("--world-seed") { Description = "Seed of the synthetic world that completes facts about its subjects (the shipped family uses 1).", DefaultValueFactory = _ => 1 };
        var cacheDir = new Option<string?>("--cache-dir") { Description = $"Export cache for the checkpoint (default ${ModelResolver.CacheVariable} or ~/.cache/onnxinterp)." };
        var cmd = new Command("edit", """
            Model editing at the traced site (ROME, Meng et al. 2022): for each fact, a new object after the prompt, written into one
            layer's MLP down projection by ROME's closed-form update. The key is the subject's last token at mlp.hook_post; the keys'
            covariance comes from a corpus; the value is found forward-only (ROME uses gradients): a step along the direction toward
            subjects that already have the target, long enough that the target beats the old object by --margin nats. The layer is
            the one where causal tracing (restoring the MLP at the subject's last token) recovers most of the fact, unless --layer.
            Writes into DIR the edited checkpoint (safetensors, config, tokenizer), its ONNX export in DIR/onnx, and DIR/edit.json with
            the ROME paper's scores per fact and averaged (efficacy, paraphrase, specificity: fractions in [0, 1]) measured on the
            re-exported model, the scores before, greedy generations before and after, and each fact's causal-tracing map before and after.

            Examples:
              onnxinterp edit models/base --facts models/edit-facts.json --out ./edited-base
              onnxinterp edit ./llama-hf --facts facts.json --corpus wiki.txt --layer 17 --out ./llama-edited
            """)
        { checkpoint, facts, output, layer, corpus, margin, worldSeed, cacheDir };
        cmd.SetAction(parse => ctx.Guard(parse, cancellation =>
        {
            var factsFile = parse.GetValue(facts)!;
            var corpusFile = parse.GetValue(corpus);
            var outcome = ModelEditor.Run(new EditRequest
            {
                Checkpoint = parse.GetValue(checkpoint)!,
                Facts = EditFacts.Read(factsFile),
                FactsFile = factsFile,
                OutputDirectory = parse.GetValue(output)!,
                Layer = parse.GetValue(layer),
                Corpus = corpusFile is null ? null : ReadCorpus(corpusFile),
                CorpusSource = corpusFile is null ? null : Path.GetFullPath(corpusFile),
                WorldSeed = parse.GetValue(worldSeed),
                CacheDirectory = parse.GetValue(cacheDir),
                Options = new EditOptions { Margin = Margin(parse.GetValue(margin)) },
            }, line => ctx.Err.WriteLine(line), cancellation);
            foreach (var line in Describe(outcome)) ctx.Out.WriteLine(line);
            return ExitCodes.Ok;
        }));
        return cmd;
    }

    static double Margin(double m) => m > 0 && double.IsFinite(m) ? m : throw new InvalidArgumentException("must be a positive number of nats", "--margin", m.ToString(CultureInfo.InvariantCulture));

    static IReadOnlyList<string> ReadCorpus(string path)
    {
        try { return File.ReadAllLines(path).Where(l => !string.IsNullOrWhiteSpace(l)).ToList(); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new InvalidFileException($"cannot read the corpus: {e.Message}", path, inner: e);
        }
    }

    /// <summary>The layer, each fact's scores before and after and its generations, the averages, and where the files are.</summary>
    public static IEnumerable<string> Describe(EditOutcome outcome)
    {
        var r = outcome.Record;
        static string F(double? v) => v is double x ? x.ToString("0.00", CultureInfo.InvariantCulture) : "-";
        yield return string.Create(CultureInfo.InvariantCulture,
            $"edited layer {r.Method.Layer} ({r.Site.ChosenBy}) of {r.Source.Checkpoint}: {r.Method.Written} of {r.Facts.Count} facts written; {r.Method.Tensor} changed by {r.Method.RelativeChange:P1}, " +
            $"its output on the corpus by {r.Method.CorpusOutputChange:P1} (keys' covariance from {r.Method.Corpus.Keys} tokens)");
        foreach (var f in r.Facts)
        {
            yield return $"{f.Prompt} [{f.Old} -> {f.Target}]{(f.Written ? "" : " (not written: no value reached the margin)")}: efficacy {F(f.Efficacy)}, paraphrase {F(f.Paraphrase)}, specificity {F(f.Specificity)} " +
                $"(before {F(f.Before.Efficacy)}, {F(f.Before.Paraphrase)}, {F(f.Before.Specificity)})";
            yield return $"  generates \"{f.Generation.Before.Trim()}\" -> \"{f.Generation.After.Trim()}\"";
        }
        yield return $"average: efficacy {F(r.Efficacy)}, paraphrase {F(r.Paraphrase)}, specificity {F(r.Specificity)} " +
            $"(before {F(r.Before.Efficacy)}, {F(r.Before.Paraphrase)}, {F(r.Before.Specificity)}) over {r.Facts.Count} fact(s)";
        if (r.Site.Map is { } m)
            yield return string.Create(CultureInfo.InvariantCulture,
                $"re-traced: restoring the fact at layer {r.Method.Layer}, subject's last token, moves logit(target) - logit(old) by {m.SiteBefore:+0.00;-0.00} before, {m.SiteAfter:+0.00;-0.00} after the edit (elsewhere {m.ElsewhereBefore:+0.00;-0.00} / {m.ElsewhereAfter:+0.00;-0.00}; {m.Facts} facts)");
        yield return $"edited checkpoint in {outcome.OutputDirectory}, its export in {Path.Combine(outcome.OutputDirectory, EditRecord.ExportFolder)}, scores in {Path.Combine(outcome.OutputDirectory, EditRecord.FileName)}";
    }
}
