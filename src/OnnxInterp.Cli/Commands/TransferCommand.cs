using System.CommandLine;
using OnnxInterp.Comparison;

namespace OnnxInterp.Cli.Commands;

static class TransferCommand
{
    public static Command Create(CliContext ctx)
    {
        var baseDir = new Option<string>("--base") { Description = "The base model (checkpoint or exported folder; NAME=DIR names it).", Required = true };
        var post = new Option<string[]>("--post") { Description = "Post-trained model(s); repeat for several.", Required = true };
        var output = new Option<string>("--out", "-o") { Description = "Report folder (report.md, report.html, results.json with the \"knowledge\" section, figures/).", Required = true };
        var maxPairs = new Option<int?>("--max-pairs") { Description = "Patch at most this many pairs per dataset (default 50)." };
        var metric = new Option<string?>("--metric") { Description = "logit-diff (the paper's), prob-diff or kl." };
        metric.AcceptOnlyFromAmong("logit-diff", "prob-diff", "kl");
        var shared = new ComparisonOptions(only: false);
        var cmd = new Command("transfer", """
            Knowledge representation alone: patch the base model's residual states into each post-trained model and back
            (cross-model transfer), next to each model's own causal tracing, and compare the matrices (the paper's Table 1).
            Writes the "knowledge" section of results.json, report.md/html and figures; resumes like `compare`.

            Examples:
              onnxinterp transfer --base models/base --post models/instruct --out ./transfer
              onnxinterp transfer --base ./llama8b --post ./llama8b-it --datasets ../datasets/cities.csv --max-pairs 20 --out ./t
            """)
        { baseDir, post, output, maxPairs, metric };
        shared.AddTo(cmd);
        cmd.SetAction(parse => ctx.Guard(parse, cancellation =>
        {
            var config = shared.Build(parse) with { Analyses = ["knowledge"] };
            config = config.Set("knowledge.transfer=true");
            if (parse.GetValue(maxPairs) is { } n) config = config.Set($"knowledge.maxPairs={n}");
            if (parse.GetValue(metric) is { } m)
                config = config.Set($"knowledge.metric={(m switch { "prob-diff" => "ProbDiff", "kl" => "KL", _ => "LogitDiff" })}");
            var request = new ComparisonRequest
            {
                Models = ComparisonCli.Models(parse.GetValue(baseDir)!, parse.GetValue(post), parse.GetValue(shared.Template)),
                OutputDirectory = parse.GetValue(output)!,
                Config = config,
                CacheDirectory = parse.GetValue(shared.CacheDir),
                Title = "OnnxInterp cross-model transfer",
            };
            ComparisonCli.Run(ctx, request, cancellation);
            return ExitCodes.Ok;
        }));
        return cmd;
    }
}
