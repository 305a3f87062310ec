using System.Buffers.Binary;
using System.Text;
using CsCheck;
using OnnxInterp.Checkpoints;
using OnnxInterp.Runtime;
using OnnxInterp.Tests.Support;

namespace OnnxInterp.Tests.Runtime;

public class NpyFileTests
{
    static readonly byte[] MagicV1 = [0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', 1, 0];

    /// <summary>A version-1.0 file with the given header text (padded with spaces to a 64-byte prefix, '\n'-terminated) and data bytes.</summary>
    static byte[] Npy(string dict, int dataBytes, byte[]? magic = null, int align = 64)
    {
        int len = dict.Length + 1;
        int pad = (align - (10 + len) % align) % align;
        var header = Encoding.ASCII.GetBytes(dict + new string(' ', pad) + "\n");
        var bytes = new byte[10 + header.Length + dataBytes];
        (magic ?? MagicV1).CopyTo(bytes, 0);
        BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(8), (ushort)header.Length);
        header.CopyTo(bytes, 10);
        return bytes;
    }

    [Test]
    public void EncodeHeader_OneDimensionalShape_WritesPythonOneTuple()
    {
        // numpy.save(np.zeros(7, '<f2')): 'shape': (7,) — a one-element tuple keeps its comma.
        var h = NpyFile.EncodeHeader(TensorDType.F16, [7]);
        Assert.That(h, Has.Length.EqualTo(128));
        Assert.That(Encoding.ASCII.GetString(h, 10, h.Length - 10),
            Is.EqualTo("{'descr': '<f2', 'fortran_order': False, 'shape': (7,), }" + new string(' ', 20 + 40) + "\n"));
    }

    [Test]
    public void Open_HandWrittenOldStyleHeader_ReadsValues()
    {
        // Older numpy aligned the data to 16 bytes, without growth padding, and Python 2 wrote longs as 3L.
        using var tmp = new TempDir();
        var path = tmp.Sub("x.npy");
        var bytes = Npy("{'descr': '<f4', 'fortran_order': False, 'shape': (3L, 1, 2), }", 24, align: 16);
        int data = bytes.Length - 24;
        Assert.That(data % 64, Is.Not.Zero, "this header is not 64-aligned");
        for (int i = 0; i < 6; i++) BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(data + 4 * i), i + 0.5f);
        File.WriteAllBytes(path, bytes);

        using var f = NpyFile.Open(path);
        Assert.That((f.DType, f.Shape, f.DataOffset), Is.EqualTo((TensorDType.F32, new long[] { 3, 1, 2 }, (long)data)));
        var got = new float[4];
        f.ReadFloat32(2, got);
        Assert.That(got, Is.EqualTo(new[] { 2.5f, 3.5f, 4.5f, 5.5f }));

