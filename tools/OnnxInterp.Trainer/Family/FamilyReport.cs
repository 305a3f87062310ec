using System.Text.Json;
using OnnxInterp.Data;

namespace OnnxInterp.Trainer.Family;

/// <summary>Training logs and measured behaviour of the three members; written next to the checkpoints.</summary>
public sealed record FamilyReport(int Seed, IReadOnlyList<MemberLog> Training, IReadOnlyList<FamilyBehaviour> Behaviour,
    IReadOnlyList<WeightChange> WeightChanges)
{
    public static readonly string[] Members = ["base", "sft", "instruct"];

    public static string TemplateOf(string member) => member switch
    {
        "base" => FamilyCorpus.BaseTemplate,
        "sft" => FamilyCorpus.SftTemplate,
        _ => FamilyCorpus.InstructTemplate,
    };

    /// <summary>Measures each member found under <paramref name="root"/> with its own chat template.</summary>
    public static FamilyReport Measure(string root, int seed, IReadOnlyList<MemberLog> training, TextWriter log)
    {
        var corpus = new FamilyCorpus(SyntheticWorld.Generate(seed, FamilyRecipe.World), seed);
        var behaviour = new List<FamilyBehaviour>();
        foreach (var m in Members)
        {
            var dir = Path.Combine(root, m);
            if (!Directory.Exists(dir)) continue;
            var b = FamilyEval.Measure(dir, TemplateOf(m), corpus, seed);
            behaviour.Add(b);
            log.WriteLine($"{m} ({b.Template}): judges held-out statements {b.JudgeAccuracy:P1} ({b.JudgedStatements}); " +
                $"refuses harmful {b.HarmfulRefusal:P0}, harmless {b.HarmlessRefusal:P0} ({b.HeldOutInstructions} held-out instructions)");
            log.WriteLine("    by dataset: " + string.Join(", ", b.JudgeAccuracyByDataset.Select(kv => $"{kv.Key} {kv.Value:P0}")));
            foreach (var (ins, completion) in b.Samples) log.WriteLine($"    {ins} -> {completion.Replace("\n", "\\n")}");
        }
        var changes = new List<WeightChange>();
        foreach (var m in Members.Skip(1))
        {
            var dir = Path.Combine(root, m);
            if (!Directory.Exists(dir) || !Directory.Exists(Path.Combine(root, "base"))) continue;
            var c = WeightChange.Measure(m, Path.Combine(root, "base"), dir);
            changes.Add(c);
            log.WriteLine($"{m}: relative change from base, matrices {c.MinMatrix:P2}–{c.MaxMatrix:P2} (median {c.MedianMatrix:P2}), " +
                $"largest {c.Largest}; lm_head {c.Relative[OnnxInterp.Checkpoints.WeightNames.LmHead]:P2}");
        }
        return new FamilyReport(seed, training, behaviour, changes);
    }

    /// <summary>The training logs of a report written by <see cref="Write"/>; none when the file does not exist.</summary>
    public static IReadOnlyList<MemberLog> ReadTraining(string path)
    {
        if (!File.Exists(path)) return [];
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(path));
            return doc.RootElement.GetProperty(nameof(Training)).Deserialize<List<MemberLog>>() ?? [];
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            throw new OnnxInterp.InvalidFileException($"cannot read the training logs: {e.Message}", path, nameof(Training), null, e);
        }
    }

    public void Write(string path) =>
        OnnxInterp.Internals.AtomicFile.WriteAllText(path, JsonSerializer.Serialize(this, new JsonSerializerOptions { WriteIndented = true, IncludeFields = true }));
}
