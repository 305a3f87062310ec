using System.CommandLine;
using OnnxInterp.Comparison;

namespace OnnxInterp.Cli.Commands;

static class DemoCommand
{
    public static Command Create(CliContext ctx)
    {
        var output = new Option<string>("--out", "-o") { Description = "Report folder.", DefaultValueFactory = _ => "onnxinterp-demo" };
        var models = new Option<string?>("--models") { Description = $"The family folder (base/, sft/, instruct/); default: ${DemoComparison.FamilyVariable}, else ./models or the repository's models/." };
        var shared = new ComparisonOptions(ctx.Registry);
        var cmd = new Command("demo", """
            The whole comparison on the shipped tiny model family (base, sft, instruct: Llama, 6 layers of 160), end to end:
            exports the three checkpoints (cached), runs every analysis with the demo's settings (under 5 minutes on 2 cores)
            and writes the report. Open ./onnxinterp-demo/report.html afterwards. Rerunning resumes.

            Examples:
              onnxinterp demo
              onnxinterp demo --out /tmp/demo --set knowledge.maxPairs=40
            """)
        { output, models };
        shared.AddTo(cmd);
        cmd.SetAction(parse => ctx.Guard(parse, cancellation =>
        {
            var root = DemoComparison.FindFamily(parse.GetValue(models));
            var request = new ComparisonRequest
            {
                Models = DemoComparison.Models(root),
                OutputDirectory = parse.GetValue(output)!,
                Config = shared.Build(parse, DemoComparison.ConfigFor(parse.GetValue(shared.Preset) ?? "default")),
                CacheDirectory = parse.GetValue(shared.CacheDir),
                Title = "OnnxInterp demo: the tiny family (base, sft, instruct)",
            };
            ctx.Err.WriteLine($"demo on the family in {root}");
            ComparisonCli.Run(ctx, request, cancellation);
            return ExitCodes.Ok;
        }));
        return cmd;
    }
}
