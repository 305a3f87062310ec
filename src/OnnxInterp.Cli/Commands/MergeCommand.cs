using System.CommandLine;
using OnnxInterp.Comparison;

namespace OnnxInterp.Cli.Commands;

static class MergeCommand
{
    public static Command Create(CliContext ctx)
    {
        var shards = new Argument<string[]>("shard-dir")
        {
            Description = "The shards' folders (each with shard.json), or a folder holding them (an Indexed Job's shared output).",
            Arity = ArgumentArity.OneOrMore,
        };
        var output = new Option<string>("--out", "-o") { Description = "Report folder: what the unsharded `compare` or `sweep` writes, its results.json byte for byte.", Required = true };
        var cmd = new Command("merge", """
            Join the shards of a `compare --shard` or `sweep --shard` run into its report: every shard's journal is copied
            into REPORT_DIR/.journal and the report written from it, as the unsharded run writes it. Refuses, naming the
            shard, one that is missing, given twice, unfinished, or of another run (configuration, datasets, model hashes).
            Reads no model and no dataset.

            Examples:
              onnxinterp merge shard-0 shard-1 shard-2 --out report
              onnxinterp merge /results/shards --out /results/report
            """)
        { shards, output };
        cmd.SetAction(parse => ctx.Guard(parse, cancellation =>
        {
            var outcome = ShardMerge.Merge(parse.GetValue(shards)!, parse.GetValue(output)!, ctx.Registry, line => ctx.Err.WriteLine(line), cancellation);
            ctx.Out.WriteLine($"report written to {Path.Combine(outcome.OutputDirectory, "report.html")} ({outcome.Kind}: {outcome.Shards} " +
                $"shard{(outcome.Shards == 1 ? "" : "s")}, {outcome.Steps} steps" +
                (outcome.Combined > 0 ? $"; {outcome.Combined} part{(outcome.Combined == 1 ? "" : "s")} put together from pieces" : "") + ")");
            if (outcome.Kind == "sweep") SweepCommand.PrintTrajectory(ctx, outcome.Results);
            return ExitCodes.Ok;
        }));
        return cmd;
    }
}
