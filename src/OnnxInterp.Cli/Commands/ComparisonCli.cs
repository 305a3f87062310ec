using System.CommandLine;
using System.Diagnostics;
using OnnxInterp.Analysis;
using OnnxInterp.Comparison;

namespace OnnxInterp.Cli.Commands;

/// <summary>The options `compare`, `demo`, `audit` and the analyses' verbs share, and how they become a <see cref="ComparisonConfig"/>.</summary>
sealed class ComparisonOptions
{
    readonly IReadOnlyList<string> _analyses;

    public readonly Option<string?> Config = new("--config") { Description = "A JSON config file (see docs/results-schema.md, \"config\"); command-line options override it." };
    public readonly Option<string[]> Set = new("--set") { Description = "Override one setting, PATH=VALUE (e.g. knowledge.maxPairs=20, worldSeed=2); repeatable." };
    public readonly Option<string[]> Datasets = new("--datasets") { Description = "Datasets, comma-separated: synthetic:NAME (the synthetic world) or statement CSV paths.", AllowMultipleArgumentsPerToken = true };
    public readonly Option<string[]> Only = new("--only");
    public readonly Option<string?> CacheDir = new("--cache-dir") { Description = $"Export cache for Hugging Face checkpoints (default ${ModelResolver.CacheVariable} or ~/.cache/onnxinterp)." };
    public readonly Option<string?> Provider = new("--provider") { Description = "cpu (default), cuda, or auto (CUDA when it loads, else CPU)." };
    public readonly Option<int?> Threads = new("--threads") { Description = "Intra-op threads per session (default: ONNX Runtime's choice)." };
    public readonly Option<string[]> Template = new("--template") { Description = "The chat template to prompt a model with, over the one its folder declares: NAME for every post-trained model, or MODEL=NAME (known: " + string.Join(", ", OnnxInterp.Tokenization.ChatTemplates.Names) + "); repeatable." };
    public readonly Option<string?> Preset = new("--preset") { Description = "The protocol: default (OnnxInterp's choices) or paper (Du et al.'s code, setting by setting, with its per-model tables)." };

    /// <summary>The options over the analyses of <paramref name="registry"/>; <paramref name="template"/>: offer --template (NAME or MODEL=NAME).</summary>
    public ComparisonOptions(IReadOnlyList<IAnalysisStep> registry, bool datasets = true, bool only = true, bool template = true)
    {
        _analyses = registry.Select(s => s.Name).ToList();
        Only.Description = $"Run only these analyses, comma-separated (known: {string.Join(", ", _analyses)}).";
        Provider.AcceptOnlyFromAmong("cpu", "cuda", "auto");
        Preset.AcceptOnlyFromAmong([.. ComparisonConfig.Presets]);
        All = new Option[] { Config, Set }
            .Concat(datasets ? [Datasets] : [])
            .Concat(only ? [Only] : [])
            .Concat(template ? [Template] : [])
            .Concat([Preset, CacheDir, Provider, Threads]).ToList();
    }

    public IReadOnlyList<Option> All { get; }

    public void AddTo(Command cmd)
    {
        foreach (var o in All) cmd.Options.Add(o);
    }

    /// <summary>Defaults ← <paramref name="start"/> ← --config ← <paramref name="layer"/> ← command-line options ← --set.</summary>
    public ComparisonConfig Build(ParseResult parse, ComparisonConfig? start = null, System.Text.Json.Nodes.JsonObject? layer = null)
    {
        var c = start ?? new ComparisonConfig();
        if (parse.GetValue(Config) is { } file) c = ComparisonConfig.Load(file, c, _analyses);
        if (layer is not null) c = ComparisonConfig.Merge(c, layer, "policy config", _analyses);
        if (All.Contains(Datasets) && Split(parse.GetValue(Datasets)) is { Count: > 0 } ds) c = c with { Datasets = ds };
        if (All.Contains(Only) && Split(parse.GetValue(Only)) is { Count: > 0 } only) c = c with { Analyses = only };
        if (parse.GetValue(Preset) is { } preset) c = c.Set($"preset={preset}", _analyses);
        if (parse.GetValue(Provider) is { } p) c = c with { Execution = c.Execution with { Provider = p } };
        if (parse.GetValue(Threads) is { } t) c = c.Set($"execution.threads={t}", _analyses);
        foreach (var s in parse.GetValue(Set) ?? []) c = c.Set(s, _analyses);
        return c;
    }

