using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using Microsoft.Win32.SafeHandles;
using OnnxInterp.Checkpoints;
using OnnxInterp.Internals;

namespace OnnxInterp.Runtime;

/// <summary>
/// One NumPy .npy file (format versions 1.0, 2.0 and 3.0), validated on open: magic, version, the header's Python dict
/// literal ('descr', 'fortran_order', 'shape'), and that the shape's byte size equals what follows the header.
/// Only little-endian floating arrays in C order are accepted ('&lt;f4', '&lt;f2', '&lt;f8'). Data is read on demand with
/// positioned I/O, so nothing beyond the requested range is resident. Owns the file handle; dispose it to close the file.
/// </summary>
public sealed class NpyFile : IDisposable
{
    /// <summary>The data section starts at a multiple of this (numpy's ARRAY_ALIGN).</summary>
    public const int ArrayAlign = 64;

    /// <summary>numpy pads version-1.0 headers with this many digits' worth of spaces for in-place growth of the first axis.</summary>
    internal const int GrowthAxisMaxDigits = 21;

    /// <summary>numpy refuses headers above this size by default (its _MAX_HEADER_SIZE); so do we.</summary>
    public const int MaxHeaderBytes = 10_000;

    static ReadOnlySpan<byte> Magic => [0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y'];

    readonly SafeFileHandle _handle;
    bool _disposed;

    NpyFile(string path, SafeFileHandle handle, TensorDType dtype, long[] shape, long dataOffset, long fileLength)
    {
        Path = path;
        _handle = handle;
        DType = dtype;
        Shape = shape;
        DataOffset = dataOffset;
        FileLength = fileLength;
    }

    public string Path { get; }

    /// <summary>Element type: F32 for '&lt;f4', F16 for '&lt;f2', F64 for '&lt;f8'.</summary>
    public TensorDType DType { get; }

    public long[] Shape { get; }

    /// <summary>Absolute file offset of the first data byte.</summary>
    public long DataOffset { get; }

    public long FileLength { get; }

    public long ElementCount
    {
        get
        {
            long n = 1;
            foreach (var d in Shape) n *= d;
            return n;
        }
    }

    /// <summary>The descr string numpy uses for a dtype this class reads and writes.</summary>
    public static string Descr(TensorDType dtype) => dtype switch
    {
        TensorDType.F32 => "<f4",
        TensorDType.F16 => "<f2",
        TensorDType.F64 => "<f8",
        _ => throw new InvalidArgumentException("npy files are written as <f4, <f2 or <f8 only", "dtype", dtype.ToString()),
    };

    /// <summary>
    /// The complete version-1.0 prefix (magic, version, header length, header) that numpy.save writes for a C-order array:
    /// <c>{'descr': '&lt;f4', 'fortran_order': False, 'shape': (2, 3), }</c>, then numpy's growth padding
    /// (21 minus the digits of shape[0] spaces), then spaces and a final '\n' so that the whole prefix is a multiple of 64
    /// bytes (numpy adds a full 64 spaces when it is already aligned, and so do we).
    /// </summary>
    public static byte[] EncodeHeader(TensorDType dtype, IReadOnlyList<long> shape)
    {
        var sb = new StringBuilder();
        sb.Append("{'descr': '").Append(Descr(dtype)).Append("', 'fortran_order': False, 'shape': (");
        for (int i = 0; i < shape.Count; i++)
        {
            if (shape[i] < 0) throw new InvalidArgumentException("negative dimension", "shape", string.Join(",", shape));
            if (i > 0) sb.Append(", ");
            sb.Append(shape[i].ToString(CultureInfo.InvariantCulture));
        }
        if (shape.Count == 1) sb.Append(',');
        sb.Append("), }");
        if (shape.Count > 0) sb.Append(' ', GrowthAxisMaxDigits - shape[0].ToString(CultureInfo.InvariantCulture).Length);
        int hlen = sb.Length + 1;
        int padlen = ArrayAlign - ((Magic.Length + 2 + 2 + hlen) % ArrayAlign);
        sb.Append(' ', padlen).Append('\n');
        if (sb.Length > ushort.MaxValue) throw new InvalidArgumentException("npy header too long for format 1.0", "shape", string.Join(",", shape));

        var bytes = new byte[Magic.Length + 4 + sb.Length];
        Magic.CopyTo(bytes);
        bytes[6] = 1;
        bytes[7] = 0;
        BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(8), (ushort)sb.Length);
        Encoding.ASCII.GetBytes(sb.ToString(), bytes.AsSpan(10));
        return bytes;
    }

