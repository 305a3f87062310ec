using System.Text.Json;
using OnnxInterp.Data;

namespace OnnxInterp.Trainer.Family;

/// <summary>Training logs and measured behaviour of the three members; written next to the checkpoints.</summary>
public sealed record FamilyReport(int Seed, IReadOnlyList<MemberLog> Training, IReadOnlyList<FamilyBehaviour> Behaviour)
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
        return new FamilyReport(seed, training, behaviour);
    }

    public void Write(string path) =>
        OnnxInterp.Internals.AtomicFile.WriteAllText(path, JsonSerializer.Serialize(this, new JsonSerializerOptions { WriteIndented = true, IncludeFields = true }));
}
