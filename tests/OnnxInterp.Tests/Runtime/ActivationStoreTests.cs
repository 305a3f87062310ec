using System.Buffers.Binary;
using System.Diagnostics;
using System.Text;
using OnnxInterp.Checkpoints;
using OnnxInterp.Runtime;
using OnnxInterp.Tests.Support;

namespace OnnxInterp.Tests.Runtime;

public class ActivationStoreTests
{
    static readonly (string Name, int Positions, int Dim)[] Spec =
    [
        ("blocks.0.hook_resid_post", 1, 8),
        ("blocks.1.hook_resid_post", 2, 5),
        ("ln_final.hook_normalized", 1, 3),
    ];

    /// <summary>Deterministic values spanning magnitudes (including an exact zero and some tiny ones) for a whole tensor.</summary>
    static float[] Values(int seed, long count)
    {
        var rng = new Random(seed);
        var v = new float[count];
        for (int i = 0; i < v.Length; i++)
            v[i] = (float)((rng.NextDouble() * 8 - 4) * Math.Pow(10, rng.Next(-3, 3)));
        v[0] = 0;
        return v;
    }

    static Dictionary<string, float[]> FullData(int rows) =>
        Spec.Select((s, i) => (s.Name, Values(100 + i, (long)rows * s.Positions * s.Dim))).ToDictionary(p => p.Name, p => p.Item2);

    /// <summary>Writes the rows of <paramref name="all"/> in batches of the given sizes.</summary>
    static void AppendBatches(ActivationStoreWriter w, Dictionary<string, float[]> all, IEnumerable<int> batchSizes)
    {
        int row = 0;
        foreach (var b in batchSizes)
        {
            var batch = new Dictionary<string, FloatTensor>();
            foreach (var (name, p, d) in Spec)
                batch[name] = new FloatTensor(all[name].AsSpan(row * p * d, b * p * d).ToArray(), b, p, d);
            w.Append(batch);
            row += b;
        }
    }

    static void WriteStore(string path, ActivationStoreFormat format, ActivationStoreDType dtype, Dictionary<string, float[]> all, int rows,
        IReadOnlyDictionary<string, string>? metadata = null)
    {
        using var w = ActivationStoreWriter.Create(path, format, rows, Spec, metadata, dtype);
        AppendBatches(w, all, Chunks(rows, 10));
        w.Complete();
    }

    static IEnumerable<int> Chunks(int rows, int size)
    {
        for (int r = 0; r < rows; r += size) yield return Math.Min(size, rows - r);
    }

    /// <summary>fp32 is exact; fp16 rounds to nearest with relative error at most 2^-11, and absolute 2^-25 below the normal range.</summary>
    static void AssertClose(float[] expected, float[] actual, ActivationStoreDType dtype, string what)
    {
        Assert.That(actual, Has.Length.EqualTo(expected.Length), what);
        for (int i = 0; i < expected.Length; i++)
        {
            if (dtype == ActivationStoreDType.F32)
                Assert.That(actual[i], Is.EqualTo(expected[i]), $"{what}[{i}]");
            else
                Assert.That(actual[i], Is.EqualTo(expected[i]).Within(Math.Abs(expected[i]) / 2048.0 + Math.Pow(2, -25)), $"{what}[{i}]");
        }
    }

