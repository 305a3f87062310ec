using System.Buffers.Binary;
using System.Text;
using CsCheck;
using OnnxInterp.Checkpoints;
using OnnxInterp.Tests.Support;

namespace OnnxInterp.Tests.Checkpoints;

public class SafetensorsTests
{
    [TestCase(TensorDType.F32)]
    [TestCase(TensorDType.F16)]
    [TestCase(TensorDType.BF16)]
    public void WriteThenRead_RoundTripsValuesWithinTheDtypePrecision(TensorDType dtype)
    {
        using var tmp = new TempDir();
        var rng = new Random(1);
        var a = Enumerable.Range(0, 6 * 7).Select(_ => (float)(rng.NextDouble() * 4 - 2)).ToArray();
        var b = new[] { 1f, -0.5f, 65504f, 1e-3f };
        var path = tmp.Sub("x.safetensors");
        SafetensorsWriter.Write(path, [SafetensorsEntry.FromFloat32("a", [6, 7], a, dtype), SafetensorsEntry.FromFloat32("b", [4], b, dtype)],
            new Dictionary<string, string> { ["format"] = "pt" });

        using var f = SafetensorsFile.Open(path);
        Assert.That(f.Tensors.Select(t => t.Name), Is.EqualTo(new[] { "a", "b" }));
        Assert.That(f["a"].Shape, Is.EqualTo(new long[] { 6, 7 }));
        Assert.That(f["a"].DType, Is.EqualTo(dtype));
        Assert.That(f.Metadata["format"], Is.EqualTo("pt"));
        Assert.That(f.DataStart % 8, Is.Zero, "data section is 8-byte aligned");
        // Relative precision: 2^-24 (fp32), 2^-11 (fp16), 2^-8 (bf16), halved for round-to-nearest.
        double eps = dtype switch { TensorDType.F32 => 0, TensorDType.F16 => 1.0 / 2048, _ => 1.0 / 256 };
        var readA = f.ReadFloat32("a");
        for (int i = 0; i < a.Length; i++) Assert.That(readA[i], Is.EqualTo(a[i]).Within(Math.Abs(a[i]) * eps + 1e-7));
        Assert.That(f.GetSpan(f["b"]).Length, Is.EqualTo(4 * dtype.Size()));
    }

    [Test]
    public void BFloat16_RoundsToNearestEven_AgainstHandValues()
    {
        // 1 + 2^-8 lies exactly between two bf16 values (1 and 1 + 2^-7): ties go to even (1).
        // 1 + 3·2^-8 lies between 1 + 2^-7 and 1 + 2^-6: ties to even (1 + 2^-6).
        float[] x = [1f + 1f / 256, 1f + 3f / 256, -2.5f, float.PositiveInfinity];
        var bf = new ushort[x.Length];
        FloatConversion.ToBFloat16(x, bf);
        Assert.That(bf, Is.EqualTo(new ushort[] { 0x3F80, 0x3F82, 0xC020, 0x7F80 }));
        var back = new float[x.Length];
        FloatConversion.ToFloat32(System.Runtime.InteropServices.MemoryMarshal.AsBytes(bf.AsSpan()), TensorDType.BF16, back);
        Assert.That(back, Is.EqualTo(new[] { 1f, 1f + 1f / 64, -2.5f, float.PositiveInfinity }));
    }