        using var store = ActivationStoreReader.Open(tmp.Path);
        Assert.That(store.ReadRows("x", 1, 2).Data, Is.EqualTo(new[] { 2.5f, 3.5f, 4.5f, 5.5f }));
    }

    static InvalidFileException OpenBad(byte[] bytes, string? field = null)
    {
        using var tmp = new TempDir();
        var path = tmp.Sub("blocks.0.hook_resid_post.npy");
        File.WriteAllBytes(path, bytes);
        var e = Assert.Throws<InvalidFileException>(() => NpyFile.Open(path).Dispose())!;
        Assert.That(e.File, Is.EqualTo(path), "the error names the file");
        if (field is not null) Assert.That(e.Field, Is.EqualTo(field), e.Message);
        // The store reader surfaces the same error for the folder.
        var viaStore = Assert.Throws<InvalidFileException>(() => ActivationStoreReader.Open(tmp.Path).Dispose())!;
        Assert.That(viaStore.File, Is.EqualTo(path));
        return e;
    }

    const string Good = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 1, 3), }";

    [Test]
    public void Open_WellFormed_IsAccepted()
    {
        using var tmp = new TempDir();
        var path = tmp.Sub("ok.npy");
        File.WriteAllBytes(path, Npy(Good, 24));
        using var f = NpyFile.Open(path);
        Assert.That(f.ElementCount, Is.EqualTo(6));
    }

    [Test]
    public void Open_BadMagic_ThrowsInvalidFileNamingMagic()
    {
        var bytes = Npy(Good, 24);
        bytes[0] = (byte)'X';
        OpenBad(bytes, "magic");
    }

    [Test]
    public void Open_UnsupportedVersion_ThrowsInvalidFileNamingVersion() =>
        Assert.That(OpenBad(Npy(Good, 24, [0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', 4, 0]), "version").Value, Is.EqualTo("4.0"));

    [Test]
    public void Open_TruncatedData_ThrowsInvalidFileNamingShape() =>
        Assert.That(OpenBad(Npy(Good, 24)[..^5], "shape").Message, Does.Contain("needs 24 data bytes"));

    [Test]
    public void Open_TruncatedHeader_ThrowsInvalidFileNamingHeaderLength() => OpenBad(Npy(Good, 24)[..40], "header_length");

    [Test]
    public void Open_ShorterThanPrefix_ThrowsInvalidFile() => OpenBad([0x93, (byte)'N', (byte)'U'], "magic");

    [Test]
    public void Open_ShapeLargerThanData_ThrowsInvalidFileNamingShape() =>
        Assert.That(OpenBad(Npy("{'descr': '<f4', 'fortran_order': False, 'shape': (200, 1, 3), }", 24), "shape").Value, Is.EqualTo("(200, 1, 3)"));

    [Test]
    public void Open_TrailingBytesAfterData_ThrowsInvalidFileNamingShape() => OpenBad(Npy(Good, 28), "shape");

    [TestCase("'>f4'")]
    [TestCase("'<i4'")]
    [TestCase("'|u1'")]
    public void Open_UnsupportedDescr_ThrowsInvalidFileNamingDescr(string descr) =>
        OpenBad(Npy($"{{'descr': {descr}, 'fortran_order': False, 'shape': (2, 1, 3), }}", 24), "descr");

    [Test]
    public void Open_FortranOrder_ThrowsInvalidFileNamingFortranOrder() =>
        OpenBad(Npy("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 1, 3), }", 24), "fortran_order");

    [TestCase("{'descr': '<f4', 'fortran_order': False, }")]
    [TestCase("{'descr': '<f4', 'fortran_order': False, 'shape': (2, -1, 3), }")]
    [TestCase("{'descr': '<f4', 'fortran_order': False, 'shape': (6), }")]
    [TestCase("{'descr': '<f4', 'fortran_order': False, 'shape': [6], }")]
    [TestCase("{'descr': '<f4', 'fortran_order': False, 'shape': (6,), 'shape': (6,), }")]
    [TestCase("{'descr': '<f4', 'fortran_order': False, 'shape': (6,), 'extra': 1}")]
    [TestCase("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (6,), }")]
    [TestCase("{'descr': '<f4', 'fortran_order': False, 'shape': (6,)")]
    [TestCase("not a dict at all")]
    public void Open_MalformedHeaderDict_ThrowsInvalidFile(string dict) => OpenBad(Npy(dict, 24));

    [Test]
    public void Open_OneDimensionalAsStore_ThrowsInvalidFileNamingTensor()
    {
        using var tmp = new TempDir();
        var path = tmp.Sub("v.npy");
        File.WriteAllBytes(path, Npy("{'descr': '<f4', 'fortran_order': False, 'shape': (6,), }", 24));
        using (var f = NpyFile.Open(path)) Assert.That(f.Shape, Is.EqualTo(new long[] { 6 }));
        var e = Assert.Throws<InvalidFileException>(() => ActivationStoreReader.Open(tmp.Path))!;
        Assert.That((e.File, e.Field), Is.EqualTo((path, "v")));
    }

    /// <summary>Random byte flips and truncations of a valid file: nothing but <see cref="InvalidFileException"/> escapes.</summary>
    [Test]
    public void Open_MutatedFiles_OnlyTypedErrors()
    {
        using var tmp = new TempDir();
        var path = tmp.Sub("m.npy");
        var seed = Npy(Good, 24);
        int accepted = 0;
        Gen.Select(Gen.Int[0, seed.Length - 1], Gen.Byte, Gen.Int[0, seed.Length], Gen.Bool).Sample((pos, value, cut, truncate) =>
        {
            var bytes = (byte[])seed.Clone();
            if (truncate) bytes = bytes[..cut];
            else bytes[pos] = value;
            File.WriteAllBytes(path, bytes);
            try
            {
                using var f = NpyFile.Open(path);
                var all = new float[f.ElementCount];
                f.ReadFloat32(0, all);
                accepted++;
            }
            catch (InvalidFileException e)
            {
                Assert.That(e.File, Is.EqualTo(path));
            }
        }, iter: 2000, threads: 1);
        Assert.That(accepted, Is.GreaterThan(0), "some mutations (e.g. in the data) stay valid");
    }
}
