using System.Text.Json;
using OnnxInterp.Internals;

namespace OnnxInterp.Data;

/// <summary>Harmful and harmless instructions (Arditi et al.'s contrast sets).</summary>
public sealed record InstructionSet(IReadOnlyList<string> Harmful, IReadOnlyList<string> Harmless)
{
    /// <summary>The built-in synthetic instructions of <see cref="SyntheticWorld"/> (the shipped family's world: seed 1, family size).</summary>
    public static InstructionSet Synthetic(int worldSeed = 1) =>
        FromWorld(SyntheticWorld.Generate(worldSeed, WorldSize.Family));

    public static InstructionSet FromWorld(SyntheticWorld world) =>
        new(world.Instructions.Where(i => i.Harmful).Select(i => i.Instruction).ToList(),
            world.Instructions.Where(i => !i.Harmful).Select(i => i.Instruction).ToList());

    /// <summary>
    /// The paper's refusal_train.csv shape: statement = the instruction, label 1 = harmful. That file (256 rows) is
    /// the paper's direction-training instructions, AdvBench's and Alpaca's train[:128] under the paper's split,
    /// shuffled; the paper's code reads it only for probe transfer (Knowledge+Truthfulness/probe_transfer.py lines
    /// 123-128), not in Refusal/.
    /// </summary>
    public static InstructionSet FromDataset(StatementDataset data) =>
        new(data.Statements.Where(s => s.Label == 1).Select(s => s.Text).ToList(),
            data.Statements.Where(s => s.Label == 0).Select(s => s.Text).ToList());

    /// <summary>
    /// The paper's sources: AdvBench's harmful_behaviors.csv (the goal column) and Alpaca's instructions without
    /// input (<see cref="RefusalDatasets"/>; Refusal/utils.py lines 25-46).
    /// </summary>
    public static InstructionSet FromAdvBenchAndAlpaca(string advBenchCsv, string alpacaJson) =>
        new(RefusalDatasets.ReadAdvBench(advBenchCsv), RefusalDatasets.ReadAlpaca(alpacaJson));

    /// <summary>
    /// Reads a CSV in the paper's refusal_train.csv format (statement,label; label 1 = harmful) or a JSON file:
    /// either <c>{"harmful": [...], "harmless": [...]}</c> whose items are strings or objects with "instruction", or an
    /// array of objects with "instruction" (or "statement") and "label" (1 = harmful) or "harmful" (true/false).
    /// </summary>
    public static InstructionSet Read(string path)
    {
        if (!File.Exists(path)) Throw.InvalidFile("instruction file does not exist", path);
        var set = Path.GetExtension(path).Equals(".json", StringComparison.OrdinalIgnoreCase)
            ? ReadJson(path)
            : FromDataset(StatementDataset.Read(path));
        if (set.Harmful.Count == 0 || set.Harmless.Count == 0)
            Throw.InvalidFile("the file needs harmful and harmless instructions", path, "label", $"{set.Harmful.Count} harmful, {set.Harmless.Count} harmless");
        return set;
    }

    static InstructionSet ReadJson(string path)
    {
        JsonDocument doc;
        try { doc = JsonDocument.Parse(File.ReadAllText(path)); }
        catch (JsonException e) { throw new InvalidFileException($"not valid JSON: {e.Message}", path, e.Path, inner: e); }
        using var _ = doc;
        var root = doc.RootElement;
        var harmful = new List<string>();
        var harmless = new List<string>();
        if (root.ValueKind == JsonValueKind.Object)
        {
            foreach (var (key, list) in new[] { ("harmful", harmful), ("harmless", harmless) })
            {
                if (!root.TryGetProperty(key, out var items) || items.ValueKind != JsonValueKind.Array)
                    Throw.InvalidFile("expected an array", path, key, root.TryGetProperty(key, out var v) ? v.ValueKind.ToString() : "(missing)");
                int i = 0;
                foreach (var item in items.EnumerateArray()) list.Add(Text(item, path, $"{key}[{i++}]"));
            }
        }
        else if (root.ValueKind == JsonValueKind.Array)
        {
            int i = 0;
            foreach (var item in root.EnumerateArray())
            {
                string field = $"[{i++}]";
                if (item.ValueKind != JsonValueKind.Object) Throw.InvalidFile("expected an object with instruction and label", path, field, item.ValueKind);
                (IsHarmful(item, path, field) ? harmful : harmless).Add(Text(item, path, field));
            }
        }
        else
        {
            Throw.InvalidFile("expected an object {harmful, harmless} or an array of labelled instructions", path, "$", root.ValueKind);
        }
        return new InstructionSet(harmful, harmless);
    }

    static string Text(JsonElement item, string path, string field)
    {
        var e = item;
        if (item.ValueKind == JsonValueKind.Object)
        {
            if (!item.TryGetProperty("instruction", out e) && !item.TryGetProperty("statement", out e))
                Throw.InvalidFile("the item has no 'instruction' (or 'statement')", path, field, item.GetRawText());
        }
        if (e.ValueKind != JsonValueKind.String || e.GetString()!.Length == 0)
            Throw.InvalidFile("the instruction must be a non-empty string", path, field, e.GetRawText());
        return e.GetString()!;
    }

