using System.Globalization;
using System.Text;
using OnnxInterp.Internals;

namespace OnnxInterp.Analysis.Knowledge;

/// <summary>
/// A knowledge matrix as CSV: a header "layer," followed by the position labels, then one row per layer (layer 0
/// first) with the layer index and its values. Numbers use the invariant culture and round-trip ("R") formatting;
/// fields containing a comma, quote or line break are quoted as in RFC 4180. Lines end with "\n"; UTF-8 without BOM.
/// </summary>
public static class KnowledgeCsv
{
    /// <summary>Writes <paramref name="matrix"/> to <paramref name="path"/> atomically (temporary file, then move).</summary>
    public static void Write(string path, KnowledgeMatrix matrix)
    {
        if (string.IsNullOrWhiteSpace(path)) throw new InvalidArgumentException("output path is empty", "path", path);
        ArgumentNullException.ThrowIfNull(matrix);
        AtomicFile.WriteAllText(path, Format(matrix.Values, matrix.PositionLabels));
    }

    /// <summary>The CSV text <see cref="Write"/> writes.</summary>
    public static string Format(double[,] values, IReadOnlyList<string> labels)
    {
        var sb = new StringBuilder();
        sb.Append("layer");
        foreach (var l in labels) sb.Append(',').Append(Quote(l));
        sb.Append('\n');
        for (int r = 0; r < values.GetLength(0); r++)
        {
            sb.Append(r.ToString(CultureInfo.InvariantCulture));
            for (int c = 0; c < values.GetLength(1); c++)
                sb.Append(',').Append(values[r, c].ToString("R", CultureInfo.InvariantCulture));
            sb.Append('\n');
        }
        return sb.ToString();
    }

    /// <summary>Reads a file <see cref="Write"/> wrote: the values ([layers, positions]) and the position labels.</summary>
    public static (double[,] Values, string[] Labels) Read(string path)
    {
        var records = Parse(File.ReadAllText(path, Encoding.UTF8), path);
        if (records.Count < 2) throw new InvalidFileException("knowledge CSV needs a header and at least one layer", path);
        var header = records[0];
        if (header.Count < 2 || header[0] != "layer")
            throw new InvalidFileException("knowledge CSV header must start with 'layer' and name at least one position", path, "header", string.Join(",", header));
        var labels = header.Skip(1).ToArray();
        var values = new double[records.Count - 1, labels.Length];
        for (int r = 1; r < records.Count; r++)
        {
            var row = records[r];
            if (row.Count != header.Count)
                throw new InvalidFileException($"row {r} has {row.Count} fields, the header has {header.Count}", path, $"row {r}");
            if (row[0] != (r - 1).ToString(CultureInfo.InvariantCulture))
                throw new InvalidFileException($"row {r} should be layer {r - 1}", path, "layer", row[0]);
            for (int c = 0; c < labels.Length; c++)
            {
                if (!double.TryParse(row[c + 1], NumberStyles.Float, CultureInfo.InvariantCulture, out var v) || !double.IsFinite(v))
                    throw new InvalidFileException($"row {r}, column '{labels[c]}' is not a finite number", path, labels[c], row[c + 1]);
                values[r - 1, c] = v;
            }
        }
        return (values, labels);
    }

    static string Quote(string field) =>
        field.IndexOfAny([',', '"', '\n', '\r']) < 0 && field.Trim() == field ? field : "\"" + field.Replace("\"", "\"\"") + "\"";

    /// <summary>RFC 4180 records: quoted fields may hold commas, doubled quotes and line breaks.</summary>
    static List<List<string>> Parse(string text, string path)
    {
        var records = new List<List<string>>();
        var record = new List<string>();
        var field = new StringBuilder();
        int i = 0;
        bool any = false;
        while (i < text.Length)
        {
            char ch = text[i];
            if (ch == '"' && field.Length == 0)
            {
                i++;
                while (true)
                {
                    if (i >= text.Length) throw new InvalidFileException("unterminated quoted field", path);
                    if (text[i] == '"')
                    {
                        if (i + 1 < text.Length && text[i + 1] == '"') { field.Append('"'); i += 2; continue; }
                        i++;
                        break;
                    }
                    field.Append(text[i++]);
                }
                any = true;
                continue;
            }
            if (ch == ',') { record.Add(field.ToString()); field.Clear(); any = true; i++; continue; }
            if (ch == '\r' || ch == '\n')
            {
                if (any || field.Length > 0) { record.Add(field.ToString()); records.Add(record); }
                record = [];
                field.Clear();
                any = false;
                i += ch == '\r' && i + 1 < text.Length && text[i + 1] == '\n' ? 2 : 1;
                continue;
            }
            field.Append(ch);
            any = true;
            i++;
        }
        if (any || field.Length > 0) { record.Add(field.ToString()); records.Add(record); }
        return records;
    }
}
