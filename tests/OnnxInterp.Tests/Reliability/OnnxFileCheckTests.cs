using Google.Protobuf;
using Onnx;
using OnnxInterp.Export;
using OnnxInterp.Fuzz;
using OnnxInterp.Runtime;
using OnnxInterp.Tests.Support;

namespace OnnxInterp.Tests.Reliability;

/// <summary>External-data references inside model.onnx are checked before ONNX Runtime sees the file.</summary>
public class OnnxFileCheckTests
{
    static TempDir _tmp = null!;
    static string _seed = null!;

    [OneTimeSetUp]
    public void SetUp()
    {
        _tmp = new TempDir();
        _seed = _tmp.Sub("seed");
        Directory.CreateDirectory(_seed);
        Seeds.Export(_seed, ExportDType.Fp32);
    }

    [OneTimeTearDown]
    public void TearDown() => _tmp.Dispose();

    /// <summary>A copy of the seed export whose model.onnx has its first external initializer edited.</summary>
    static (string Dir, string Tensor) Edited(Action<TensorProto> edit, Action<ModelProto>? model = null)
    {
        var dir = _tmp.Sub("m" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(dir);
        foreach (var f in Directory.GetFiles(_seed)) File.Copy(f, Path.Combine(dir, Path.GetFileName(f)));
        var m = ModelProto.Parser.ParseFrom(File.ReadAllBytes(Path.Combine(dir, "model.onnx")));
        var t = m.Graph.Initializer.First(i => i.DataLocation == TensorProto.Types.DataLocation.External);
        edit(t);
        model?.Invoke(m);
        File.WriteAllBytes(Path.Combine(dir, "model.onnx"), m.ToByteArray());
        return (dir, t.Name);
    }

    static void SetEntry(TensorProto t, string key, string value) => t.ExternalData.First(e => e.Key == key).Value = value;

    static InvalidFileException OpenBad(string dir)
    {
        var e = Assert.Throws<InvalidFileException>(() => ModelSession.Open(dir).Dispose())!;
        Assert.That(e.File, Is.EqualTo(Path.Combine(dir, "model.onnx")), "the error names model.onnx");
        return e;
    }

    [TestCase("../model.onnx.data")]
    [TestCase("sub/../../model.onnx.data")]
    [TestCase("..\\model.onnx.data")]
    [TestCase("/etc/passwd")]
    [TestCase("/dev/zero")]
    [TestCase("")]
    public void Open_LocationOutsideFolder_RejectedNamingTensorFieldAndValue(string location)
    {
        var (dir, tensor) = Edited(t => SetEntry(t, "location", location));
        var e = OpenBad(dir);
        Assert.That((e.Field, e.Value), Is.EqualTo(($"{tensor}.external_data.location", location)));
    }

    [Test]
    public void Open_SymlinkToFileOutside_RejectedAfterResolving()
    {
        var outside = _tmp.Sub("outside.bin");
        File.WriteAllBytes(outside, new byte[1 << 20]);
        var (dir, tensor) = Edited(t => SetEntry(t, "location", "weights.bin"));
        File.CreateSymbolicLink(Path.Combine(dir, "weights.bin"), outside);
        var e = OpenBad(dir);
        Assert.That(e.Field, Is.EqualTo($"{tensor}.external_data.location"));
        Assert.That(e.Message, Does.Contain("resolves outside the model folder"));
    }

    [Test]
    public void Open_LocationThroughLinkedFolderOutside_Rejected()
    {
        var (dir, tensor) = Edited(t => SetEntry(t, "location", "up/seed/model.onnx.data"));
        Directory.CreateSymbolicLink(Path.Combine(dir, "up"), "..");
        Assert.That(OpenBad(dir).Field, Is.EqualTo($"{tensor}.external_data.location"));
    }

    [Test]
    public void Open_SymlinkInsideFolder_IsAcceptedAndRuns()
    {
        var (dir, _) = Edited(t => SetEntry(t, "location", "alias.data"), m =>
        {
            foreach (var t in m.Graph.Initializer.Where(i => i.DataLocation == TensorProto.Types.DataLocation.External))
                SetEntry(t, "location", "alias.data");
        });
        File.CreateSymbolicLink(Path.Combine(dir, "alias.data"), "model.onnx.data");
        using var s = ModelSession.Open(dir);
        using var reference = ModelSession.Open(_seed);
        var a = s.Run(new ForwardRequest([[1, 2, 3]])).Logits.Data;
        var b = reference.Run(new ForwardRequest([[1, 2, 3]])).Logits.Data;
        Assert.That(a, Is.EqualTo(b));
    }

    [TestCase("offset", "-1")]
    [TestCase("offset", "abc")]
    [TestCase("offset", "99999999999")]
    [TestCase("length", "99999999999")]
    [TestCase("length", "9223372036854775807")]
    public void Open_OffsetOrLengthOutsideFile_RejectedNamingField(string key, string value)
    {
        var (dir, tensor) = Edited(t => SetEntry(t, key, value));
        var e = OpenBad(dir);
        Assert.That((e.Field, e.Value), Is.EqualTo(($"{tensor}.external_data.{key}", value)));
    }

    [Test]
    public void Open_DataFileTruncated_RejectedBeforeOrt()
    {
        var (dir, _) = Edited(_ => { });
        var data = Path.Combine(dir, "model.onnx.data");
        File.WriteAllBytes(data, File.ReadAllBytes(data)[..100]);
        Assert.That(OpenBad(dir).Field, Does.EndWith(".external_data.length"));
    }

    [Test]
    public void Open_ExternalTensorInConstantAttribute_Rejected()
    {
        var (dir, _) = Edited(_ => { }, m =>
        {
            var c = new TensorProto { Name = "hidden", DataType = 1, DataLocation = TensorProto.Types.DataLocation.External };
            c.Dims.Add(1);
            c.ExternalData.Add(new StringStringEntryProto { Key = "location", Value = "../../etc/hostname" });
            var node = new NodeProto { OpType = "Constant", Name = "c" };
            node.Output.Add("c_out");
            node.Attribute.Add(new AttributeProto { Name = "value", Type = AttributeProto.Types.AttributeType.Tensor, T = c });
            m.Graph.Node.Insert(0, node);
        });
        var e = OpenBad(dir);
        Assert.That((e.Field, e.Value), Is.EqualTo(("hidden.external_data.location", "../../etc/hostname")));
    }

    [Test]
    public void Open_TruncatedProtobuf_TypedError()
    {
        var (dir, _) = Edited(_ => { });
        var path = Path.Combine(dir, "model.onnx");
        File.WriteAllBytes(path, File.ReadAllBytes(path)[..^7]);
        Assert.That(OpenBad(dir).Message, Does.StartWith("not a valid ONNX protobuf"));
    }

    [Test]
    public void Open_GraphOrtRefuses_IsInvalidFile()
    {
        // Well-formed protobuf, external data in bounds, but a node ORT cannot build: its error comes back typed.
        var (dir, _) = Edited(_ => { }, m => m.Graph.Node[^1].OpType = "NoSuchOp");
        Assert.That(OpenBad(dir).Message, Does.StartWith("ONNX Runtime could not load the graph"));
    }

    [Test]
    public void Open_ManifestNamesInputTheGraphLacks_IsModelMismatch()
    {
        var (dir, _) = Edited(_ => { });
        var path = Path.Combine(dir, ModelManifest.FileName);
        File.WriteAllText(path, File.ReadAllText(path).Replace("\"blocks.0.hook_resid_pre.scale\"", "\"blocks.0.hook_resid_pre.scale_x\""));
        var e = Assert.Throws<ModelMismatchException>(() => ModelSession.Open(dir).Dispose())!;
        Assert.That((e.File, e.Value), Is.EqualTo((path, "blocks.0.hook_resid_pre.scale_x")));
    }

    [Test]
    public void Open_ManifestLiesAboutVocabulary_IsModelMismatch()
    {
        var (dir, _) = Edited(_ => { });
        var path = Path.Combine(dir, ModelManifest.FileName);
        File.WriteAllText(path, File.ReadAllText(path).Replace("\"vocabSize\": 260", "\"vocabSize\": 261"));
        var e = Assert.Throws<ModelMismatchException>(() => ModelSession.Open(dir).Dispose())!;
        Assert.That(e.Value, Is.EqualTo("logits"));
    }
}
