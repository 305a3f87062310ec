using System.CommandLine;
using OnnxInterp.Comparison;

namespace OnnxInterp.Cli.Commands;

static class DemoCommand
{
    public static Command Create(CliContext ctx)
    {
        var output = new Option<string?>("--out", "-o") { Description = "Report folder (default onnxinterp-demo, with --sweep onnxinterp-demo-sweep)." };
        var sweep = new Option<bool>("--sweep") { Description = "The sweep instead: sft and instruct as checkpoints against the base (`onnxinterp sweep`), with the demo's settings." };
        var models = new Option<string?>("--models") { Description = $"The family folder (base/, sft/, instruct/); default: ${DemoComparison.FamilyVariable}, else ./models or the repository's models/." };
        var shared = new ComparisonOptions(ctx.Registry);
        var shards = new ShardOptions();
        var cmd = new Command("demo", """
            The whole comparison on the shipped tiny model family (base, sft, instruct: Llama, 6 layers of 160), end to end:
            exports the three checkpoints (cached), runs every analysis with the demo's settings (under 5 minutes on 2 cores)
            and writes the report. Open ./onnxinterp-demo/report.html afterwards. Rerunning resumes.

            Examples:
              onnxinterp demo
              onnxinterp demo --out /tmp/demo --set knowledge.maxPairs=40
              onnxinterp demo --sweep --shard 0/2 --out shard-0 && onnxinterp demo --sweep --shard 1/2 --out shard-1 && onnxinterp merge shard-0 shard-1 --out sweep
            """)
        { output, models, sweep };
        shared.AddTo(cmd);
        shards.AddTo(cmd);
        cmd.SetAction(parse => ctx.Guard(parse, cancellation =>
        {
            var root = DemoComparison.FindFamily(parse.GetValue(models));
            var config = shared.Build(parse, DemoComparison.ConfigFor(parse.GetValue(shared.Preset) ?? "default"));
            var shard = shards.Get(parse);
            ctx.Err.WriteLine($"demo on the family in {root}");
            if (parse.GetValue(sweep))
            {
                var family = DemoComparison.Models(root);
                SweepCommand.Run(ctx, new SweepRequest
                {
                    Base = family[0],
                    Checkpoints = family.Skip(1).ToList(),
                    OutputDirectory = parse.GetValue(output) ?? "onnxinterp-demo-sweep",
                    Config = config,
                    CacheDirectory = parse.GetValue(shared.CacheDir),
                    Registry = ctx.Registry,
                    Title = "OnnxInterp demo sweep: the tiny family's sft and instruct against its base",
                }, shard, cancellation);
                return ExitCodes.Ok;
            }
            var request = new ComparisonRequest
            {
                Models = DemoComparison.Models(root),
                OutputDirectory = parse.GetValue(output) ?? "onnxinterp-demo",
                Config = config,
                CacheDirectory = parse.GetValue(shared.CacheDir),
                Title = "OnnxInterp demo: the tiny family (base, sft, instruct)",
            };
            if (shard is { } s)
                ComparisonCli.RunShard(ctx, request.OutputDirectory, (progress, log) =>
                    ComparisonRunner.RunShard(request with { Registry = ctx.Registry }, s, progress, log, cancellation));
            else
                ComparisonCli.Run(ctx, request, cancellation);
            return ExitCodes.Ok;
        }));
        return cmd;
    }
}
