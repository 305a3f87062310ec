using OnnxInterp.Checkpoints;
using OnnxInterp.Export;
using OnnxInterp.Runtime;
using OnnxInterp.Tests.Support;

namespace OnnxInterp.Tests.Runtime;

/// <summary>
/// The bound-output path of <see cref="ModelSession.Run(ForwardRequest, CancellationToken)"/>: the head on the last positions only (the graph's
/// logits_to_keep), device-resident hooks and KV cache (ORT memory; the CUDA path's code, run here on CPU), each against
/// the plain full run of the same session. Bit-identical where the arithmetic is the same (every result of today's
/// analyses), exact for copies.
/// </summary>
public class BoundOutputTests
{
    static TempDir _tmp = null!;
    static ModelSession _model = null!, _fullHead = null!;

    [OneTimeSetUp]
    public void SetUp()
    {
        _tmp = new TempDir();
        RandomCheckpoint.Write(_tmp.Sub("hf"), new RandomCheckpointSpec { Layers = 3, Seed = 21 });
        ModelExporter.Export(_tmp.Sub("hf"), _tmp.Sub("onnx"), new ExportOptions { HashSource = false });
        _model = ModelSession.Open(_tmp.Sub("onnx"));
        // The same graph, made to compute every position's logits and slice on the host (what exports without logits_to_keep do).
        _fullHead = ModelSession.Open(_tmp.Sub("onnx"), new SessionConfig { LogitsInGraph = false });
    }

    [OneTimeTearDown]
    public void TearDown()
    {
        _model.Dispose();
        _fullHead.Dispose();
        _tmp.Dispose();
    }

    static readonly int[][] Prompts = [[256, 84, 104, 101, 32, 99, 105, 116, 121], [256, 72, 105], [256, 65, 66, 67, 68, 69, 70]];

    [Test]
    public void Export_DeclaresLogitsToKeep_WithDefaultAllPositions()
    {
        Assert.That(_model.Manifest.Inputs, Has.Member(DecoderGraph.LogitsToKeep));
        Assert.That(_model.HeadOnKeptPositions, Is.True, "ORT lists an input with a default among the overridable initializers");
        Assert.That(_fullHead.HeadOnKeptPositions, Is.False);
        var all = _model.Run(ForwardRequest.FromPrompts(Prompts));
        Assert.That(all.Logits.Shape, Is.EqualTo(new[] { 3, 9, _model.Manifest.Config.VocabSize }));
    }

    [TestCase(new[] { -1 })]
    [TestCase(new[] { -3, -1 })]
    [TestCase(new[] { 8, 2, 5 })]
    [TestCase(new[] { 0 })]
    public void LogitPositions_HeadOnTheKeptSuffix_BitIdenticalToTheFullHead(int[] positions)
    {
        var request = ForwardRequest.FromPrompts(Prompts) with { LogitPositions = positions, Hooks = ["blocks.2.hook_resid_post"] };
        var kept = _model.Run(request);
        var full = _fullHead.Run(request);
        Assert.That(kept.Logits.Shape, Is.EqualTo(new[] { 3, positions.Length, _model.Manifest.Config.VocabSize }));
        Assert.That(kept.Logits.Data, Is.EqualTo(full.Logits.Data), "the vocabulary product per row does not depend on how many rows it runs on");
        Assert.That(kept.Cache["blocks.2.hook_resid_post"].Data, Is.EqualTo(full.Cache["blocks.2.hook_resid_post"].Data));
        // And the rows are the right ones: the full run's logits at those positions, sliced by hand.
        var every = _fullHead.Run(ForwardRequest.FromPrompts(Prompts)).Logits;
        for (int b = 0; b < 3; b++)
            for (int j = 0; j < positions.Length; j++)
            {
                int p = positions[j] < 0 ? 9 + positions[j] : positions[j];
                Assert.That(kept.Logits.Vector(b, j).ToArray(), Is.EqualTo(every.Vector(b, p).ToArray()), $"row {b}, position {p}");
            }
    }

