using System.Text.Json.Nodes;
using OnnxInterp.Internals;

namespace OnnxInterp.Comparison;

/// <summary>
/// The demo: the full comparison on the shipped tiny family (models/base, models/sft, models/instruct), with settings
/// sized to finish within 5 minutes on 2 cores.
/// </summary>
public static class DemoComparison
{
    public const string FamilyVariable = "ONNXINTERP_FAMILY";
    public static readonly IReadOnlyList<string> Members = ["base", "sft", "instruct"];

    /// <summary>The demo's settings: the datasets the family learned, fewer pairs than a full comparison.</summary>
    public static ComparisonConfig Config => new()
    {
        Datasets = ["synthetic:cities", "synthetic:animal_class", "synthetic:element_symb"],
        WorldSeed = 1,
        AnalysisOptions = new Dictionary<string, JsonObject>
        {
            ["knowledge"] = new() { ["maxPairs"] = 16 },
            // Arditi et al.'s selection prunes the last 20% of the layers and, on 6 layers, settles on early ones whose
            // ablation barely moves refusal; the family decides refusal in its last block: take its input, last token.
            ["refusal"] = new() { ["layer"] = -1, ["position"] = -1 },
            ["entropy"] = new() { ["maxStatements"] = 100 },
            // The family's base holds no truth at the bare statement's end (its probes are at chance there): read truth
            // where the judgement is asked for, on the first 120 statements per dataset, intervening on 40 per class.
            ["truth"] = new() { ["reading"] = "Judgement", ["maxStatementsPerDataset"] = 120, ["maxInterventionStatements"] = 40 },
        },
    };

    /// <summary>
    /// The demo's settings under a preset: <see cref="Config"/> for the default one; under the paper's, only its datasets
    /// and sizes, since the paper fixes what the demo sets for the family (the refusal direction's place, the bare
    /// statement's reading of truth).
    /// </summary>
    public static ComparisonConfig ConfigFor(string preset) => preset == "paper"
        ? Config with
        {
            AnalysisOptions = new Dictionary<string, JsonObject>
            {
                ["knowledge"] = new() { ["maxPairs"] = 16 },
                ["truth"] = new() { ["maxStatementsPerDataset"] = 120, ["maxInterventionStatements"] = 40 },
            },
        }
        : Config;

    public static IReadOnlyList<ModelSpec> Models(string familyRoot) =>
        Members.Select(m => new ModelSpec(m, Path.Combine(familyRoot, m))).ToList();

    /// <summary>
    /// The family folder: <paramref name="explicitRoot"/>, else ONNXINTERP_FAMILY, else models/ in the current folder or
    /// above the tool's own folder (a clone of the repository). Throws a clear error when the family is not there.
    /// </summary>
    public static string FindFamily(string? explicitRoot)
    {
        if (explicitRoot is not null)
        {
            if (!IsFamily(explicitRoot)) Throw.Argument("no model family here: expected base/, sft/ and instruct/ checkpoint folders", "--models", explicitRoot);
            return Path.GetFullPath(explicitRoot);
        }
        var candidates = new List<string>();
        if (Environment.GetEnvironmentVariable(FamilyVariable) is { Length: > 0 } env) candidates.Add(env);
        candidates.Add(Path.Combine(Environment.CurrentDirectory, "models"));
        for (var dir = AppContext.BaseDirectory; dir is not null; dir = Path.GetDirectoryName(dir.TrimEnd(Path.DirectorySeparatorChar)))
            candidates.Add(Path.Combine(dir, "models"));
        foreach (var c in candidates)
            if (IsFamily(c)) return Path.GetFullPath(c);
        throw new InvalidArgumentException(
            "the tiny model family is not shipped in this build: models/base, models/sft and models/instruct are missing. " +
            "Train it with `dotnet run -c Release --project tools/OnnxInterp.Trainer -- family models 1` (about 25 minutes on 2 cores; see models/README.md), " +
            $"or point --models or {FamilyVariable} at a trained family", "models", Path.Combine(Environment.CurrentDirectory, "models"));
    }

    static bool IsFamily(string dir) => Members.All(m => File.Exists(Path.Combine(dir, m, "config.json")));
}