    static List<string> Split(string[]? values) =>
        (values ?? []).SelectMany(v => v.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)).ToList();
}

/// <summary>`--shard K/N` and `--shards N` (the index from JOB_COMPLETION_INDEX), which `compare`, `sweep` and `demo` share.</summary>
sealed class ShardOptions
{
    public readonly Option<string?> Shard = new("--shard")
    {
        Description = "Run shard K of N (K from 0, e.g. 1/3): a deterministic 1/N of the steps (a step above 1/N of the run, such as knowledge's pairs, " +
            "split into pieces), journaled in --out (a folder per shard, no report); " +
            "`onnxinterp merge` joins the shards into the report an unsharded run writes.",
    };

    public readonly Option<int?> Shards = new("--shards")
    {
        Description = $"Run shard ${ShardSpec.IndexVariable} of N (Kubernetes sets it in each pod of an Indexed Job); elsewhere use --shard K/N.",
    };

    public void AddTo(Command cmd)
    {
        cmd.Options.Add(Shard);
        cmd.Options.Add(Shards);
    }

    /// <summary>The shard to run, or null for the whole run.</summary>
    public ShardSpec? Get(ParseResult parse)
    {
        var text = parse.GetValue(Shard);
        var count = parse.GetValue(Shards);
        if (text is not null && count is not null) throw new InvalidArgumentException("give --shard K/N or --shards N, not both", "--shards", count.ToString());
        if (text is not null) return ShardSpec.Parse(text);
        if (count is { } n) return ShardSpec.FromEnvironment(n);
        return null;
    }
}

static class ComparisonCli
{
    /// <summary>
    /// --base and --post as model specs: NAME=DIR, or DIR (the base is named "base", the others after their folders);
    /// --template NAME sets every post-trained model's chat template, MODEL=NAME one model's (the base's too).
    /// </summary>
    public static IReadOnlyList<ModelSpec> Models(string baseDir, IEnumerable<string>? posts, IEnumerable<string>? templates = null)
    {
        var list = new List<ModelSpec> { ModelSpec.Parse(baseDir, "base") };
        foreach (var p in posts ?? [])
        {
            var folder = Path.GetFileName(Path.GetFullPath(p).TrimEnd(Path.DirectorySeparatorChar));
            list.Add(ModelSpec.Parse(p, folder is { Length: > 0 } f ? f : $"post{list.Count}"));
        }
        foreach (var t in templates ?? [])
        {
            int eq = t.IndexOf('=');
            string name = eq > 0 ? t[(eq + 1)..] : t;
            if (!OnnxInterp.Tokenization.ChatTemplates.Names.Contains(name))
                throw new InvalidArgumentException($"unknown chat template; known: {string.Join(", ", OnnxInterp.Tokenization.ChatTemplates.Names)}", "--template", t);
            if (eq > 0 && list.All(m => m.Name != t[..eq]))
                throw new InvalidArgumentException($"no model is named so; models: {string.Join(", ", list.Select(m => m.Name))}", "--template", t);
            for (int i = 0; i < list.Count; i++)
                if (eq > 0 ? list[i].Name == t[..eq] : i > 0) list[i] = list[i] with { Template = name };
        }
        return list;
    }