    [Test]
    public void DeviceOutputs_HooksAndPresent_EqualTheHostRun_AndFeedTheNextStep()
    {
        var request = ForwardRequest.FromPrompts(Prompts) with { Hooks = ["blocks.*"], CapturePositions = [-2, -1], ReturnPresent = true, LogitPositions = [-1] };
        var host = _model.Run(request);
        using var dev = _model.Run(request with { DeviceOutputs = true });
        Assert.That(dev.Cache, Is.Empty, "device outputs are not copied to the host");
        Assert.That(dev.Present, Is.Null);
        Assert.That(dev.Logits.Data, Is.EqualTo(host.Logits.Data));
        Assert.That(dev.DeviceCache!.Keys, Is.EquivalentTo(host.Cache.Keys));
        foreach (var (name, t) in host.Cache)
        {
            var back = dev.DeviceCache[name].ToHost();
            Assert.That(back.Shape, Is.EqualTo(t.Shape), name.ToString());
            Assert.That(back.Data, Is.EqualTo(t.Data), name.ToString());
        }
        Assert.That(dev.DeviceCache["blocks.0.hook_resid_post"].Shape[1], Is.EqualTo(9), "every position stays on the device; ToHost keeps the requested ones");
        var present = dev.DevicePresent!.ToHost();
        for (int l = 0; l < 3; l++)
        {
            Assert.That(present.Keys[l].Data, Is.EqualTo(host.Present!.Keys[l].Data));
            Assert.That(present.Values[l].Data, Is.EqualTo(host.Present!.Values[l].Data));
        }

        // One decode step on the device cache equals the same step on the host cache.
        var mask = request.AttentionMask!.Select(r => r.Append(1).ToArray()).ToArray();
        int[][] next = [[50], [51], [52]];
        int[][] positions = mask.Select(r => new[] { r.Sum() - 1 }).ToArray();
        var onHost = _model.Run(new ForwardRequest(next) { AttentionMask = mask, PositionIds = positions, Past = host.Present, Hooks = ["blocks.1.*"] });
        using var onDevice = _model.Run(new ForwardRequest(next) { AttentionMask = mask, PositionIds = positions, DevicePast = dev.DevicePresent, Hooks = ["blocks.1.*"] });
        Assert.That(onDevice.Logits.Data, Is.EqualTo(onHost.Logits.Data));
        foreach (var (name, t) in onHost.Cache) Assert.That(onDevice.Cache[name].Data, Is.EqualTo(t.Data), name.ToString());
    }

    [Test]
    public void DevicePast_BadUse_IsAPreciseError()
    {
        var request = ForwardRequest.FromPrompts(Prompts) with { ReturnPresent = true, DeviceOutputs = true };
        using var dev = _model.Run(request);
        var mask = request.AttentionMask!.Select(r => r.Append(1).ToArray()).ToArray();
        var both = Assert.Throws<InvalidArgumentException>(() => _model.Run(new ForwardRequest([[1], [2], [3]])
        {
            AttentionMask = mask, DevicePast = dev.DevicePresent, Past = dev.DevicePresent!.ToHost(),
        }))!;
        Assert.That(both.Field, Is.EqualTo("past"));
        var other = Assert.Throws<InvalidArgumentException>(() => _fullHead.Run(new ForwardRequest([[1], [2], [3]]) { AttentionMask = mask, DevicePast = dev.DevicePresent }))!;
        Assert.That(other.Message, Does.Contain("session that made it"));
        var shape = Assert.Throws<InvalidArgumentException>(() => _model.Run(new ForwardRequest([[1], [2]]) { AttentionMask = mask[..2], DevicePast = dev.DevicePresent }))!;
        Assert.That(shape.Field, Is.EqualTo("past"));
        dev.DevicePresent!.Keys[0].Dispose();
        Assert.Throws<ObjectDisposedException>(() => dev.DevicePresent.Keys[0].ToHost());
    }

