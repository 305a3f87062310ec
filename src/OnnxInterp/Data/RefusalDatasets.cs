using System.Text.Json;
using nietras.SeparatedValues;
using OnnxInterp.Internals;
using OnnxInterp.Tokenization;

namespace OnnxInterp.Data;

/// <summary>
/// The instruction sets of the paper's refusal experiments (HZD01/post-training-mechanistic-analysis, Refusal/utils.py):
/// harmful instructions from AdvBench's harmful_behaviors.csv (get_harmful_instructions, lines 25-33) and harmless ones
/// from Alpaca, keeping only instructions without an input (get_harmless_instructions, lines 35-46), each split by
/// scikit-learn's <c>train_test_split(test_size=0.2, random_state=42)</c> (lines 32 and 45).
/// </summary>
public static class RefusalDatasets
{
    /// <summary>The split of Refusal/utils.py lines 32 and 45.</summary>
    public const double PaperTestSize = 0.2;
    public const uint PaperRandomState = 42;

    /// <summary>
    /// AdvBench's harmful_behaviors.csv (llm-attacks/llm-attacks, data/advbench): a CSV with a header naming a
    /// <c>goal</c> column (the file also has <c>target</c>); the goals in file order, as
    /// <c>pd.read_csv(...)['goal'].tolist()</c> gives them (utils.py lines 29-30), unstripped.
    /// </summary>
    /// <exception cref="InvalidFileException">The file is missing, is not a CSV with a goal column, or a goal is empty.</exception>
    public static IReadOnlyList<string> ReadAdvBench(string path)
    {
        if (!File.Exists(path)) Throw.InvalidFile("the AdvBench file does not exist", path);
        try
        {
            using var reader = Sep.New(',').Reader(o => o with { Unescape = true }).FromFile(path);
            var header = reader.Header.ColNames;
            if (!header.Contains("goal"))
                Throw.InvalidFile("an AdvBench CSV needs a 'goal' column (harmful_behaviors.csv: goal,target)", path, "header", string.Join(",", header));
            var goals = new List<string>();
            foreach (var row in reader)
            {
                string goal = row["goal"].ToString();
                // pandas reads an empty cell as NaN, which is no instruction.
                if (goal.Length == 0) Throw.InvalidFile("empty goal", path, $"line {row.LineNumberFrom}.goal", "\"\"");
                goals.Add(goal);
            }
            if (goals.Count == 0) Throw.InvalidFile("the AdvBench file has no rows", path, "goal", 0);
            return goals;
        }
        catch (InvalidDataException e)
        {
            throw new InvalidFileException($"malformed CSV: {e.Message}", path, inner: e);
        }
        catch (ArgumentException e)
        {
            throw new InvalidFileException($"malformed CSV: {e.Message}", path, inner: e);
        }
    }

    /// <summary>
    /// Alpaca (tatsu-lab/alpaca; the alpaca_data.json layout): a JSON array of objects with string fields
    /// <c>instruction</c> and <c>input</c> (others, e.g. output and text, are ignored), or the same objects one per line
    /// (JSON Lines, a .jsonl file, as the datasets library writes them). The instructions whose input is empty after
    /// Python's <c>str.strip()</c>, in file order, unstripped (utils.py lines 40-43).
    /// </summary>
    /// <exception cref="InvalidFileException">The file is missing or not JSON, an item is not an object, or its instruction or input is not a string.</exception>
    public static IReadOnlyList<string> ReadAlpaca(string path)
    {
        if (!File.Exists(path)) Throw.InvalidFile("the Alpaca file does not exist", path);
        var instructions = new List<string>();
        int count = 0;
        void Item(JsonElement item, string field)
        {
            count++;
            if (item.ValueKind != JsonValueKind.Object) Throw.InvalidFile("expected an object with instruction and input", path, field, item.ValueKind);
            string Text(string name)
            {
                if (!item.TryGetProperty(name, out var e))
                    return Throw.InvalidFile<string>($"the item has no '{name}'", path, field, Shorten(item.GetRawText()));
                if (e.ValueKind != JsonValueKind.String)
                    return Throw.InvalidFile<string>($"'{name}' must be a string", path, $"{field}.{name}", Shorten(e.GetRawText()));
                return e.GetString()!;
            }
            string instruction = Text("instruction");
            if (ChatTemplate.PyStrip(Text("input")).Length == 0) instructions.Add(instruction);
        }

        try
        {
            if (Path.GetExtension(path).Equals(".jsonl", StringComparison.OrdinalIgnoreCase))
            {
                int line = 0;
                foreach (var text in File.ReadLines(path))
                {
                    line++;
                    if (text.Trim().Length == 0) continue;
                    using var doc = JsonDocument.Parse(text);
                    Item(doc.RootElement, $"line {line}");
                }
            }
            else
            {
                using var doc = JsonDocument.Parse(File.ReadAllText(path));
                if (doc.RootElement.ValueKind != JsonValueKind.Array)
                    Throw.InvalidFile("expected a JSON array of {instruction, input, output} objects", path, "$", doc.RootElement.ValueKind);
                int i = 0;
                foreach (var item in doc.RootElement.EnumerateArray()) Item(item, $"[{i++}]");
            }
        }
        catch (JsonException e)
        {
            throw new InvalidFileException($"not valid JSON: {e.Message}", path, e.Path, inner: e);
        }
        if (instructions.Count == 0)
            Throw.InvalidFile("no Alpaca item has an empty input", path, "input", $"{count} items");
        return instructions;
    }

    /// <summary>The paper's split of one class: <c>train_test_split(instructions, test_size=0.2, random_state=42)</c>.</summary>
    public static (IReadOnlyList<string> Train, IReadOnlyList<string> Test) PaperSplit(IReadOnlyList<string> instructions, double testSize = PaperTestSize, uint randomState = PaperRandomState)
    {
        ArgumentNullException.ThrowIfNull(instructions);
        return NumpyRandomState.TrainTestSplit(instructions, testSize, randomState);
    }

    static string Shorten(string s) => s.Length <= 80 ? s : s[..77] + "...";
}
