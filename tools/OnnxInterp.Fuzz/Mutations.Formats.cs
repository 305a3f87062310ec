using System.Buffers.Binary;
using System.Text;
using System.Text.Json;

namespace OnnxInterp.Fuzz;

/// <summary>Structure-aware mutators of CSV text, .npy headers and safetensors headers.</summary>
public static partial class Mutations
{
    // ---- CSV ----

    static readonly string[] CsvPieces =
    [
        ",", "\"", "\n", "\r", "\r\n", "\"\"", ";", "\t", "\0", "\uFEFF", ",,,,", "\"a\"b", "\\", "\u2028", "\uD800",
    ];

    /// <summary>Text edits that matter to a CSV: quotes, delimiters and line ends inserted, lines duplicated or dropped, header and label damage.</summary>
    public static (string, byte[]) Csv(byte[] seed, Random rng)
    {
        var text = Utf8.GetString(seed);
        var lines = text.Split('\n').ToList();
        string kind;
        int pos = rng.Next(text.Length + 1);
        switch (rng.Next(9))
        {
            case 0:
            case 1:
            {
                var piece = CsvPieces[rng.Next(CsvPieces.Length)];
                text = text.Insert(pos, piece);
                kind = $"insert {Escape(piece)} at {pos}";
                break;
            }
            case 2:
            {
                int len = Math.Min(1 + rng.Next(20), text.Length - pos);
                text = text.Remove(pos, len);
                kind = $"delete {len} at {pos}";
                break;
            }
            case 3:
            {
                int i = rng.Next(lines.Count);
                lines.Insert(rng.Next(lines.Count + 1), lines[i]);
                text = string.Join('\n', lines);
                kind = $"duplicate line {i}";
                break;
            }
            case 4:
            {
                int i = rng.Next(lines.Count);
                lines.RemoveAt(i);
                text = string.Join('\n', lines);
                kind = $"drop line {i}";
                break;
            }
            case 5:
            {
                var header = new[] { "statement,label", "label,statement", "statement,statement,label", "statement", "label", "", "statement;label", "\"statement\",\"label\"", "statement,label,label" }[rng.Next(9)];
                lines[0] = header;
                text = string.Join('\n', lines);
                kind = $"header = {Escape(header)}";
                break;
            }
            case 6:
            {
                var label = new[] { "", "2", "-1", "1.5", "TRUE", "yes", " 1 ", "1e0", "0x1", "NaN", "\"1\"" }[rng.Next(11)];
                int i = 1 + rng.Next(Math.Max(1, lines.Count - 1));
                if (i < lines.Count)
                {
                    int comma = lines[i].LastIndexOf(',');
                    lines[i] = comma < 0 ? label : lines[i][..comma] + "," + label + (lines[i].EndsWith('\r') ? "\r" : "");
                }
                text = string.Join('\n', lines);
                kind = $"line {i} label = {Escape(label)}";
                break;
            }
            case 7:
            {
                int n = 1000 + rng.Next(200_000);
                text = text.Insert(pos, new string(rng.Next(2) == 0 ? 'x' : '"', n));
                kind = $"insert {n} chars at {pos}";
                break;
            }
            default:
                return Raw(seed, rng);
        }
        return ("csv: " + kind, Utf8.GetBytes(text));
    }

    static string Escape(string s) => JsonSerializer.Serialize(s);

    // ---- .npy header ----

    static readonly string[] NpyDims = ["0", "1", "2", "3", "4", "5", "-1", "2147483648", "4294967296", "4611686018427387904", "999999999999999999", "99999999999999999999", "3L", ""];

    /// <summary>Edits the header dict of a valid .npy file: shape entries, descr, fortran_order, the header length field, the version.</summary>
    public static (string, byte[]) Npy(byte[] seed, Random rng)
    {
        int headerLen = BinaryPrimitives.ReadUInt16LittleEndian(seed.AsSpan(8));
        var header = Encoding.ASCII.GetString(seed, 10, headerLen);
        var data = seed[(10 + headerLen)..];
        string kind;
        switch (rng.Next(6))
        {
            case 0:
            case 1:
            {
                int open = header.IndexOf('('), close = header.IndexOf(')');
                var dims = Enumerable.Range(0, rng.Next(5)).Select(_ => NpyDims[rng.Next(NpyDims.Length)]).ToList();
                string tuple = "(" + string.Join(", ", dims) + (dims.Count == 1 ? ",)" : ")");
                header = header[..open] + tuple + header[(close + 1)..];
                kind = $"shape = {tuple}";
                break;
            }
            case 2:
            {
                var descr = new[] { "'<f8'", "'<f2'", "'>f4'", "'|b1'", "'<i8'", "'<U5'", "'O'", "[('a', '<f4')]", "'<f4" }[rng.Next(9)];
                header = header.Replace("'<f4'", descr).Replace("'<f2'", descr);
                kind = $"descr = {descr}";
                break;
            }
            case 3:
            {
                var f = new[] { "True", "1", "None", "'False'" }[rng.Next(4)];
                header = header.Replace("False", f);
                kind = $"fortran_order = {f}";
                break;
            }
            case 4:
            {
                var bytes = (byte[])seed.Clone();
                ushort lie = (ushort)(new[] { 0, 1, headerLen - 1, headerLen + 1, headerLen + 64, 10_001, 65535 }[rng.Next(7)]);
                BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(8), lie);
                return ($"npy: header_len = {lie} (was {headerLen})", bytes);
            }
            default:
            {
                var bytes = (byte[])seed.Clone();
                bytes[6] = (byte)rng.Next(5);
                bytes[7] = (byte)rng.Next(2);
                return ($"npy: version = {bytes[6]}.{bytes[7]}", bytes);
            }
        }
        var h = Encoding.ASCII.GetBytes(header);
        var result = new byte[10 + h.Length + data.Length];
        seed.AsSpan(0, 8).CopyTo(result);
        BinaryPrimitives.WriteUInt16LittleEndian(result.AsSpan(8), (ushort)h.Length);
        h.CopyTo(result, 10);
        data.CopyTo(result, 10 + h.Length);
        return ("npy: " + kind, result);
    }

    // ---- safetensors header ----

    /// <summary>A JSON edit of the safetensors header, the 8-byte length rewritten to match (or, one time in four, left as it was: a size lie).</summary>
    public static (string, byte[]) SafetensorsHeader(byte[] seed, Random rng)
    {
        long n = (long)BinaryPrimitives.ReadUInt64LittleEndian(seed);
        var header = seed[8..(int)(8 + n)];
        var data = seed[(int)(8 + n)..];
        var (kind, edited) = Json(header, rng);
        bool lie = rng.Next(4) == 0;
        var result = new byte[8 + edited.Length + data.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(result, lie ? (ulong)n : (ulong)edited.Length);
        edited.CopyTo(result, 8);
        data.CopyTo(result, 8 + edited.Length);
        return ($"safetensors header {kind}{(lie ? " (length field kept)" : "")}", result);
    }
}