    [Test]
    public void Generate_OnTheDeviceCache_EqualsDecodingOnTheHostCache()
    {
        // Greedy decoding through host copies of the cache, step by step, as Generate did before the cache stayed in ORT memory.
        var request = ForwardRequest.FromPrompts(Prompts);
        var r = _model.Run(request with { ReturnPresent = true, LogitPositions = [-1] });
        var mask = request.AttentionMask!.Select(x => x.ToList()).ToArray();
        var next = mask.Select(x => x.Sum()).ToArray();
        var tokens = Enumerable.Range(0, 3).Select(_ => new List<int>()).ToArray();
        for (int step = 0; step < 6; step++)
        {
            for (int b = 0; b < 3; b++) tokens[b].Add(System.Numerics.Tensors.TensorPrimitives.IndexOfMax(r.Logits.Vector(b, r.Logits.Shape[1] - 1)));
            for (int b = 0; b < 3; b++) mask[b].Add(1);
            r = _model.Run(new ForwardRequest(tokens.Select(t => new[] { t[^1] }).ToArray())
            {
                AttentionMask = mask.Select(x => x.ToArray()).ToArray(),
                PositionIds = next.Select(p => new[] { p }).ToArray(),
                Past = r.Present,
                ReturnPresent = true,
            });
            for (int b = 0; b < 3; b++) next[b]++;
        }
        var generated = _model.Generate(Prompts, new GenerationOptions { MaxNewTokens = 6, StopTokens = [] });
        for (int b = 0; b < 3; b++) Assert.That(generated.Tokens[b], Is.EqualTo(tokens[b].ToArray()), $"row {b}");
    }

    [Test]
    public void SpinWhileRunning_RunsAndGeneration_BitIdenticalToNoSpinning()
    {
        // Spinning changes when the pool's threads pick work up, not how an operator splits it: the same bits.
        using var spinning = ModelSession.Open(_tmp.Sub("onnx"), new SessionConfig { SpinWhileRunning = true, Threads = 2 });
        using var still = ModelSession.Open(_tmp.Sub("onnx"), new SessionConfig { Threads = 2 });
        var request = ForwardRequest.FromPrompts(Prompts) with { Hooks = ["blocks.*"], ReturnPresent = true };
        var x = spinning.Run(request);
        var y = still.Run(request);
        Assert.That(x.Logits.Data, Is.EqualTo(y.Logits.Data));
        foreach (var (name, t) in y.Cache) Assert.That(x.Cache[name].Data, Is.EqualTo(t.Data), name.ToString());
        var options = new GenerationOptions { MaxNewTokens = 6, StopTokens = [] };
        Assert.That(spinning.Generate(Prompts, options).Tokens, Is.EqualTo(still.Generate(Prompts, options).Tokens));
    }
}

/// <summary>
/// decode.onnx (the model without hook I/O, which generation without interventions runs) and the weights every graph of
/// a model shares (one mapping, one packed copy): the same numbers as the hooked graph and as unshared sessions.
/// </summary>
public class DecodeGraphAndSharedWeightsTests
{
    [Test]
    public void Export_WritesDecodeGraph_OnlyWithHookIo()
    {
        using var tmp = new TempDir();
        RandomCheckpoint.Write(tmp.Sub("hf"), new RandomCheckpointSpec { Layers = 2, Seed = 5 });
        var hooked = ModelExporter.Export(tmp.Sub("hf"), tmp.Sub("hooked"), new ExportOptions { HashSource = false });
        Assert.That(hooked.Manifest.DecodeFile, Is.EqualTo(ModelExporter.DecodeFile));
        Assert.That(File.Exists(Path.Combine(tmp.Sub("hooked"), ModelExporter.DecodeFile)));
        var plain = ModelExporter.Export(tmp.Sub("hf"), tmp.Sub("plain"), ExportOptions.Plain with { HashSource = false });
        Assert.That(plain.Manifest.DecodeFile, Is.Null);
        Assert.That(File.Exists(Path.Combine(tmp.Sub("plain"), ModelExporter.DecodeFile)), Is.False);
        Assert.That(File.ReadAllText(Path.Combine(tmp.Sub("plain"), ModelManifest.FileName)), Does.Not.Contain("decodeFile"));
    }