    [TestCase(ActivationStoreFormat.Safetensors, ActivationStoreDType.F32)]
    [TestCase(ActivationStoreFormat.Safetensors, ActivationStoreDType.F16)]
    [TestCase(ActivationStoreFormat.Npy, ActivationStoreDType.F32)]
    [TestCase(ActivationStoreFormat.Npy, ActivationStoreDType.F16)]
    public void WriteThenRead_UnevenBatches_RoundTripsWithinDtypePrecision(ActivationStoreFormat format, ActivationStoreDType dtype)
    {
        using var tmp = new TempDir();
        const int rows = 37;
        var all = FullData(rows);
        var path = tmp.Sub(format == ActivationStoreFormat.Npy ? "acts" : "acts.safetensors");
        var meta = new Dictionary<string, string> { ["model"] = "tiny", ["dataset"] = "statements.jsonl" };
        using (var w = ActivationStoreWriter.Create(path, format, rows, Spec, meta, dtype))
        {
            AppendBatches(w, all, [10, 1, 0, 16, 10]);
            Assert.That(w.RowsWritten, Is.EqualTo(37));
            w.Complete();
        }

        using var r = ActivationStoreReader.Open(path);
        Assert.That(r.Format, Is.EqualTo(format));
        Assert.That(r.Rows, Is.EqualTo(rows));
        Assert.That(r.Metadata, Is.EquivalentTo(meta));
        Assert.That(r.Tensors.Select(t => t.Name), Is.EquivalentTo(Spec.Select(s => s.Name)));
        foreach (var (name, p, d) in Spec)
        {
            Assert.That(r[name], Is.EqualTo(new ActivationStoreTensor(name, rows, p, d, dtype)));
            var whole = r.ReadRows(name, 0, rows);
            Assert.That(whole.Shape, Is.EqualTo(new[] { rows, p, d }));
            AssertClose(all[name], whole.Data, dtype, name);
            var middle = r.ReadRows(name, 11, 5);
            AssertClose(all[name].AsSpan(11 * p * d, 5 * p * d).ToArray(), middle.Data, dtype, name + " rows 11..16");
            Assert.That(r.ReadRows(name, rows, 0).Shape, Is.EqualTo(new[] { 0, p, d }));
        }
        Assert.That(Directory.GetFileSystemEntries(tmp.Path), Is.EqualTo(new[] { path }), "no temporary files left beside the store");
    }

    [TestCase(ActivationStoreDType.F32, "F32")]
    [TestCase(ActivationStoreDType.F16, "F16")]
    public void WriteSafetensors_Header_IsValidForSafetensorsFileWithTilingOffsetsAndSpacePadding(ActivationStoreDType dtype, string name)
    {
        using var tmp = new TempDir();
        const int rows = 7;
        var path = tmp.Sub("a.safetensors");
        WriteStore(path, ActivationStoreFormat.Safetensors, dtype, FullData(rows), rows, new Dictionary<string, string> { ["k"] = "v" });

        using var f = SafetensorsFile.Open(path); // validates that offsets tile the data section exactly
        Assert.That(f.Tensors.Select(t => t.Name), Is.EqualTo(Spec.Select(s => s.Name)), "declaration order is file order");
        Assert.That(f.Tensors.Select(t => t.DType.ToSafetensorsName()), Is.All.EqualTo(name));
        Assert.That(f.Tensors.Select(t => t.Shape), Is.EqualTo(Spec.Select(s => new long[] { rows, s.Positions, s.Dim })));
        Assert.That(f.Metadata["k"], Is.EqualTo("v"));
        Assert.That(f.DataStart % 8, Is.Zero);
        var bytes = File.ReadAllBytes(path);
        var header = Encoding.UTF8.GetString(bytes, 8, (int)BinaryPrimitives.ReadUInt64LittleEndian(bytes));
        Assert.That(header.TrimEnd(' '), Does.EndWith("}"));
        Assert.That(header.Length - header.TrimEnd(' ').Length, Is.LessThan(8), "padding is spaces, fewer than 8");
    }

