using System.CommandLine;
using OnnxInterp.Comparison;

namespace OnnxInterp.Cli.Commands;

static class CompareCommand
{
    public static Command Create(CliContext ctx)
    {
        var baseDir = new Option<string>("--base") { Description = "The base model: a Hugging Face checkpoint folder (exported on demand, cached) or an exported folder; NAME=DIR names it.", Required = true };
        var post = new Option<string[]>("--post") { Description = "A post-trained model (same kinds of folder; NAME=DIR names it); repeat for several.", Required = true };
        var output = new Option<string>("--out", "-o") { Description = "Report folder: report.md, report.html, results.json, figures/, data/ (and .journal/, which a rerun resumes from).", Required = true };
        var shared = new ComparisonOptions(ctx.Registry);
        var shards = new ShardOptions();
        var onRequest = ctx.Registry.Where(s => !s.RunsByDefault).Select(s => s.Name).ToList();
        string analyses = string.Join(", ", ctx.Registry.Where(s => s.RunsByDefault).Select(s => s.Name)) +
            (onRequest.Count > 0 ? $"; {string.Join(", ", onRequest)} only with --only" : "");
        var cmd = new Command("compare", $"""
            Compare a base model with its post-trained versions: run the analyses ({analyses}) and
            write REPORT_DIR/report.md, report.html (self-contained), results.json (every number, the config, versions, model
            hashes; see docs/results-schema.md) and figures/*.png. Finished steps are journaled: after Ctrl-C or a crash, the
            same command resumes where it stopped. Settings: defaults, then --config FILE, then options and --set.

            Examples:
              onnxinterp compare --base ./Llama-3.1-8B --post ./Llama-3.1-8B-Instruct --datasets ../datasets/cities.csv --out ./report
              onnxinterp compare --base models/base --post models/sft --post models/instruct --out ./report --set knowledge.maxPairs=20
              onnxinterp compare --base base=./ckpt-0 --post it=./ckpt-it --config compare.json --provider cuda --out ./report
              onnxinterp compare --base models/base --post models/instruct --shard 0/2 --out ./shard-0   # then 1/2, then merge
            """)
        { baseDir, post, output };
        shared.AddTo(cmd);
        shards.AddTo(cmd);
        cmd.SetAction(parse => ctx.Guard(parse, cancellation =>
        {
            var request = new ComparisonRequest
            {
                Models = ComparisonCli.Models(parse.GetValue(baseDir)!, parse.GetValue(post), parse.GetValue(shared.Template)),
                OutputDirectory = parse.GetValue(output)!,
                Config = shared.Build(parse),
                CacheDirectory = parse.GetValue(shared.CacheDir),
            };
            if (shards.Get(parse) is { } shard)
                ComparisonCli.RunShard(ctx, request.OutputDirectory, (progress, log) =>
                    ComparisonRunner.RunShard(request with { Registry = ctx.Registry }, shard, progress, log, cancellation));
            else
                ComparisonCli.Run(ctx, request, cancellation);
            return ExitCodes.Ok;
        }));
        return cmd;
    }
}
