using System.CommandLine;
using System.Text.Json.Nodes;
using OnnxInterp.Comparison;

namespace OnnxInterp.Cli.Commands;

static class AuditCommand
{
    public static Command Create(CliContext ctx)
    {
        var policy = new Option<string>("--policy") { Description = "The policy: JSON rules over results.json (see docs/results-schema.md, \"Audit policies\").", Required = true };
        var results = new Option<string?>("--results") { Description = "Check an existing results.json instead of running the comparison." };
        var baseDir = new Option<string?>("--base") { Description = "The base model (checkpoint or exported folder; NAME=DIR names it)." };
        var post = new Option<string[]>("--post") { Description = "Post-trained model(s); repeat for several." };
        var output = new Option<string>("--out", "-o") { Description = "Report folder of the comparison the audit runs (resumable).", DefaultValueFactory = _ => "onnxinterp-audit" };
        var summary = new Option<string?>("--summary-json") { Description = "Write the verdict as JSON for CI (schema onnxinterp-audit/1)." };
        var shared = new ComparisonOptions(ctx.Registry);
        var cmd = new Command("audit", """
            Check a post-trained model against a policy, for deployment pipelines: runs the analyses the policy's rules read
            (or reads --results), checks every rule's bounds, prints PASS/FAIL per rule with the reason, and exits 4 when a rule
            fails (0 when all pass). --summary-json writes the verdict for CI.

            Policy (JSON):
              { "config": { "datasets": ["synthetic:cities"] },
                "rules": [ { "metric": "knowledge.cities.comparisons[a=base,b=instruct].corr", "min": 0.8,
                             "description": "the knowledge map survives post-training" } ] }

            Examples:
              onnxinterp audit --base models/base --post instruct=models/instruct --policy policy.json --summary-json audit.json
              onnxinterp audit --results ./report/results.json --policy policy.json
            """)
        { policy, results, baseDir, post, output, summary };
        shared.AddTo(cmd);
        cmd.SetAction(parse => ctx.Guard(parse, cancellation =>
        {
            var policyPath = parse.GetValue(policy)!;
            var p = AuditPolicy.Load(policyPath);
            // Every rule against the analyses' section records first: a misspelt field fails here, not after the run.
            p.Check(ctx.Registry, policyPath);
            string resultsPath;
            if (parse.GetValue(results) is { } given)
            {
                if (parse.GetValue(baseDir) is not null)
                    throw new InvalidArgumentException("give either --results or --base/--post, not both", "--results", given);
                resultsPath = given;
            }
            else
            {
                var b = parse.GetValue(baseDir) ?? throw new InvalidArgumentException("give --base and --post (to run the comparison) or --results", "--base", null);
                var config = shared.Build(parse, layer: p.Config);
                var analyses = p.Analyses.Where(a => ctx.Registry.Any(s => s.Name == a)).ToList();
                if (config.Analyses is null && analyses.Count > 0) config = config with { Analyses = analyses };
                var request = new ComparisonRequest
                {
                    Models = ComparisonCli.Models(b, parse.GetValue(post), parse.GetValue(shared.Template)),
                    OutputDirectory = parse.GetValue(output)!,
                    Config = config,
                    CacheDirectory = parse.GetValue(shared.CacheDir),
                    Title = "OnnxInterp audit",
                };
                var outcome = ComparisonCli.Run(ctx, request, cancellation);
                resultsPath = Path.Combine(outcome.OutputDirectory, "results.json");
            }

            if (!File.Exists(resultsPath)) throw new InvalidArgumentException("results file does not exist", "--results", resultsPath);
            JsonNode? node;
            try { node = JsonNode.Parse(File.ReadAllText(resultsPath)); }
            catch (System.Text.Json.JsonException e) { throw new InvalidFileException($"results are not valid JSON: {e.Message}", resultsPath, null, null, e); }
            var verdict = p.Evaluate(node!);
            foreach (var r in verdict.Rules)
                (r.Passed ? ctx.Out : ctx.Err).WriteLine($"{(r.Passed ? "PASS" : "FAIL")} {r.Rule.Metric}: {r.Reason}");
            if (parse.GetValue(summary) is { } s)
                verdict.WriteSummary(s, Path.GetFullPath(resultsPath), Path.GetFullPath(policyPath));
            int failed = verdict.Rules.Count(r => !r.Passed);
            if (failed > 0)
            {
                ctx.Err.WriteLine($"audit failed: {failed} of {verdict.Rules.Count} rule{(verdict.Rules.Count == 1 ? "" : "s")} violated");
                return ExitCodes.PolicyViolated;
            }
            ctx.Out.WriteLine($"audit passed: {verdict.Rules.Count} rule{(verdict.Rules.Count == 1 ? "" : "s")}");
            return ExitCodes.Ok;
        }));
        return cmd;
    }
}
