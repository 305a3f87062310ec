using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using OnnxInterp.Analysis;
using OnnxInterp.Internals;
using OnnxInterp.Reports;

namespace OnnxInterp.Comparison;

/// <summary>A threshold on every value a metric path reaches in results.json: min ≤ value ≤ max (either bound may be absent, not both).</summary>
public sealed record AuditRule(MetricPath Metric, double? Min, double? Max, string? Description);

/// <summary>One value a rule checked.</summary>
public sealed record AuditValue(string Path, double? Value, bool Passed);

public sealed record AuditRuleResult(AuditRule Rule, bool Passed, string Reason, IReadOnlyList<AuditValue> Values);

public sealed record AuditOutcome(bool Passed, IReadOnlyList<AuditRuleResult> Rules)
{
    public const string Schema = "onnxinterp-audit/1";

    /// <summary>Writes <see cref="ToJson"/> atomically.</summary>
    public void WriteSummary(string path, string? resultsPath, string? policyPath) =>
        AtomicFile.WriteAllText(path, ToJson(resultsPath, policyPath).ToJsonString(ResultsJson.Strict) + "\n");

    /// <summary>The summary for CI systems (documented in docs/results-schema.md).</summary>
    public JsonObject ToJson(string? resultsPath, string? policyPath) => new()
    {
        ["schema"] = Schema,
        ["passed"] = Passed,
        ["failed"] = Rules.Count(r => !r.Passed),
        ["results"] = resultsPath,
        ["policy"] = policyPath,
        ["rules"] = new JsonArray(Rules.Select(r => (JsonNode)new JsonObject
        {
            ["metric"] = r.Rule.Metric.Text,
            ["min"] = r.Rule.Min,
            ["max"] = r.Rule.Max,
            ["description"] = r.Rule.Description,
            ["passed"] = r.Passed,
            ["reason"] = r.Reason,
            ["values"] = new JsonArray(r.Values.Select(v => (JsonNode)new JsonObject { ["path"] = v.Path, ["value"] = v.Value, ["passed"] = v.Passed }).ToArray()),
        }).ToArray()),
    };
}

/// <summary>
/// A deployment policy: rules over results.json, and optionally the comparison config the audit runs with.
/// <code>
/// { "config": { "datasets": ["synthetic:cities"], "knowledge": { "maxPairs": 20 } },
///   "rules": [ { "metric": "knowledge.cities.comparisons[a=base,b=instruct].corr", "min": 0.8, "description": "knowledge map kept" } ] }
/// </code>
/// A rule fails when its path reaches no value, a value that is not a finite number, or a number outside its bounds.
/// </summary>
public sealed record AuditPolicy(IReadOnlyList<AuditRule> Rules, JsonObject? Config)
{
    /// <summary>The analyses the rules read (their paths' first keys), so an audit runs only those.</summary>
    public IReadOnlyList<string> Analyses => Rules.Select(r => r.Metric.Root).OfType<string>().Distinct().ToList();

