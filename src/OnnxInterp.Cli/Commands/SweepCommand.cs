using System.CommandLine;
using OnnxInterp.Comparison;

namespace OnnxInterp.Cli.Commands;

static class SweepCommand
{
    public static Command Create(CliContext ctx)
    {
        var baseDir = new Option<string>("--base") { Description = "The base model (a checkpoint or an exported folder; NAME=DIR names it).", Required = true };
        var post = new Option<string[]>("--post")
        {
            Description = "Checkpoints to compare with the base: folders, NAME=DIR, or a pattern over a run's checkpoints (\"run/checkpoint-*\"); " +
                "ordered by training step (trainer_state.json's global_step, else the number in the folder's name) when every one has one.",
            Required = true,
            AllowMultipleArgumentsPerToken = true,
        };
        var output = new Option<string>("--out", "-o") { Description = "Sweep folder: results.json (the trajectory), report.md, report.html, figures/trajectory.png, checkpoints/NAME/ (each comparison's report).", Required = true };
        var shared = new ComparisonOptions(ctx.Registry);
        var shards = new ShardOptions();
        var cmd = new Command("sweep", """
            Compare every checkpoint of a post-training run with the base: one comparison per checkpoint (checkpoints/NAME/, as
            `compare` writes it), then the headline numbers of each against the training step: results.json (schema
            onnxinterp-sweep/1) and figures/trajectory.png (knowledge Corr, the directions' cosines, refusal, calibration).
            Resumable, and sharded as `compare` is (--shard K/N or --shards N, then `onnxinterp merge`).

            Examples:
              onnxinterp sweep --base ./Llama-3.1-8B --post "./tulu-sft/checkpoint-*" --datasets cities.csv --provider cuda --out ./sweep
              onnxinterp sweep --base models/base --post models/sft --post models/instruct --out ./sweep --set knowledge.maxPairs=16
              onnxinterp sweep --base ./base --post "./run/checkpoint-*" --shards 8 --out /results/shards/$(JOB_COMPLETION_INDEX)
            """)
        { baseDir, post, output };
        shared.AddTo(cmd);
        shards.AddTo(cmd);
        cmd.SetAction(parse => ctx.Guard(parse, cancellation =>
        {
            var models = ComparisonCli.Models(parse.GetValue(baseDir)!, SweepRunner.Expand(parse.GetValue(post) ?? []), parse.GetValue(shared.Template));
            var request = new SweepRequest
            {
                Base = models[0],
                Checkpoints = models.Skip(1).ToList(),
                OutputDirectory = parse.GetValue(output)!,
                Config = shared.Build(parse),
                CacheDirectory = parse.GetValue(shared.CacheDir),
                Registry = ctx.Registry,
            };
            Run(ctx, request, shards.Get(parse), cancellation);
            return ExitCodes.Ok;
        }));
        return cmd;
    }

    /// <summary>The sweep (or one shard of it) with progress on stderr, then the trajectory's numbers.</summary>
    public static void Run(CliContext ctx, SweepRequest request, ShardSpec? shard, CancellationToken cancellation)
    {
        if (shard is { } s)
        {
            ComparisonCli.RunShard(ctx, request.OutputDirectory, (progress, log) => SweepRunner.RunShard(request, s, progress, log, cancellation));
            return;
        }
        var printer = new ProgressPrinter(ctx.Err);
        try
        {
            var outcome = SweepRunner.Run(request, printer, line => printer.Log(line), cancellation);
            printer.Done();
            ctx.Out.WriteLine($"sweep written to {Path.Combine(outcome.OutputDirectory, "report.html")} ({outcome.Comparisons.Count} checkpoints; " +
                $"{outcome.Ran} step{(outcome.Ran == 1 ? "" : "s")} run, {outcome.Resumed} resumed from the journals)");
            PrintTrajectory(ctx, outcome.Results);
        }
        catch (OperationCanceledException)
        {
            printer.Done();
            ctx.Err.WriteLine($"finished steps are kept in {Path.GetFullPath(request.OutputDirectory)}; run the same command again to resume");
            throw;
        }
    }

    public static void PrintTrajectory(CliContext ctx, System.Text.Json.Nodes.JsonObject results)
    {
        var names = results["checkpoints"]!.AsArray().Select(c => c!["name"]!.GetValue<string>()).ToList();
        ctx.Out.WriteLine($"  {"",-50} {"",-14} {string.Join(" ", names.Select(n => $"{n,10}"))}");
        foreach (var series in results["series"]!.AsArray().Where(x => x!["panel"] is not null))
            ctx.Out.WriteLine($"  {series!["label"]!.GetValue<string>(),-50} {series["part"]!.GetValue<string>(),-14} " +
                string.Join(" ", series["values"]!.AsArray().Select(v => $"{(v is null ? "–" : ComparisonReport.Number(v.GetValue<double>())),10}")));
    }
}
