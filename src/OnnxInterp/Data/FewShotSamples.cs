using System.Text.Json;
using OnnxInterp.Internals;
using OnnxInterp.Tokenization;

namespace OnnxInterp.Data;

/// <summary>
/// The paper's few_shot_samples.json (Knowledge+Truthfulness/datasets, written by get_few_shot_example.py): per dataset
/// four examples "STATEMENT This statement is: TRUE|FALSE", read by interventions.py (line 229) for the truth
/// intervention's prompts. Kept in the file's order, which the paper's seeded shuffles start from.
/// </summary>
public sealed class FewShotSamples
{
    public const string FileName = "few_shot_samples.json";
    const string Suffix = " This statement is: ";

    readonly Dictionary<string, IReadOnlyList<(string Statement, bool True)>> _byDataset;

    FewShotSamples(string path, Dictionary<string, IReadOnlyList<(string, bool)>> byDataset)
    {
        Path = path;
        _byDataset = byDataset;
    }

    public string Path { get; }

    public IReadOnlyCollection<string> Datasets => _byDataset.Keys;

    /// <summary>The examples of <paramref name="dataset"/> as (statement, is true), in the file's order; null if the file has none.</summary>
    public IReadOnlyList<(string Statement, bool True)>? For(string dataset) => _byDataset.GetValueOrDefault(dataset);

    /// <summary>The file beside a dataset CSV (the paper's datasets folder layout), or null when there is none.</summary>
    public static FewShotSamples? Beside(string datasetCsv)
    {
        var path = System.IO.Path.Combine(System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(datasetCsv)) ?? ".", FileName);
        return File.Exists(path) ? Read(path) : null;
    }

    /// <summary>Reads the file: a JSON list of {"dataset_name": NAME, "few_shot_examples": [LINE, ...]}.</summary>
    /// <exception cref="InvalidFileException">Not that shape, or a line that does not end in " This statement is: TRUE" or FALSE.</exception>
    public static FewShotSamples Read(string path)
    {
        if (!File.Exists(path)) Throw.InvalidFile("few-shot samples file does not exist", path);
        using var doc = JsonReader.Parse(path);
        if (doc.RootElement.ValueKind != JsonValueKind.Array) Throw.InvalidFile("expected a JSON list of {dataset_name, few_shot_examples}", path, "$");
        var byDataset = new Dictionary<string, IReadOnlyList<(string, bool)>>(StringComparer.Ordinal);
        int i = 0;
        foreach (var entry in doc.RootElement.EnumerateArray())
        {
            string field = $"[{i++}]";
            JsonElement name = default;
            if (entry.ValueKind != JsonValueKind.Object || !entry.TryGetProperty("dataset_name", out name) || name.ValueKind != JsonValueKind.String)
                Throw.InvalidFile("each entry needs a string dataset_name", path, $"{field}.dataset_name");
            if (!entry.TryGetProperty("few_shot_examples", out var examples) || examples.ValueKind != JsonValueKind.Array)
                Throw.InvalidFile("each entry needs a few_shot_examples list", path, $"{field}.few_shot_examples");
            var list = new List<(string, bool)>();
            int j = 0;
            foreach (var e in examples.EnumerateArray())
            {
                string line = e.ValueKind == JsonValueKind.String ? e.GetString()! : "";
                string f = $"{field}.few_shot_examples[{j++}]";
                int at = line.LastIndexOf(Suffix, StringComparison.Ordinal);
                string answer = at < 0 ? "" : line[(at + Suffix.Length)..];
                if (at <= 0 || answer is not ("TRUE" or "FALSE"))
                    Throw.InvalidFile("an example must read \"STATEMENT This statement is: TRUE\" (or FALSE)", path, f, line);
                list.Add((line[..at], answer == "TRUE"));
            }
            byDataset[name.GetString()!] = list;
        }
        return new FewShotSamples(path, byDataset);
    }
}
