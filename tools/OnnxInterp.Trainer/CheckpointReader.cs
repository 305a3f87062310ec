using OnnxInterp.Checkpoints;
using OnnxInterp.Checkpoints.Families;
using OnnxInterp.Internals;

namespace OnnxInterp.Trainer;

/// <summary>Reads a checkpoint that <see cref="CheckpointWriter"/> wrote back into a <see cref="TinyLlama"/> (to post-train a shipped base).</summary>
public static class CheckpointReader
{
    /// <summary>
    /// The model in <paramref name="directory"/>: a Llama with an untied lm_head and F32 tensors of the shapes its
    /// config gives; anything else is an error naming the file, the tensor and the value found.
    /// </summary>
    public static TinyLlama Read(string directory)
    {
        using var ckpt = HfCheckpoint.Open(directory);
        var c = ckpt.Config;
        string configPath = Path.Combine(directory, HfCheckpoint.ConfigFile);
        if (c.Family != ModelFamilies.Llama) Throw.InvalidFile("the trainer reads Llama checkpoints only", configPath, "model_type", c.Family.ToString());
        if (c.TieWordEmbeddings) Throw.InvalidFile("the trainer's models have an untied lm_head", configPath, "tie_word_embeddings", "true");
        if (c.QkvBias || c.OProjBias || c.MlpBias) Throw.InvalidFile("the trainer's models have no biases", configPath, "attention_bias/mlp_bias", "true");
        var config = new TrainerConfig
        {
            Hidden = c.HiddenSize, Intermediate = c.IntermediateSize, Layers = c.NumLayers, Heads = c.NumHeads, KvHeads = c.NumKvHeads,
            HeadDim = c.HeadDim, Vocab = c.VocabSize, RopeTheta = c.RopeTheta, RmsNormEps = c.RmsNormEps, MaxSeq = c.MaxPositionEmbeddings,
            BosTokenId = c.BosTokenId ?? 1, EosTokenId = c.EosTokenIds.IsDefaultOrEmpty ? 2 : c.EosTokenIds[0],
        };
        var model = new TinyLlama(config);
        foreach (var p in model.Parameters)
        {
            if (!ckpt.Contains(p.Name)) Throw.InvalidFile("a tensor the model needs is missing", directory, p.Name, "absent");
            var shape = ckpt.Info(p.Name).Shape;
            if (!shape.SequenceEqual(p.Shape.Select(s => (long)s)))
                Throw.InvalidFile($"shape must be [{string.Join(", ", p.Shape)}]", directory, p.Name, $"[{string.Join(", ", shape)}]");
            ckpt.ReadFloat32(p.Name).CopyTo(p.Data, 0);
        }
        return model;
    }
}