    [Test]
    public void Export_Fused_WritesNoDecodeGraph()
    {
        // The fused graph without hooks fuses differently (its logits differ at rounding level), so it is not written:
        // results stay those of the hooked graph, bit for bit.
        using var tmp = new TempDir();
        RandomCheckpoint.Write(tmp.Sub("hf"), new RandomCheckpointSpec { Layers = 2, Seed = 6, HiddenSize = 64, Heads = 4, KvHeads = 2 });
        var fused = ModelExporter.Export(tmp.Sub("hf"), tmp.Sub("fused"), new ExportOptions { HashSource = false, Fused = true });
        Assert.That(fused.Manifest.DecodeFile, Is.Null);
    }

    [TestCase(false)]
    public void Generate_OnDecodeGraph_SameTokensAndLogitsAsTheHookedGraph(bool fused)
    {
        using var tmp = new TempDir();
        RandomCheckpoint.Write(tmp.Sub("hf"), new RandomCheckpointSpec { Layers = 3, Seed = 6, HiddenSize = 64, Heads = 4, KvHeads = 2 });
        ModelExporter.Export(tmp.Sub("hf"), tmp.Sub("with"), new ExportOptions { HashSource = false, Fused = fused });
        ModelExporter.Export(tmp.Sub("hf"), tmp.Sub("without"), new ExportOptions { HashSource = false, Fused = fused, DecodeGraph = false });
        using var with = ModelSession.Open(tmp.Sub("with"));
        using var without = ModelSession.Open(tmp.Sub("without"));
        Assert.That((with.HasDecodeGraph, without.HasDecodeGraph), Is.EqualTo((true, false)));
        int[][] prompts = [[256, 84, 104, 101, 32, 99], [256, 72, 105], [256, 65, 66, 67, 68]];
        var options = new GenerationOptions { MaxNewTokens = 12, StopTokens = [] };
        var a = with.Generate(prompts, options);
        var b = without.Generate(prompts, options);
        Assert.That(a.Tokens, Is.EqualTo(b.Tokens));
        // With an intervention, the hooked graph runs (decode.onnx has no injection inputs) and steers the same way.
        var steer = options with { Interventions = [Intervention.Add("blocks.1.hook_resid_post", Enumerable.Repeat(3f, 64).ToArray())] };
        Assert.That(with.Generate(prompts, steer).Tokens, Is.EqualTo(without.Generate(prompts, steer).Tokens));
    }

    [TestCase(false)]
    [TestCase(true)]
    public void Run_NoHooksNoInterventions_OnDecodeGraph_BitIdenticalToTheHookedGraph(bool int4)
    {
        using var tmp = new TempDir();
        RandomCheckpoint.Write(tmp.Sub("hf"), new RandomCheckpointSpec { Layers = 3, Seed = 7, HiddenSize = 64, Heads = 4, KvHeads = 2 });
        ModelExporter.Export(tmp.Sub("hf"), tmp.Sub("onnx"), new ExportOptions { HashSource = false, Quantization = int4 ? WeightQuantization.Int4() : null });
        using var plain = ModelSession.Open(tmp.Sub("onnx"));
        using var hooked = ModelSession.Open(tmp.Sub("onnx"), new SessionConfig { PlainWhenUnhooked = false });
        var request = ForwardRequest.FromPrompts([[256, 84, 104, 101, 32, 99, 105], [256, 72, 105]]) with { ReturnPresent = true };
        var x = plain.Run(request);
        var y = hooked.Run(request);
        Assert.That(x.Logits.Data, Is.EqualTo(y.Logits.Data));
        for (int l = 0; l < 3; l++) Assert.That(x.Present!.Keys[l].Data, Is.EqualTo(y.Present!.Keys[l].Data));
        // Asking for a hook (or an intervention) runs the hooked graph, on either session.
        var withHook = request with { Hooks = ["blocks.2.hook_resid_post"] };
        Assert.That(plain.Run(withHook).Logits.Data, Is.EqualTo(y.Logits.Data));
        var steer = request with { Interventions = [Intervention.Scale("blocks.0.hook_resid_post", 0f)] };
        Assert.That(plain.Run(steer).Logits.Data, Is.EqualTo(hooked.Run(steer).Logits.Data));
        Assert.That(plain.Run(steer).Logits.Data, Is.Not.EqualTo(y.Logits.Data), "the intervention acts");
    }

