using OnnxInterp.Cli;
using OnnxInterp.Tests.Export;
using OnnxInterp.Tests.Reference;
using OnnxInterp.Tests.Support;
using static OnnxInterp.Tests.Support.CliRunner;

namespace OnnxInterp.Tests.Cli;

/// <summary>`export --weights int4 --fused` and `hook` as a user meets them.</summary>
public class HookCommandTests
{
    [Test]
    public void ExportInt4Fused_ThenInspect_ShowsTheForm()
    {
        using var tmp = new TempDir();
        Assert.That(Run("sample", "--out", tmp.Sub("hf"), "--layers", "2").Code, Is.Zero);
        var export = Run("export", tmp.Sub("hf"), "--out", tmp.Sub("onnx"), "--weights", "int4", "--block-size", "128", "--fused", "--no-hash");
        Assert.That(export.Code, Is.EqualTo(ExitCodes.Ok), export.Err);
        Assert.That(export.Out, Does.Contain("int4-b128").And.Contain("fused"));
        Assert.That(Run("inspect", tmp.Sub("onnx")).Out, Does.Contain("int4-b128 MatMulNBits, fused contrib ops"));
        Assert.That(Run("export", tmp.Sub("hf"), "--out", tmp.Sub("x"), "--weights", "int3").Code, Is.EqualTo(ExitCodes.Usage));
        Assert.That(Run("export", tmp.Sub("hf"), "--out", tmp.Sub("x"), "--weights", "int4", "--block-size", "64").Code, Is.EqualTo(ExitCodes.Usage));
        var fp16 = Run("export", tmp.Sub("hf"), "--out", tmp.Sub("x"), "--weights", "int4", "--dtype", "fp16");
        Assert.That(fp16.Code, Is.EqualTo(ExitCodes.InvalidInput));
        Assert.That(fp16.Err, Does.Contain("fp32"));
    }

    [Test]
    public void Hook_BuilderLayoutFolder_WritesAModelTheRunVerbOpens()
    {
        using var tmp = new TempDir();
        var ckpt = TinyCheckpointFactory.Create(new TinyCheckpointSpec("llama") { NumLayers = 2, Seed = 81 });
        BuilderLayoutModel.Write(ckpt, tmp.Sub("builder"), OnnxInterp.Export.WeightQuantization.Int4());
        var hook = Run("hook", tmp.Sub("builder"), "--out", tmp.Sub("hooked"));
        Assert.That(hook.Code, Is.EqualTo(ExitCodes.Ok), hook.Err);
        Assert.That(hook.Out, Does.Contain("8 hook points").And.Contain("int4-b32").And.Contain("SkipSimplifiedLayerNormalization chain"));
        var run = Run("run", tmp.Sub("hooked"), "--tokens", "1,5,9,12", "--hooks", "blocks.1.hook_resid_post", "--save", tmp.Sub("out.safetensors"));
        Assert.That(run.Code, Is.EqualTo(ExitCodes.Ok), run.Err);

        var refused = Run("hook", tmp.Sub("hooked"), "--out", tmp.Sub("again"));
        Assert.That(refused.Code, Is.EqualTo(ExitCodes.InvalidInput));
        Assert.That(refused.Err, Does.Contain("already has hook I/O"));
        Assert.That(Run("hook", tmp.Sub("nope"), "--out", tmp.Sub("x")).Code, Is.EqualTo(ExitCodes.InvalidInput));
        Assert.That(Run("hook", tmp.Sub("builder")).Code, Is.EqualTo(ExitCodes.Usage), "--out is required");
    }
}
