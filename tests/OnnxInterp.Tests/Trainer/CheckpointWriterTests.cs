using OnnxInterp.Checkpoints;
using OnnxInterp.Export;
using OnnxInterp.Runtime;
using OnnxInterp.Tests.Support;
using OnnxInterp.Trainer;

namespace OnnxInterp.Tests.Trainer;

public class CheckpointWriterTests
{
    /// <summary>Vocabulary 260 holds the byte-level test tokenizer's 258 tokens.</summary>
    static readonly TrainerConfig Small = new()
    {
        Hidden = 32, Intermediate = 48, Layers = 2, Heads = 4, KvHeads = 2, HeadDim = 16, Vocab = 260, MaxSeq = 64,
        RopeTheta = 50000, RmsNormEps = 1e-6, BosTokenId = RandomCheckpoint.Bos, EosTokenId = RandomCheckpoint.Eos,
    };

    static (string Tokenizer, string TokenizerConfig) Tokenizer(TempDir tmp)
    {
        var dir = tmp.Sub("random");
        RandomCheckpoint.Write(dir, new RandomCheckpointSpec { Layers = 1 });
        return (File.ReadAllText(Path.Combine(dir, "tokenizer.json")), File.ReadAllText(Path.Combine(dir, "tokenizer_config.json")));
    }

    [Test]
    public void Write_ThenExportAndRun_LogitsEqualTrainerForwardWithin1e4Relative()
    {
        using var tmp = new TempDir();
        var (tok, tokConfig) = Tokenizer(tmp);
        var model = TrainerTestModels.Random(Small, seed: 21);
        var hf = tmp.Sub("hf");
        CheckpointWriter.Write(hf, model, tok, tokConfig);

        using (var ckpt = HfCheckpoint.Open(hf))
        {
            Assert.That(ckpt.Config.TieWordEmbeddings, Is.False);
            Assert.That(ckpt.Config.RopeTheta, Is.EqualTo(50000));
            Assert.That(ckpt.Config.RmsNormEps, Is.EqualTo(1e-6));
            Assert.That(ckpt.Config.BosTokenId, Is.EqualTo(RandomCheckpoint.Bos));
            Assert.That(ckpt.Config.EosTokenIds, Is.EqualTo(new[] { RandomCheckpoint.Eos }));
        }
        var onnx = tmp.Sub("onnx");
        ModelExporter.Export(hf, onnx);
        using var session = ModelSession.Open(onnx);
        int[] ids = [RandomCheckpoint.Bos, 72, 101, 108, 108, 111, 44, 32, 119, 111, 114, 108, 100];
        var logits = session.Run(new ForwardRequest([ids])).Logits;

        var pass = new TrainingPass(model, 1, ids.Length);
        pass.Forward(ids);
        var ours = pass.Logits;
        double worst = 0;
        for (int t = 0; t < ids.Length; t++)
        {
            var row = logits.Vector(0, t);
            var mine = ours.Slice(t * Small.Vocab, Small.Vocab);
            double scale = 1;
            foreach (var x in mine) scale = Math.Max(scale, Math.Abs(x));
            for (int i = 0; i < Small.Vocab; i++) worst = Math.Max(worst, Math.Abs(row[i] - mine[i]) / scale);
        }
        TestContext.Out.WriteLine($"max relative logit error, ORT session vs trainer: {worst:E2}");
        Assert.That(worst, Is.LessThanOrEqualTo(1e-4));
    }

    [Test]
    public void Write_OverExistingFolder_ReplacesItAndLeavesNoStaging()
    {
        using var tmp = new TempDir();
        var (tok, tokConfig) = Tokenizer(tmp);
        var hf = tmp.Sub("hf");
        Directory.CreateDirectory(hf);
        File.WriteAllText(Path.Combine(hf, "stale.txt"), "old");
        CheckpointWriter.Write(hf, TinyLlama.Create(Small, seed: 1), tok, tokConfig);
        Assert.That(File.Exists(Path.Combine(hf, "stale.txt")), Is.False);
        Assert.That(Directory.GetFiles(hf).Select(Path.GetFileName), Is.EquivalentTo(new[] { "config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json" }));
        Assert.That(Directory.GetDirectories(tmp.Path).Select(Path.GetFileName), Is.EquivalentTo(new[] { "random", "hf" }));
        var config = ModelConfigReader.ReadFile(Path.Combine(hf, "config.json"));
        Assert.That((config.HiddenSize, config.NumKvHeads, config.HeadDim, config.VocabSize), Is.EqualTo((32, 2, 16, 260)));
    }

    [Test]
    public void Read_WrittenCheckpoint_GivesBackTheSameModel_BadShapeNamesTheTensor()
    {
        using var tmp = new TempDir();
        var (tok, tokConfig) = Tokenizer(tmp);
        var model = TrainerTestModels.Random(Small, seed: 22);
        CheckpointWriter.Write(tmp.Sub("hf"), model, tok, tokConfig);
        var back = CheckpointReader.Read(tmp.Sub("hf"));
        Assert.That(back.Config, Is.EqualTo(model.Config));
        for (int i = 0; i < model.Parameters.Count; i++)
            Assert.That(back.Parameters[i].Data, Is.EqualTo(model.Parameters[i].Data), model.Parameters[i].Name);

        // A checkpoint whose config says another MLP width than its tensors hold.
        var other = TrainerTestModels.Random(Small with { Intermediate = 40 }, seed: 22);
        CheckpointWriter.Write(tmp.Sub("bad"), other, tok, tokConfig);
        File.WriteAllText(Path.Combine(tmp.Sub("bad"), "config.json"), CheckpointWriter.ConfigJson(Small));
        var e = Assert.Throws<ModelMismatchException>(() => CheckpointReader.Read(tmp.Sub("bad")))!;
        Assert.That(e.File, Does.EndWith("model.safetensors"));
        Assert.That(e.Field, Is.EqualTo("model.layers.0.mlp.gate_proj.weight"));
        Assert.That(e.Value, Is.EqualTo("[40,32]"));
    }
}
