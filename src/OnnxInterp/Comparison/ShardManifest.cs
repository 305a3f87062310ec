using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using OnnxInterp.Internals;
using OnnxInterp.Reports;

namespace OnnxInterp.Comparison;

/// <summary>
/// A shard folder's shard.json: which shard it is, the whole plan (every step's key and shard, so `merge` can tell a
/// missing, duplicate or foreign shard), and what the report needs besides the journal: the configuration, the
/// resolved models of each comparison, the datasets' fingerprints. Written when the shard starts and again, with
/// <see cref="Complete"/> set, when all its steps are journaled.
/// </summary>
public sealed record ShardManifest
{
    public const string FileName = "shard.json";
    public const string CurrentSchema = "onnxinterp-shard/1";

    public string Schema { get; init; } = CurrentSchema;

    /// <summary>"compare" (one comparison) or "sweep" (one comparison per checkpoint, and the trajectory).</summary>
    public required string Kind { get; init; }

    public required int Shard { get; init; }
    public required int Shards { get; init; }

    /// <summary>The onnxinterp version that ran it (journal keys and results.json carry it).</summary>
    public required string Tool { get; init; }

    /// <summary>SHA-256 over every step's id and key, in plan order: the same for every shard of one run.</summary>
    public required string Plan { get; init; }

    public required string Title { get; init; }

    /// <summary>The run's <see cref="ComparisonConfig"/> as JSON.</summary>
    public required JsonObject Config { get; init; }

    public required IReadOnlyList<ShardComparison> Comparisons { get; init; }

    /// <summary>Every dataset file the steps read, with its fingerprint (<see cref="ComparisonSession.DatasetFingerprint"/>).</summary>
    public required IReadOnlyList<ShardInput> Inputs { get; init; }

    /// <summary>Every step of the run (not only this shard's), in plan order, with the shard that runs it.</summary>
    public required IReadOnlyList<ShardStep> Steps { get; init; }

    /// <summary>Set once every step of this shard is journaled.</summary>
    public bool Complete { get; init; }

    public ComparisonConfig ReadConfig() => Config.Deserialize<ComparisonConfig>(ResultsJson.Strict)!;

    /// <summary>The manifest of shard <paramref name="shard"/> of a planned run (<paramref name="assignment"/>: each step's shard, in plan order).</summary>
    internal static ShardManifest Of(string kind, string title, IReadOnlyList<PlannedComparison> plan, ShardSpec shard, int[] assignment)
    {
        var steps = plan.SelectMany(c => c.Steps).ToList();
        var config = plan[0].Config;
        return new ShardManifest
        {
            Kind = kind,
            Shard = shard.Index,
            Shards = shard.Count,
            Tool = ComparisonRunner.ToolVersion,
            Plan = PlanHash(steps.Select(s => (s.Id, s.Key))),
            Title = title,
            Config = JsonSerializer.SerializeToNode(config, ResultsJson.Strict)!.AsObject(),
            Comparisons = plan.Select(c => new ShardComparison(c.Id, c.Folder, c.Title, c.Models, c.TrainingStep)).ToList(),
            Inputs = plan.SelectMany(ComparisonPlanner.Inputs).Distinct().Select(i => new ShardInput(i.Spec, i.Fingerprint)).ToList(),
            Steps = steps.Select((s, i) => new ShardStep(s.Comparison, s.Step.Name, s.Part.Id, s.Key, s.Cost, assignment[i])
            {
                Chunk = s.Part.IsChunk ? s.Part.Chunk : null, Chunks = s.Part.IsChunk ? s.Part.Chunks : null, WholeKey = s.WholeKey,
            }).ToList(),
        };
    }

    public static string PlanHash(IEnumerable<(string Id, string Key)> steps)
    {
        var text = new StringBuilder();
        foreach (var (id, key) in steps) text.Append(id).Append('\t').Append(key).Append('\n');
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text.ToString())));
    }

    internal void Write(string directory) =>
        AtomicFile.WriteAllText(Path.Combine(directory, FileName), JsonSerializer.Serialize(this, ResultsJson.Strict) + "\n");

    /// <summary>The manifest in <paramref name="directory"/>, or null when there is none.</summary>
    public static ShardManifest? TryRead(string directory)
    {
        var path = Path.Combine(directory, FileName);
        if (!File.Exists(path)) return null;
        try
        {
            var m = JsonSerializer.Deserialize<ShardManifest>(File.ReadAllText(path), ResultsJson.Strict);
            if (m is null) Throw.InvalidFile("shard.json is null", path);
            if (m.Schema != CurrentSchema) Throw.InvalidFile($"not a shard manifest of this version; expected {CurrentSchema}", path, "schema", m.Schema);
            if (m.Kind is not ("compare" or "sweep")) Throw.InvalidFile("unknown kind; known: compare, sweep", path, "kind", m.Kind);
            if (m.Comparisons.Count == 0) Throw.InvalidFile("a shard has at least one comparison", path, "comparisons", "[]");
            return m;
        }
        catch (JsonException e)
        {
            return Throw.InvalidFile<ShardManifest>($"shard.json is not a valid shard manifest ({e.Message})", path, e.Path?.TrimStart('$', '.'), inner: e);
        }
    }
}

/// <summary>A comparison of a sharded run: its report folder (relative), title, resolved models and, in a sweep, its training step.</summary>
public sealed record ShardComparison(string Id, string Folder, string Title, IReadOnlyList<ResolvedModel> Models, long? TrainingStep);

/// <summary>A dataset file and the fingerprint of its content.</summary>
public sealed record ShardInput(string Spec, string Fingerprint);

/// <summary>
/// A step of the plan: its comparison, analysis, part, journal key, estimated cost and shard; for a piece of a part
/// (split because it dominates the run), which piece of how many and the whole part's key.
/// </summary>
public sealed record ShardStep(string Comparison, string Analysis, string Part, string Key, double Cost, int Shard)
{
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public int? Chunk { get; init; }

    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public int? Chunks { get; init; }

    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public string? WholeKey { get; init; }

    /// <summary>The journal's part name (<see cref="OnnxInterp.Analysis.StepPart.JournalId"/>).</summary>
    public string JournalPart => OnnxInterp.Analysis.StepPart.JournalIdOf(Part, Chunk ?? 0, Chunks ?? 0);

    /// <summary>The whole part's journal name (analysis.part), the same for its pieces.</summary>
    public string WholeName => ResultsJournal.Stem(Analysis, Part);

    public string Name => ResultsJournal.Stem(Analysis, JournalPart);
    public string Id => Comparison.Length == 0 ? Name : $"{Comparison}/{Name}";
}