    [Test]
    public void SharedWeights_EveryGraph_BitIdenticalToUnsharedSessions()
    {
        using var tmp = new TempDir();
        RandomCheckpoint.Write(tmp.Sub("hf"), new RandomCheckpointSpec { Layers = 3, Seed = 8 });
        ModelExporter.Export(tmp.Sub("hf"), tmp.Sub("onnx"), new ExportOptions { HashSource = false });
        using var shared = ModelSession.Open(tmp.Sub("onnx"));
        using var own = ModelSession.Open(tmp.Sub("onnx"), new SessionConfig { ShareWeights = false });
        var request = ForwardRequest.FromPrompts([[256, 84, 104, 101, 32, 99, 105], [256, 72, 105]]) with { Hooks = ["blocks.*"], ReturnPresent = true };
        var x = shared.Run(request);
        var y = own.Run(request);
        Assert.That(x.Logits.Data, Is.EqualTo(y.Logits.Data));
        foreach (var (name, t) in y.Cache) Assert.That(x.Cache[name].Data, Is.EqualTo(t.Data), name.ToString());
        // The per-layer and head graphs read the same mapping.
        var h0 = y.Cache["blocks.0.hook_resid_pre"];
        var empty = FloatTensor.Zeros(2, shared.Manifest.Config.NumKvHeads, 0, shared.Manifest.Config.HeadDim);
        int[][] positions = ForwardRequest.DefaultPositions(request.AttentionMask!);
        var l0 = shared.RunLayer(0, h0, empty, empty, request.AttentionMask!, positions);
        Assert.That(l0.Data, Is.EqualTo(own.RunLayer(0, h0, empty, empty, request.AttentionMask!, positions).Data));
        Assert.That(shared.RunHead(l0).Data, Is.EqualTo(own.RunHead(l0).Data));
        // And decoding through decode.onnx matches.
        var options = new GenerationOptions { MaxNewTokens = 6, StopTokens = [] };
        Assert.That(shared.Generate([[256, 1, 2, 3]], options).Tokens, Is.EqualTo(own.Generate([[256, 1, 2, 3]], options).Tokens));
    }

    [Test]
    public void SharedWeights_InitializerOutsideTheDataFile_IsATypedErrorNamingTheGraph()
    {
        using var tmp = new TempDir();
        RandomCheckpoint.Write(tmp.Sub("hf"), new RandomCheckpointSpec { Layers = 1, Seed = 2 });
        ModelExporter.Export(tmp.Sub("hf"), tmp.Sub("onnx"), new ExportOptions { HashSource = false, LayerGraphs = false });
        var data = Path.Combine(tmp.Sub("onnx"), ModelExporter.DataFile);
        using (var fs = new FileStream(data, FileMode.Open)) fs.SetLength(fs.Length / 2);
        var e = Assert.Throws<InvalidFileException>(() => ModelSession.Open(tmp.Sub("onnx")))!;
        Assert.That(e.File, Does.EndWith(ModelExporter.ModelFile));
        Assert.That(e.Message, Does.Contain("past the end"), "OnnxFileCheck catches it before the mapping is read");
    }
}