    /// <summary>Runs one shard with progress on stderr, then says what it did and how to merge.</summary>
    public static ShardOutcome RunShard(CliContext ctx, string outputDirectory, Func<IProgress<ComparisonProgress>, Action<string>, ShardOutcome> run)
    {
        var printer = new ProgressPrinter(ctx.Err);
        try
        {
            var outcome = run(printer, line => printer.Log(line));
            printer.Done();
            ctx.Out.WriteLine($"shard {outcome.Shard}: {outcome.Steps} of {outcome.PlanSteps} steps journaled in {outcome.OutputDirectory} " +
                $"({outcome.Ran} run, {outcome.Resumed} resumed); when every shard has finished: onnxinterp merge SHARD_DIR... --out REPORT_DIR");
            return outcome;
        }
        catch (OperationCanceledException)
        {
            printer.Done();
            ctx.Err.WriteLine($"finished steps are kept in {Path.GetFullPath(outputDirectory)}; run the same command again to resume");
            throw;
        }
    }

    /// <summary>
    /// Runs a comparison over the verbs' analyses (<see cref="CliContext.Registry"/>) with progress on stderr, then prints
    /// where the report is and its headline numbers.
    /// </summary>
    public static ComparisonOutcome Run(CliContext ctx, ComparisonRequest request, CancellationToken cancellation)
    {
        var printer = new ProgressPrinter(ctx.Err);
        request = request with { Registry = request.Registry ?? ctx.Registry };
        try
        {
            var outcome = ComparisonRunner.Run(request, printer, line => printer.Log(line), cancellation);
            printer.Done();
            ctx.Out.WriteLine($"report written to {Path.Combine(outcome.OutputDirectory, "report.html")} " +
                $"({outcome.Ran} step{(outcome.Ran == 1 ? "" : "s")} run, {outcome.Resumed} resumed from the journal)");
            foreach (var (step, item) in outcome.Summary)
                ctx.Out.WriteLine($"  {item.Label,-50} {step.Part,-14} {ComparisonReport.Number(item.Value)}");
            return outcome;
        }
        catch (OperationCanceledException)
        {
            printer.Done();
            ctx.Err.WriteLine($"finished steps are kept in {Path.Combine(Path.GetFullPath(request.OutputDirectory), ResultsJournal.FolderName)}; run the same command again to resume");
            throw;
        }
    }
}

/// <summary>
/// Progress with an ETA on stderr: one line rewritten in place on a terminal, otherwise a line at each step and at most
/// every 10 seconds (so CI logs stay short).
/// </summary>
sealed class ProgressPrinter(TextWriter err) : IProgress<ComparisonProgress>
{
    readonly bool _live = ReferenceEquals(err, Console.Error) && !Console.IsErrorRedirected;
    readonly Stopwatch _sinceLine = Stopwatch.StartNew();
    string? _lastStep;
    int _width;

    public void Report(ComparisonProgress p)
    {
        var eta = p.TotalEta ?? p.StepEta;
        var text = p.Status switch
        {
            StepStatus.Resumed => $"[{p.Step}/{p.Steps}] {p.Name}: done earlier (journal)",
            StepStatus.Finished => $"[{p.Step}/{p.Steps}] {p.Name}: done in {Format(p.Elapsed)}",
            _ => $"[{p.Step}/{p.Steps}] {p.Name} {p.Fraction * 100,3:F0}% {p.Detail}" + (eta is { } e ? $"  ETA {Format(e)}" : ""),
        };
        if (_live)
        {
            err.Write("\r" + text.PadRight(_width));
            _width = text.Length;
            if (p.Status != StepStatus.Running) { err.WriteLine(); _width = 0; }
            return;
        }
        bool newStep = p.Name != _lastStep;
        if (p.Status != StepStatus.Running || newStep || _sinceLine.Elapsed.TotalSeconds >= 10)
        {
            err.WriteLine(text);
            _sinceLine.Restart();
        }
        _lastStep = p.Name;
    }

    public void Log(string line)
    {
        if (_live && _width > 0) { err.WriteLine(); _width = 0; }
        err.WriteLine(line);
    }

    public void Done()
    {
        if (_live && _width > 0) err.WriteLine();
        _width = 0;
    }

    static string Format(TimeSpan t) => t.TotalHours >= 1 ? $"{(int)t.TotalHours}h{t.Minutes:D2}m" : t.TotalMinutes >= 1 ? $"{(int)t.TotalMinutes}m{t.Seconds:D2}s" : $"{t.TotalSeconds:F0}s";
}