    static bool IsHarmful(JsonElement item, string path, string field)
    {
        if (item.TryGetProperty("harmful", out var h))
            return h.ValueKind switch
            {
                JsonValueKind.True => true,
                JsonValueKind.False => false,
                _ => Throw.InvalidFile<bool>("'harmful' must be true or false", path, field + ".harmful", h.GetRawText()),
            };
        if (item.TryGetProperty("label", out var l))
        {
            if (l.ValueKind == JsonValueKind.Number && l.TryGetDouble(out var d) && d is 0 or 1) return d == 1;
            Throw.InvalidFile("'label' must be 0 or 1", path, field + ".label", l.GetRawText());
        }
        return Throw.InvalidFile<bool>("the item has neither 'label' nor 'harmful'", path, field, item.GetRawText());
    }

    /// <summary>
    /// Shuffles each class with <paramref name="seed"/> and splits it: the first <c>round(n · testFraction)</c>
    /// (at most <paramref name="maxTest"/>) are the test set; of the rest, a quarter (at most
    /// <paramref name="maxValidation"/>) validate the direction selection and up to <paramref name="maxTrain"/> train
    /// the direction. The defaults follow the sources: 20% test and seed 42 (the paper's train_test_split), 128 train,
    /// 32 validation and 100 test instructions per class (Arditi et al.'s n_train, n_val, n_test).
    /// </summary>
    public InstructionSplit Split(int seed = 42, double testFraction = 0.2, int maxTrain = 128, int maxValidation = 32, int maxTest = 100)
    {
        if (!(testFraction > 0 && testFraction < 1)) Throw.Argument("must lie in (0, 1)", "test_fraction", testFraction);
        if (maxTrain < 1) Throw.Argument("must be at least 1", "max_train", maxTrain);
        if (maxValidation < 1) Throw.Argument("must be at least 1", "max_validation", maxValidation);
        if (maxTest < 1) Throw.Argument("must be at least 1", "max_test", maxTest);
        var rng = new Random(seed);
        (List<string> Train, List<string> Val, List<string> Test) Part(IReadOnlyList<string> items, string name)
        {
            if (items.Count < 3) Throw.Argument("at least 3 instructions per class are needed (train, validation, test)", name, items.Count);
            var shuffled = items.ToArray();
            rng.Shuffle(shuffled);
            int test = Math.Clamp((int)Math.Round(items.Count * testFraction), 1, Math.Min(maxTest, items.Count - 2));
            var rest = shuffled.Skip(test).ToList();
            int val = Math.Clamp(rest.Count / 4, 1, maxValidation);
            return (rest.Skip(val).Take(maxTrain).ToList(), rest.Take(val).ToList(), shuffled.Take(test).ToList());
        }
        var a = Part(Harmful, "harmful");
        var b = Part(Harmless, "harmless");
        return new InstructionSplit(new InstructionSet(a.Train, b.Train), new InstructionSet(a.Val, b.Val), new InstructionSet(a.Test, b.Test));
    }

    /// <summary>
    /// The paper's split: each class by scikit-learn's <c>train_test_split(test_size=testFraction,
    /// random_state=seed)</c> (Refusal/utils.py lines 32 and 45), in list order; the first <paramref name="maxTrain"/>
    /// train instructions make the direction (extract_refusal_dir.py lines 18 and 251-252: n_inst_train 128) and the
    /// first <paramref name="maxTest"/> test instructions are scored (apply_refusal_dir.py lines 68 and 483:
    /// n_inst_test 100). No validation set: the paper fixes the direction's place instead of selecting it.
    /// </summary>
    public InstructionSplit SplitAsPaper(int seed = 42, double testFraction = 0.2, int maxTrain = 128, int maxTest = 100)
    {
        if (seed < 0) Throw.Argument("numpy's RandomState takes a seed in 0..2^32-1", "seed", seed);
        if (!(testFraction > 0 && testFraction < 1)) Throw.Argument("must lie in (0, 1)", "test_fraction", testFraction);
        if (maxTrain < 1) Throw.Argument("must be at least 1", "max_train", maxTrain);
        if (maxTest < 1) Throw.Argument("must be at least 1", "max_test", maxTest);
        (List<string> Train, List<string> Test) Part(IReadOnlyList<string> items, string name)
        {
            if (items.Count < 2) Throw.Argument("at least 2 instructions per class are needed (train and test)", name, items.Count);
            if (items.Count - (int)Math.Ceiling(testFraction * items.Count) < 1)
                Throw.Argument($"test fraction {testFraction} leaves no training instruction", name, items.Count);
            var (train, test) = RefusalDatasets.PaperSplit(items, testFraction, (uint)seed);
            return (train.Take(maxTrain).ToList(), test.Take(maxTest).ToList());
        }
        var a = Part(Harmful, "harmful");
        var b = Part(Harmless, "harmless");
        return new InstructionSplit(new InstructionSet(a.Train, b.Train), new InstructionSet([], []), new InstructionSet(a.Test, b.Test));
    }
}

/// <summary>Train (the direction's mean difference), validation (its selection) and test (the refusal scores).</summary>
public sealed record InstructionSplit(InstructionSet Train, InstructionSet Validation, InstructionSet Test);
