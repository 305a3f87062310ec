using System.Collections.Immutable;
using nietras.SeparatedValues;
using OnnxInterp.Internals;

namespace OnnxInterp.Data;

/// <summary>One labelled statement (label 1 = true) with the dataset's extra columns (city, country, n1, …).</summary>
public sealed record Statement(string Text, int Label, ImmutableDictionary<string, string> Extra);

/// <summary>
/// A statement dataset in the geometry-of-truth CSV format the paper uses: a header with at least
/// <c>statement,label</c>, label 0 or 1, any further columns kept. Read with Sep (RFC 4180 quoting).
/// </summary>
public sealed record StatementDataset(string Name, IReadOnlyList<Statement> Statements, IReadOnlyList<string> ExtraColumns)
{
    /// <summary>Reads a CSV; the dataset's name is the file name without extension.</summary>
    public static StatementDataset Read(string path)
    {
        if (!File.Exists(path)) Throw.InvalidFile("dataset file does not exist", path);
        try
        {
            using var reader = Sep.Reader(o => o with { Unescape = true }).FromFile(path);
            var header = reader.Header.ColNames;
            if (!header.Contains("statement")) Throw.InvalidFile("dataset has no 'statement' column", path, "header", string.Join(",", header));
            if (!header.Contains("label")) Throw.InvalidFile("dataset has no 'label' column", path, "header", string.Join(",", header));
            var extra = header.Where(h => h is not ("statement" or "label")).ToList();
            var rows = new List<Statement>();
            foreach (var row in reader)
            {
                string text = row["statement"].ToString();
                string labelText = row["label"].ToString().Trim();
                int line = row.LineNumberFrom;
                if (text.Length == 0) Throw.InvalidFile("empty statement", path, $"line {line}.statement");
                // Some published files write labels as 1.0 / 0.0.
                int label = labelText switch
                {
                    "1" or "1.0" or "True" or "true" => 1,
                    "0" or "0.0" or "False" or "false" => 0,
                    _ => Throw.InvalidFile<int>("label must be 0 or 1", path, $"line {line}.label", labelText),
                };
                var b = ImmutableDictionary.CreateBuilder<string, string>();
                foreach (var col in extra) b[col] = row[col].ToString();
                rows.Add(new Statement(text, label, b.ToImmutable()));
            }
            return new StatementDataset(Path.GetFileNameWithoutExtension(path), rows, extra);
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

    /// <summary>Writes the dataset in the same format, atomically.</summary>
    public void Write(string path)
    {
        AtomicFile.Write(path, fs =>
        {
            using var text = new StreamWriter(fs, new System.Text.UTF8Encoding(false), leaveOpen: true);
            using var writer = Sep.Writer(o => o with { Escape = true }).To(text);
            foreach (var s in Statements)
            {
                using var row = writer.NewRow();
                row["statement"].Set(s.Text);
                row["label"].Set(s.Label == 1 ? "1" : "0");
                foreach (var col in ExtraColumns) row[col].Set(s.Extra.TryGetValue(col, out var v) ? v : "");
            }
        });
    }

    public int TrueCount => Statements.Count(s => s.Label == 1);
}