    [Test]
    public void WriteNpy_Header_MatchesNumpySaveBytesExactly()
    {
        // What numpy.save writes for np.zeros((3, 2, 5), '<f4') (format 1.0, numpy.lib.format): magic \x93NUMPY, version 1 0,
        // uint16 LE header length 118 (0x76), the dict repr with sorted keys (62 chars), 20 spaces of growth padding
        // (21 minus the 1 digit of shape[0]), then 35 spaces and '\n' so that 10 + 118 = 128 is a multiple of 64.
        const string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2, 5), }";
        var expected = new byte[] { 0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', 1, 0, 0x76, 0x00 }
            .Concat(Encoding.ASCII.GetBytes(dict + new string(' ', 55) + "\n")).ToArray();
        Assert.That(expected, Has.Length.EqualTo(128));

        using var tmp = new TempDir();
        var folder = tmp.Sub("npy");
        var data = Enumerable.Range(0, 30).Select(i => i * 0.5f - 3).ToArray();
        using (var w = ActivationStoreWriter.Create(folder, ActivationStoreFormat.Npy, 3, [("blocks.0.hook_resid_post", 2, 5)]))
        {
            w.Append(new Dictionary<string, FloatTensor> { ["blocks.0.hook_resid_post"] = new(data, 3, 2, 5) });
            w.Complete();
        }
        var bytes = File.ReadAllBytes(Path.Combine(folder, "blocks.0.hook_resid_post.npy"));
        Assert.That(bytes[..128], Is.EqualTo(expected));
        Assert.That(bytes, Has.Length.EqualTo(128 + 30 * 4));
        var floats = new float[30];
        for (int i = 0; i < 30; i++) floats[i] = BinaryPrimitives.ReadSingleLittleEndian(bytes.AsSpan(128 + 4 * i));
        Assert.That(floats, Is.EqualTo(data), "raw little-endian C-order data follows the header");
        Assert.That(Directory.GetFiles(folder), Has.Length.EqualTo(1), "no metadata.json without metadata");
    }

    [TestCase(ActivationStoreFormat.Safetensors)]
    [TestCase(ActivationStoreFormat.Npy)]
    public void Dispose_WithoutComplete_LeavesNoStoreAndNoTemporaries(ActivationStoreFormat format)
    {
        using var tmp = new TempDir();
        var path = tmp.Sub("never");
        var all = FullData(20);
        using (var w = ActivationStoreWriter.Create(path, format, 20, Spec))
        {
            AppendBatches(w, all, [10]);
            Assert.That(Directory.GetFileSystemEntries(tmp.Path), Has.Length.EqualTo(1), "the temporary sibling exists while writing");
        }
        Assert.That(Directory.GetFileSystemEntries(tmp.Path), Is.Empty);
    }

    [TestCase(ActivationStoreFormat.Safetensors)]
    [TestCase(ActivationStoreFormat.Npy)]
    public void Dispose_WithoutComplete_KeepsThePreviousStoreIntact(ActivationStoreFormat format)
    {
        using var tmp = new TempDir();
        var path = tmp.Sub("acts");
        var old = FullData(12);
        WriteStore(path, format, ActivationStoreDType.F32, old, 12);

        var fresh = FullData(20);
        foreach (var k in fresh.Keys) fresh[k][0] = 42;
        using (var w = ActivationStoreWriter.Create(path, format, 20, Spec))
        {
            AppendBatches(w, fresh, [10, 10]);
            // All rows written but never completed: an interrupted capture.
        }

        Assert.That(Directory.GetFileSystemEntries(tmp.Path), Is.EqualTo(new[] { path }));
        using var r = ActivationStoreReader.Open(path);
        Assert.That(r.Rows, Is.EqualTo(12));
        foreach (var (name, _, _) in Spec) Assert.That(r.ReadRows(name, 0, 12).Data, Is.EqualTo(old[name]));
    }

    [TestCase(ActivationStoreFormat.Safetensors)]
    [TestCase(ActivationStoreFormat.Npy)]
    public void Complete_OverExistingStore_ReplacesIt(ActivationStoreFormat format)
    {
        using var tmp = new TempDir();
        var path = tmp.Sub("acts");
        WriteStore(path, format, ActivationStoreDType.F32, FullData(12), 12, new Dictionary<string, string> { ["run"] = "1" });
        var fresh = FullData(5);
        WriteStore(path, format, ActivationStoreDType.F16, fresh, 5);

        Assert.That(Directory.GetFileSystemEntries(tmp.Path), Is.EqualTo(new[] { path }));
        using var r = ActivationStoreReader.Open(path);
        Assert.That(r.Rows, Is.EqualTo(5));
        Assert.That(r.Metadata, Is.Empty, "nothing of the old store survives");
        Assert.That(r.Tensors.Select(t => t.DType), Is.All.EqualTo(ActivationStoreDType.F16));
    }

    static Dictionary<string, FloatTensor> Batch(int b, Func<string, int[]>? shapeOf = null) =>
        Spec.ToDictionary(s => s.Name, s =>
        {
            var shape = shapeOf?.Invoke(s.Name) ?? [b, s.Positions, s.Dim];
            return FloatTensor.Zeros(shape);
        });

    [Test]
    public void Append_WrongShape_ThrowsInvalidArgumentNamingTensorAndShape()
    {
        using var tmp = new TempDir();
        using var w = ActivationStoreWriter.Create(tmp.Sub("a.safetensors"), ActivationStoreFormat.Safetensors, 10, Spec);
        const string target = "blocks.1.hook_resid_post";

        var e = Assert.Throws<InvalidArgumentException>(() => w.Append(Batch(2, n => n == target ? [2, 2, 6] : null!)))!;
        Assert.That((e.Field, e.Value), Is.EqualTo((target, "[2,2,6]")));
        Assert.That(e.Message, Does.Contain("[b,2,5]"));

        e = Assert.Throws<InvalidArgumentException>(() => w.Append(Batch(2, n => n == target ? [2, 10] : null!)))!;
        Assert.That((e.Field, e.Value), Is.EqualTo((target, "[2,10]")), "rank 2");

        e = Assert.Throws<InvalidArgumentException>(() => w.Append(Batch(2, n => n == target ? [3, 2, 5] : null!)))!;
        Assert.That((e.Field, e.Value), Is.EqualTo((target, "[3,2,5]")), "batch size differs from the first tensor's");

        var missing = Batch(2);
        missing.Remove(target);
        e = Assert.Throws<InvalidArgumentException>(() => w.Append(missing))!;
        Assert.That(e.Field, Is.EqualTo(target));

        var extra = Batch(2);
        extra["blocks.9.hook_resid_post"] = FloatTensor.Zeros(2, 1, 8);
        e = Assert.Throws<InvalidArgumentException>(() => w.Append(extra))!;
        Assert.That((e.Field, e.Value), Is.EqualTo(("blocks.9.hook_resid_post", "[2,1,8]")));

        Assert.That(w.RowsWritten, Is.Zero, "a rejected batch writes nothing");
    }

    [Test]
    public void Append_MoreRowsThanDeclared_ThrowsAndKeepsRowsWritten()
    {
        using var tmp = new TempDir();
        using var w = ActivationStoreWriter.Create(tmp.Sub("a"), ActivationStoreFormat.Npy, 10, Spec);
        w.Append(Batch(8));
        var e = Assert.Throws<InvalidArgumentException>(() => w.Append(Batch(3)))!;
        Assert.That((e.Field, e.Value), Is.EqualTo(("rows", "11")));
        Assert.That(w.RowsWritten, Is.EqualTo(8));
        w.Append(Batch(2));
        w.Complete();
        Assert.That(Directory.Exists(tmp.Sub("a")));
    }

    [Test]
    public void Complete_MissingRows_ThrowsAndStoreStaysUnpublished()
    {
        using var tmp = new TempDir();
        var path = tmp.Sub("a.safetensors");
        using (var w = ActivationStoreWriter.Create(path, ActivationStoreFormat.Safetensors, 10, Spec))
        {
            w.Append(Batch(4));
            var e = Assert.Throws<InvalidArgumentException>(() => w.Complete())!;
            Assert.That((e.Field, e.Value), Is.EqualTo(("rows", "4")));
        }
        Assert.That(File.Exists(path), Is.False);
    }

    [TestCase("blocks/0")]
    [TestCase("blocks\\0")]
    [TestCase("..")]
    [TestCase("a..b")]
    [TestCase("")]
    public void Create_NpyWithUnsafeTensorName_ThrowsInvalidArgument(string name)
    {
        using var tmp = new TempDir();
        var e = Assert.Throws<InvalidArgumentException>(() =>
            ActivationStoreWriter.Create(tmp.Sub("a"), ActivationStoreFormat.Npy, 1, [(name, 1, 4)]).Dispose())!;
        Assert.That(e.Value, Is.EqualTo(name));
        Assert.That(Directory.GetFileSystemEntries(tmp.Path), Is.Empty);
    }

    [Test]
    public void Create_BadDeclarations_ThrowInvalidArgument()
    {
        using var tmp = new TempDir();
        var p = tmp.Sub("a.safetensors");
        var f = ActivationStoreFormat.Safetensors;
        Assert.Throws<InvalidArgumentException>(() => ActivationStoreWriter.Create(p, f, -1, Spec));
        Assert.Throws<InvalidArgumentException>(() => ActivationStoreWriter.Create(p, f, 1, []));
        Assert.Throws<InvalidArgumentException>(() => ActivationStoreWriter.Create(p, f, 1, [("a", 0, 4)]));
        Assert.Throws<InvalidArgumentException>(() => ActivationStoreWriter.Create(p, f, 1, [("a", 1, 0)]));
        Assert.Throws<InvalidArgumentException>(() => ActivationStoreWriter.Create(p, f, 1, [("a", 1, 4), ("a", 1, 4)]));
        Assert.Throws<InvalidArgumentException>(() => ActivationStoreWriter.Create(p, f, 1, [("__metadata__", 1, 4)]));
        Assert.Throws<InvalidArgumentException>(() =>
            ActivationStoreWriter.Create(tmp.Sub("n"), ActivationStoreFormat.Npy, 1, [("A", 1, 4), ("a", 1, 4)]), "case-only duplicates collide as file names");
        Assert.That(Directory.GetFileSystemEntries(tmp.Path), Is.Empty);
    }

    [Test]
    public void ReadRows_OutOfRangeOrUnknownTensor_ThrowsInvalidArgument()
    {
        using var tmp = new TempDir();
        var path = tmp.Sub("a.safetensors");
        WriteStore(path, ActivationStoreFormat.Safetensors, ActivationStoreDType.F32, FullData(5), 5);
        using var r = ActivationStoreReader.Open(path);
        Assert.Throws<InvalidArgumentException>(() => r.ReadRows(Spec[0].Name, 3, 3));
        Assert.Throws<InvalidArgumentException>(() => r.ReadRows(Spec[0].Name, -1, 1));
        Assert.That(Assert.Throws<InvalidArgumentException>(() => r.ReadRows("nope", 0, 1))!.Value, Is.EqualTo("nope"));
    }

    [Test]
    public void Open_MissingPath_ThrowsInvalidFileNamingIt()
    {
        using var tmp = new TempDir();
        var path = tmp.Sub("absent");
        Assert.That(Assert.Throws<InvalidFileException>(() => ActivationStoreReader.Open(path))!.File, Is.EqualTo(path));
    }

    /// <summary>
    /// 20,000 rows × 4 tensors × 1 position × 256 floats = 81.92 MB of fp32 data, written in batches of 64. Retained managed
    /// memory must stay far below the file size; random rows must read back exactly.
    /// </summary>
    [TestCase(ActivationStoreFormat.Safetensors)]
    [TestCase(ActivationStoreFormat.Npy)]
    public void Append_TwentyThousandRowsInBatchesOf64_MemoryStaysFlat(ActivationStoreFormat format)
    {
        const int rows = 20_000, dim = 256, batchRows = 64;
        var names = Enumerable.Range(0, 4).Select(l => $"blocks.{l}.hook_resid_post").ToArray();
        static float Value(int row, int tensor, int j) => row * 0.25f + tensor * 1000f + j * 0.001f;

        using var tmp = new TempDir();
        var path = tmp.Sub(format == ActivationStoreFormat.Npy ? "big" : "big.safetensors");
        // The session hands over fresh tensors each batch; reuse them here so the test measures the writer, not the test.
        var batch = names.ToDictionary(n => n, _ => FloatTensor.Zeros(batchRows, 1, dim));
        var tail = names.ToDictionary(n => n, _ => FloatTensor.Zeros(rows % batchRows, 1, dim));

        long managedBefore = GC.GetTotalMemory(forceFullCollection: true);
        long privateBefore = Process.GetCurrentProcess().PrivateMemorySize64;
        long allocatedBefore = GC.GetAllocatedBytesForCurrentThread();
        long managedPeak = managedBefore;
        var sw = Stopwatch.StartNew();
        using (var w = ActivationStoreWriter.Create(path, format, rows, names.Select(n => (n, 1, dim)).ToArray()))
        {
            for (int start = 0; start < rows; start += batchRows)
            {
                var current = rows - start >= batchRows ? batch : tail;
                int b = Math.Min(batchRows, rows - start);
                for (int t = 0; t < names.Length; t++)
                {
                    var data = current[names[t]].Data;
                    for (int r = 0; r < b; r++)
                        for (int j = 0; j < dim; j++)
                            data[r * dim + j] = Value(start + r, t, j);
                }
                w.Append(current);
                if (start % (batchRows * 64) == 0) managedPeak = Math.Max(managedPeak, GC.GetTotalMemory(false));
            }
            w.Complete();
        }
        sw.Stop();
        long allocated = GC.GetAllocatedBytesForCurrentThread() - allocatedBefore;
        long managedGrowth = GC.GetTotalMemory(forceFullCollection: true) - managedBefore;
        long privateGrowth = Process.GetCurrentProcess().PrivateMemorySize64 - privateBefore;

        long fileBytes = format == ActivationStoreFormat.Npy
            ? Directory.GetFiles(path).Sum(f => new FileInfo(f).Length)
            : new FileInfo(path).Length;
        TestContext.Out.WriteLine(
            $"{format}: {fileBytes / 1e6:F2} MB written in {sw.ElapsedMilliseconds} ms; retained managed growth {managedGrowth / 1e6:F3} MB, " +
            $"peak managed (no forced GC) growth {(managedPeak - managedBefore) / 1e6:F3} MB, allocated during capture {allocated / 1e6:F3} MB, " +
            $"private bytes growth {privateGrowth / 1e6:F2} MB");

        Assert.That(fileBytes, Is.GreaterThanOrEqualTo(81_920_000L));
        Assert.That(managedGrowth, Is.LessThan(16_000_000L), "retained managed memory");
        Assert.That(allocated, Is.LessThan(16_000_000L), "the writer allocates almost nothing per batch");

        using var reader = ActivationStoreReader.Open(path);
        var rng = new Random(7);
        foreach (var row in new[] { 0, 63, 64, rows - 1 }.Concat(Enumerable.Range(0, 6).Select(_ => rng.Next(rows))))
        {
            int t = rng.Next(names.Length);
            var got = reader.ReadRows(names[t], row, 1);
            Assert.That(got.Shape, Is.EqualTo(new[] { 1, 1, dim }));
            for (int j = 0; j < dim; j++)
                if (got.Data[j] != Value(row, t, j))
                    Assert.Fail($"{names[t]} row {row} element {j}: {got.Data[j]} != {Value(row, t, j)}");
        }
    }
}