    public static AuditPolicy Load(string path)
    {
        if (!File.Exists(path)) Throw.Argument("policy file does not exist", "--policy", path);
        JsonNode? node;
        try
        {
            node = JsonNode.Parse(File.ReadAllText(path), documentOptions: new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
        }
        catch (JsonException e)
        {
            return Throw.InvalidFile<AuditPolicy>($"policy is not valid JSON: {e.Message}", path, inner: e);
        }
        return Parse(node, path);
    }

    public static AuditPolicy Parse(JsonNode? node, string? file = null)
    {
        if (node is not JsonObject root) return Throw.InvalidFile<AuditPolicy>("a policy is a JSON object with a \"rules\" array", file);
        foreach (var (k, _) in root)
            if (k is not ("rules" or "config" or "$schema" or "description"))
                Throw.InvalidFile("unknown key in the policy; known: rules, config, description", file, k);
        if (root["rules"] is not JsonArray rules || rules.Count == 0)
            return Throw.InvalidFile<AuditPolicy>("the policy needs a non-empty \"rules\" array", file, "rules");
        var list = new List<AuditRule>();
        for (int i = 0; i < rules.Count; i++)
        {
            string at = $"rules[{i}]";
            if (rules[i] is not JsonObject r) return Throw.InvalidFile<AuditPolicy>("a rule is an object: {\"metric\": PATH, \"min\": x, \"max\": y}", file, at);
            foreach (var (k, _) in r)
                if (k is not ("metric" or "min" or "max" or "description"))
                    Throw.InvalidFile("unknown key in a rule; known: metric, min, max, description", file, $"{at}.{k}");
            if (r["metric"] is not JsonValue mv || mv.GetValueKind() != JsonValueKind.String)
                return Throw.InvalidFile<AuditPolicy>("a rule needs \"metric\": a path into results.json", file, $"{at}.metric");
            MetricPath metric;
            try { metric = MetricPath.Parse(mv.GetValue<string>()); }
            catch (InvalidArgumentException e) { return Throw.InvalidFile<AuditPolicy>($"bad metric path: {e.Message}", file, $"{at}.metric"); }
            double? min = Bound(r, "min", file, at), max = Bound(r, "max", file, at);
            if (min is null && max is null) Throw.InvalidFile("a rule needs \"min\", \"max\" or both", file, at);
            if (min > max) Throw.InvalidFile("\"min\" is above \"max\"", file, at, $"{min} > {max}");
            string? description = r["description"] is JsonValue dv && dv.GetValueKind() == JsonValueKind.String ? dv.GetValue<string>() : null;
            list.Add(new AuditRule(metric, min, max, description));
        }
        if (root["config"] is { } c && c is not JsonObject) Throw.InvalidFile("\"config\" must be an object in the config file's shape", file, "config");
        return new AuditPolicy(list, root["config"] as JsonObject);
    }

    static double? Bound(JsonObject r, string name, string? file, string at)
    {
        if (!r.TryGetPropertyValue(name, out var n) || n is null) return null;
        if (n is JsonValue v && v.GetValueKind() == JsonValueKind.Number) return v.GetValue<double>();
        return Throw.InvalidFile<double?>($"\"{name}\" must be a number", file, $"{at}.{name}", n.ToJsonString());
    }

    /// <summary>
    /// Checks the rules against the analyses' section records before anything runs: each rule's analysis is one of
    /// <paramref name="registry"/> and its path can reach a number of that analysis's section (<see cref="MetricPath.Check"/>).
    /// Throws naming the rule.
    /// </summary>
    public void Check(IReadOnlyList<IAnalysisStep> registry, string? file = null)
    {
        for (int i = 0; i < Rules.Count; i++)
        {
            var metric = Rules[i].Metric;
            if (metric.Root is not { } root || ComparisonRunner.TopLevelFields.Contains(root)) continue; // any analysis, or not an analysis's
            var step = registry.FirstOrDefault(s => s.Name == root);
            if (step is null)
                Throw.InvalidFile($"a rule reads an analysis that does not exist; known: {string.Join(", ", registry.Select(s => s.Name))}", file, $"rules[{i}].metric", metric.Text);
            else if (metric.Check(step.SectionType, step.PerDataset, ResultsJson.Strict) is { } why)
                Throw.InvalidFile($"the metric is not a number of the {root} section: {why}", file, $"rules[{i}].metric", metric.Text);
        }
    }

    public AuditOutcome Evaluate(JsonNode results)
    {
        var outcomes = new List<AuditRuleResult>();
        foreach (var rule in Rules)
        {
            var found = rule.Metric.Resolve(results, out var missing);
            if (found.Count == 0)
            {
                outcomes.Add(new AuditRuleResult(rule, false, $"{rule.Metric} was not found in the results: {missing}", []));
                continue;
            }
            var values = new List<AuditValue>();
            string? reason = null;
            foreach (var (path, node) in found)
            {
                double? x = node is JsonValue v && v.GetValueKind() == JsonValueKind.Number ? v.GetValue<double>() : null;
                bool ok = x is double d && double.IsFinite(d) && (rule.Min is null || d >= rule.Min) && (rule.Max is null || d <= rule.Max);
                values.Add(new AuditValue(path, x, ok));
                if (ok || reason is not null) continue;
                reason = x switch
                {
                    null => $"{path} is {(node is null ? "null" : node.ToJsonString())}, not a number",
                    double y when !double.IsFinite(y) => $"{path} is {y.ToString(CultureInfo.InvariantCulture)}",
                    double y when y < rule.Min => $"{path} = {Fmt(y)} is below the minimum {Fmt(rule.Min!.Value)}",
                    double y => $"{path} = {Fmt(y)} is above the maximum {Fmt(rule.Max!.Value)}",
                };
            }
            bool passed = reason is null;
            if (passed) reason = string.Join("; ", values.Select(v => $"{v.Path} = {Fmt(v.Value!.Value)}")) + $" within {Range(rule)}";
            else if (rule.Description is { } desc) reason += $" ({desc})";
            outcomes.Add(new AuditRuleResult(rule, passed, reason!, values));
        }
        return new AuditOutcome(outcomes.All(o => o.Passed), outcomes);
    }

    static string Range(AuditRule r) => (r.Min, r.Max) switch
    {
        ({ } lo, { } hi) => $"[{Fmt(lo)}, {Fmt(hi)}]",
        ({ } lo, null) => $"≥ {Fmt(lo)}",
        (null, { } hi) => $"≤ {Fmt(hi)}",
        _ => "",
    };

    static string Fmt(double d) => d.ToString("0.####", CultureInfo.InvariantCulture);
}