    static byte[] File(string header, int dataBytes)
    {
        var h = Encoding.UTF8.GetBytes(header);
        var bytes = new byte[8 + h.Length + dataBytes];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)h.Length);
        h.CopyTo(bytes, 8);
        return bytes;
    }

    static InvalidFileException OpenBad(byte[] bytes)
    {
        using var tmp = new TempDir();
        var path = tmp.Sub("bad.safetensors");
        System.IO.File.WriteAllBytes(path, bytes);
        var e = Assert.Throws<InvalidFileException>(() => SafetensorsFile.Open(path).Dispose())!;
        Assert.That(e.File, Is.EqualTo(path), "the error names the file");
        return e;
    }

    [Test]
    public void Open_TruncatedFile_NamesHeaderLength() =>
        Assert.That(OpenBad([1, 2, 3]).Field, Is.EqualTo("header_length"));

    [Test]
    public void Open_HeaderLengthPastEnd_NamesHeaderLengthAndValue()
    {
        var bytes = File("{}", 0);
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, 1000);
        var e = OpenBad(bytes);
        Assert.That((e.Field, e.Value), Is.EqualTo(("header_length", "1000")));
    }

    [Test]
    public void Open_HugeHeaderLength_RejectedWithoutAllocating()
    {
        var bytes = File("{}", 0);
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, ulong.MaxValue);
        Assert.That(OpenBad(bytes).Field, Is.EqualTo("header_length"));
    }

    [Test]
    public void Open_OffsetsOutsideBuffer_NamesDataOffsets() =>
        Assert.That(OpenBad(File("""{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}""", 4)).Field, Is.EqualTo("data_offsets"));

    [Test]
    public void Open_OverlappingTensors_NamesTheTensor()
    {
        var e = OpenBad(File("""{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}""", 12));
        Assert.That(e.Field, Is.EqualTo("b.data_offsets"));
        Assert.That(e.Message, Does.Contain("overlaps"));
    }

    [Test]
    public void Open_SizeDisagreesWithShape_NamesTheTensor() =>
        Assert.That(OpenBad(File("""{"w":{"dtype":"BF16","shape":[3],"data_offsets":[0,4]}}""", 4)).Field, Is.EqualTo("w.data_offsets"));

    [Test]
    public void Open_UnknownDtype_NamesDtypeAndValue()
    {
        var e = OpenBad(File("""{"w":{"dtype":"F8_E9","shape":[1],"data_offsets":[0,1]}}""", 1));
        Assert.That((e.Field, e.Value), Is.EqualTo(("w.dtype", "F8_E9")));
    }

    [Test]
    public void Open_NotJson_NamesHeader() => Assert.That(OpenBad(File("{\"w\": [", 0)).Field, Is.EqualTo("header"));

    [Test]
    public void Open_ShapeOverflow_Rejected() =>
        Assert.That(OpenBad(File("""{"w":{"dtype":"F32","shape":[4294967296,4294967296,4294967296],"data_offsets":[0,4]}}""", 4)).Field, Is.EqualTo("w.shape"));

    /// <summary>
    /// Bounded fuzz: random byte flips, truncations and size-field lies on a valid file. Nothing but
    /// <see cref="InvalidFileException"/> may escape, and valid results must read back within bounds.
    /// </summary>
    [Test]
    public void Open_MutatedFiles_OnlyTypedErrors()
    {
        using var tmp = new TempDir();
        var path = tmp.Sub("seed.safetensors");
        SafetensorsWriter.Write(path, [
            SafetensorsEntry.FromFloat32("a", [3, 4], Enumerable.Range(0, 12).Select(i => (float)i).ToArray()),
            SafetensorsEntry.FromFloat32("b", [5], new float[5], TensorDType.BF16),
        ]);
        var seed = System.IO.File.ReadAllBytes(path);
        int tried = 0, rejected = 0;
        Gen.Select(Gen.Int[0, seed.Length - 1], Gen.Byte, Gen.Int[0, 3], Gen.Int[0, seed.Length]).Sample((pos, value, mode, cut) =>
        {
            var bytes = (byte[])seed.Clone();
            switch (mode)
            {
                case 0: bytes[pos] = value; break;
                case 1: bytes = bytes[..cut]; break;
                case 2: BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)value << (pos % 56)); break;
                default: bytes[pos] ^= (byte)(1 << (value % 8)); break;
            }
            var p = Path.Combine(tmp.Path, "m.safetensors");
            System.IO.File.WriteAllBytes(p, bytes);
            tried++;
            try
            {
                using var f = SafetensorsFile.Open(p);
                foreach (var t in f.Tensors)
                {
                    Assert.That(f.DataStart + t.DataEnd, Is.LessThanOrEqualTo(bytes.Length));
                    if (t.DType.IsFloating()) f.ReadFloat32(t.Name);
                }
            }
            catch (InvalidFileException)
            {
                rejected++;
            }
        }, iter: 3000, threads: 1);
        TestContext.Out.WriteLine($"mutated inputs tried: {tried}, rejected with typed errors: {rejected}");
        Assert.That(rejected, Is.GreaterThan(0));
    }
}