    public static NpyFile Open(string path)
    {
        var handle = UntrustedFile.OpenRead(path, "npy");
        try
        {
            long length = RandomAccess.GetLength(handle);
            Span<byte> prefix = stackalloc byte[12];
            if (length < 10) Throw.InvalidFile("file too short for an npy header", path, "magic", $"{length} bytes");
            UntrustedFile.ReadExactly(handle, prefix[..10], 0, path);
            if (!prefix[..6].SequenceEqual(Magic))
                Throw.InvalidFile("not an npy file: bad magic string", path, "magic", Convert.ToHexString(prefix[..6]));
            byte major = prefix[6], minor = prefix[7];
            long headerLen;
            int lengthBytes;
            if (major == 1 && minor == 0)
            {
                headerLen = BinaryPrimitives.ReadUInt16LittleEndian(prefix[8..]);
                lengthBytes = 2;
            }
            else if ((major == 2 || major == 3) && minor == 0)
            {
                if (length < 12) Throw.InvalidFile("file too short for an npy header", path, "header_length", $"{length} bytes");
                UntrustedFile.ReadExactly(handle, prefix[10..12], 10, path);
                headerLen = BinaryPrimitives.ReadUInt32LittleEndian(prefix[8..]);
                lengthBytes = 4;
            }
            else
            {
                return Throw.InvalidFile<NpyFile>("unsupported npy format version", path, "version", $"{major}.{minor}");
            }
            long headerStart = 8 + lengthBytes;
            if (headerLen > MaxHeaderBytes)
                Throw.InvalidFile($"header length exceeds the {MaxHeaderBytes}-byte limit", path, "header_length", headerLen);
            if (headerStart + headerLen > length)
                Throw.InvalidFile($"header runs past the end of the {length}-byte file", path, "header_length", headerLen);
            var header = new byte[headerLen];
            UntrustedFile.ReadExactly(handle, header, headerStart, path);
            // Versions 1 and 2 are latin-1, 3 is UTF-8; every header we accept is ASCII, so reject anything else outright.
            foreach (var b in header)
                if (b >= 0x80) Throw.InvalidFile("header is not ASCII", path, "header");
            var text = Encoding.ASCII.GetString(header);
            var (descr, fortran, shape) = HeaderParser.Parse(text, path);

            TensorDType dtype = descr switch
            {
                "<f4" => TensorDType.F32,
                "<f2" => TensorDType.F16,
                "<f8" => TensorDType.F64,
                _ => Throw.InvalidFile<TensorDType>("unsupported descr: only little-endian float arrays (<f4, <f2, <f8) are read", path, "descr", descr),
            };
            if (fortran) Throw.InvalidFile("Fortran-order arrays are not supported", path, "fortran_order", "True");

            long dataOffset = headerStart + headerLen;
            long elements = 1;
            foreach (var d in shape)
            {
                if (d != 0 && elements > long.MaxValue / 16 / d)
                    Throw.InvalidFile("shape overflows", path, "shape", ShapeText(shape));
                elements *= d;
            }
            long expected = elements * dtype.Size();
            if (expected != length - dataOffset)
                Throw.InvalidFile($"shape {ShapeText(shape)} of {descr} needs {expected} data bytes, the file holds {length - dataOffset} after the header",
                    path, "shape", ShapeText(shape));
            return new NpyFile(path, handle, dtype, shape, dataOffset, length);
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    static string ShapeText(long[] shape) => "(" + string.Join(", ", shape) + (shape.Length == 1 ? ",)" : ")");

    /// <summary>Reads elements [firstElement, firstElement + destination.Length) (C order) as fp32, in bounded chunks.</summary>
    public void ReadFloat32(long firstElement, Span<float> destination)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (firstElement < 0 || firstElement + destination.Length > ElementCount)
            Throw.Argument("range outside the array", "elements", $"{firstElement}+{destination.Length} of {ElementCount}");
        UntrustedFile.ReadFloat32(_handle, Path, DType, DataOffset + firstElement * DType.Size(), destination);
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _handle.Dispose();
    }

    /// <summary>
    /// A parser for the one Python literal numpy writes: a dict of string keys to a string, a bool and a tuple of ints.
    /// Accepts either quote style, optional trailing commas, Python 2's 'L' suffix on ints, and whitespace anywhere.
    /// </summary>
    sealed class HeaderParser
    {
        readonly string _s;
        readonly string _path;
        int _i;

        HeaderParser(string s, string path)
        {
            _s = s;
            _path = path;
        }

        public static (string Descr, bool Fortran, long[] Shape) Parse(string s, string path)
        {
            var p = new HeaderParser(s, path);
            string? descr = null;
            bool? fortran = null;
            long[]? shape = null;
            p.Expect('{');
            while (true)
            {
                p.SkipSpace();
                if (p.TryTake('}')) break;
                var key = p.String();
                p.Expect(':');
                switch (key)
                {
                    case "descr" when descr is null:
                        p.SkipSpace();
                        if (p.Peek() is not ('\'' or '"'))
                            p.Fail("descr is not a string (structured dtypes are not supported)", "descr");
                        descr = p.String();
                        break;
                    case "fortran_order" when fortran is null:
                        fortran = p.Bool();
                        break;
                    case "shape" when shape is null:
                        shape = p.Tuple();
                        break;
                    default:
                        p.Fail("unexpected or repeated key in the header dict", key);
                        break;
                }
                p.SkipSpace();
                if (p.TryTake(',')) continue;
                p.Expect('}');
                break;
            }
            p.SkipSpace();
            if (p._i != s.Length) p.Fail("trailing characters after the header dict", "header");
            if (descr is null) p.Fail("header lacks 'descr'", "descr");
            if (fortran is null) p.Fail("header lacks 'fortran_order'", "fortran_order");
            if (shape is null) p.Fail("header lacks 'shape'", "shape");
            return (descr, fortran.Value, shape);
        }

        [System.Diagnostics.CodeAnalysis.DoesNotReturn]
        void Fail(string message, string field) =>
            Throw.InvalidFile(message, _path, field, $"at character {_i} of {_s.TrimEnd()}");

        void SkipSpace()
        {
            while (_i < _s.Length && char.IsWhiteSpace(_s[_i])) _i++;
        }

        char Peek() => _i < _s.Length ? _s[_i] : '\0';

        bool TryTake(char c)
        {
            SkipSpace();
            if (Peek() != c) return false;
            _i++;
            return true;
        }

        void Expect(char c)
        {
            if (!TryTake(c)) Fail($"malformed header dict: expected '{c}'", "header");
        }

        string String()
        {
            SkipSpace();
            char q = Peek();
            if (q is not ('\'' or '"')) Fail("malformed header dict: expected a quoted string", "header");
            int start = ++_i;
            while (_i < _s.Length && _s[_i] != q)
            {
                if (_s[_i] == '\\') Fail("escapes in header strings are not supported", "header");
                _i++;
            }
            if (_i >= _s.Length) Fail("unterminated string in the header dict", "header");
            return _s[start.._i++];
        }

        bool Bool()
        {
            SkipSpace();
            if (string.CompareOrdinal(_s, _i, "True", 0, 4) == 0) { _i += 4; return true; }
            if (string.CompareOrdinal(_s, _i, "False", 0, 5) == 0) { _i += 5; return false; }
            Fail("fortran_order is not True or False", "fortran_order");
            return false;
        }

        long[] Tuple()
        {
            Expect('(');
            var dims = new List<long>();
            bool trailingComma = false;
            while (true)
            {
                SkipSpace();
                if (TryTake(')')) break;
                int start = _i;
                while (_i < _s.Length && char.IsAsciiDigit(_s[_i])) _i++;
                if (_i == start || _i - start > 18) Fail("shape entries must be non-negative integers", "shape");
                dims.Add(long.Parse(_s.AsSpan(start, _i - start), NumberStyles.None, CultureInfo.InvariantCulture));
                if (_i < _s.Length && _s[_i] == 'L') _i++;
                trailingComma = TryTake(',');
                if (trailingComma) continue;
                Expect(')');
                break;
            }
            // Python: (3) is an int, not a tuple; a one-element tuple needs its comma.
            if (dims.Count == 1 && !trailingComma) Fail("shape is not a tuple", "shape");
            if (dims.Count > 32) Fail("shape has more than 32 dimensions", "shape");
            return dims.ToArray();
        }
    }
}
