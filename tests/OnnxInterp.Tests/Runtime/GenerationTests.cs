using System.Numerics.Tensors;
using OnnxInterp.Checkpoints;
using OnnxInterp.Runtime;
using OnnxInterp.Tests.Support;

namespace OnnxInterp.Tests.Runtime;

public class GenerationTests
{
    static TempDir _tmp = null!;
    static ModelSession _model = null!;

    [OneTimeSetUp]
    public void SetUp()
    {
        _tmp = new TempDir();
        RandomCheckpoint.Write(_tmp.Sub("hf"), new RandomCheckpointSpec { Layers = 3, Seed = 9 });
        OnnxInterp.Export.ModelExporter.Export(_tmp.Sub("hf"), _tmp.Sub("onnx"), new OnnxInterp.Export.ExportOptions { HashSource = false });
        _model = ModelSession.Open(_tmp.Sub("onnx"));
    }

    [OneTimeTearDown]
    public void TearDown()
    {
        _model.Dispose();
        _tmp.Dispose();
    }

    static readonly int[][] Prompts = [[256, 84, 104, 101, 32, 99, 105, 116], [256, 72, 105], [256, 65, 66, 67, 68, 69]];

    /// <summary>Greedy decoding by full forward passes over the growing sequence, one prompt at a time.</summary>
    static int[] Naive(int[] prompt, int steps, IReadOnlyList<Intervention>? everywhere = null)
    {
        var seq = prompt.ToList();
        for (int i = 0; i < steps; i++)
        {
            var logits = _model.Run(new ForwardRequest([seq.ToArray()]) { Interventions = everywhere }).Logits;
            seq.Add(TensorPrimitives.IndexOfMax(logits.Vector(0, seq.Count - 1)));
        }
        return seq.Skip(prompt.Length).ToArray();
    }

    [Test]
    public void Greedy_WithKvCacheBatched_EqualsRepeatedFullForwardPerPrompt()
    {
        var r = _model.Generate(Prompts, new GenerationOptions { MaxNewTokens = 10, StopTokens = [] });
        for (int b = 0; b < Prompts.Length; b++)
            Assert.That(r.Tokens[b], Is.EqualTo(Naive(Prompts[b], 10)), $"row {b}");
        Assert.That(r.Stopped, Is.All.False);
    }

    [Test]
    public void Greedy_Batched_EqualsUnbatched()
    {
        var batched = _model.Generate(Prompts, new GenerationOptions { MaxNewTokens = 8, StopTokens = [] });
        for (int b = 0; b < Prompts.Length; b++)
            Assert.That(batched.Tokens[b], Is.EqualTo(_model.Generate([Prompts[b]], new GenerationOptions { MaxNewTokens = 8, StopTokens = [] }).Tokens[0]));
    }

    static Intervention Steer() => Intervention.Add("blocks.1.hook_resid_post",
        Enumerable.Range(0, 64).Select(i => (float)Math.Sin(i) * 3f).ToArray());

    [Test]
    public void Intervention_AtEveryPosition_EqualsFullForwardWithTheSameIntervention()
    {
        var r = _model.Generate(Prompts, new GenerationOptions { MaxNewTokens = 6, StopTokens = [], Interventions = [Steer()] });
        for (int b = 0; b < Prompts.Length; b++)
            Assert.That(r.Tokens[b], Is.EqualTo(Naive(Prompts[b], 6, [Steer()])), $"row {b}");
        var plain = _model.Generate(Prompts, new GenerationOptions { MaxNewTokens = 6, StopTokens = [] });
        Assert.That(r.Tokens, Is.Not.EqualTo(plain.Tokens), "the steering vector changes the output");
    }

    [TestCase(1)]
    [TestCase(3)]
    public void Intervention_FromStepK_ChangesNothingBeforeK(int k)
    {
        var plain = _model.Generate(Prompts, new GenerationOptions { MaxNewTokens = 8, StopTokens = [] });
        var steered = _model.Generate(Prompts, new GenerationOptions { MaxNewTokens = 8, StopTokens = [], Interventions = [Steer()], InterventionsFromStep = k });
        for (int b = 0; b < Prompts.Length; b++)
            Assert.That(steered.Tokens[b][..k], Is.EqualTo(plain.Tokens[b][..k]), $"row {b}");
        Assert.That(steered.Tokens.Select(t => t[k..]), Is.Not.EqualTo(plain.Tokens.Select(t => t[k..])), "it acts from step k on");
    }

    [Test]
    public void StopTokenAndLimit_EndRows()
    {
        var greedy = _model.Generate(Prompts, new GenerationOptions { MaxNewTokens = 5, StopTokens = [] });
        int stopAt = greedy.Tokens[1][2];
        var r = _model.Generate(Prompts, new GenerationOptions { MaxNewTokens = 5, StopTokens = [stopAt] });
        int cut = Array.IndexOf(greedy.Tokens[1], stopAt);
        Assert.That(r.Tokens[1], Is.EqualTo(greedy.Tokens[1][..cut]));
        Assert.That(r.Stopped[1], Is.True);
        Assert.That(r.Tokens.Where((_, b) => !r.Stopped[b]).Select(t => t.Length), Is.All.EqualTo(5));
    }

    [Test]
    public void Sampling_IsReproducibleWithASeed_AndTinyTopPIsGreedy()
    {
        var o = new GenerationOptions { MaxNewTokens = 12, StopTokens = [], Temperature = 1.5f, Seed = 7 };
        var a = _model.Generate(Prompts, o);
        Assert.That(_model.Generate(Prompts, o).Tokens, Is.EqualTo(a.Tokens));
        Assert.That(_model.Generate(Prompts, o with { Seed = 8 }).Tokens, Is.Not.EqualTo(a.Tokens));
        var nucleus = _model.Generate(Prompts, o with { TopP = 1e-6f });
        Assert.That(nucleus.Tokens, Is.EqualTo(_model.Generate(Prompts, new GenerationOptions { MaxNewTokens = 12, StopTokens = [] }).Tokens));
    }

    [Test]
    public void ProgressAndCancellation()
    {
        var steps = new List<GenerationProgress>();
        _model.Generate(Prompts, new GenerationOptions { MaxNewTokens = 4, StopTokens = [] }, new SyncProgress<GenerationProgress>(steps.Add));
        Assert.That(steps.Select(s => s.Step), Is.EqualTo(new[] { 1, 2, 3, 4 }));
        using var cts = new CancellationTokenSource();
        cts.Cancel();
        Assert.Throws<OperationCanceledException>(() => _model.Generate(Prompts, null, null, cts.Token));
        Assert.Throws<OperationCanceledException>(() => _model.Run(new ForwardRequest(Prompts[..1]), cts.Token));
    }

    [Test]
    public void BadOptions_GiveTypedErrors()
    {
        Assert.Throws<InvalidArgumentException>(() => _model.Generate(Prompts, new GenerationOptions { TopP = 0 }));
        Assert.Throws<InvalidArgumentException>(() => _model.Generate(Prompts, new GenerationOptions { Temperature = -1 }));
        Assert.Throws<InvalidArgumentException>(() => _model.Generate(Prompts, new GenerationOptions { MaxNewTokens = -1 }));
    }
}

/// <summary>IProgress that reports synchronously (Progress&lt;T&gt; posts to the thread pool).</summary>
public sealed class SyncProgress<T>(Action<T> report) : IProgress<T>
{
    public void Report(T value) => report(value);
}
