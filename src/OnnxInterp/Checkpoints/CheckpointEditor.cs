using OnnxInterp.Internals;

namespace OnnxInterp.Checkpoints;

/// <summary>
/// Writes a copy of a Hugging Face checkpoint with some tensors replaced (model editing's output): config.json, the shard
/// index and the tokenizer files are copied; every shard is rewritten with its tensors in the same order, names, shapes and
/// dtypes (a replaced tensor is stored in its original dtype), the others streamed byte for byte.
/// </summary>
public static class CheckpointEditor
{
    /// <summary>
    /// Writes into <paramref name="destination"/> (created if needed; build it in a staging folder and move it into place,
    /// as <c>AtomicFile.WriteDirectory</c> does, so no half-written checkpoint is ever visible) the checkpoint of
    /// <paramref name="source"/> with the fp32 tensors of <paramref name="replace"/> in place of its own, and
    /// <paramref name="metadata"/> added to each shard's __metadata__.
    /// </summary>
    /// <exception cref="ModelMismatchException">A replaced tensor is not in the checkpoint.</exception>
    /// <exception cref="InvalidArgumentException">A replacement's element count differs from the tensor's.</exception>
    /// <exception cref="UnsupportedModelException">A replaced tensor is stored in a dtype other than F32, F16 or BF16.</exception>
    public static void WriteCopy(string source, string destination, IReadOnlyDictionary<string, float[]> replace,
        IReadOnlyDictionary<string, string>? metadata = null)
    {
        using var ckpt = HfCheckpoint.Open(source);
        foreach (var (name, data) in replace)
        {
            var info = ckpt.Info(name);
            if (info.ElementCount != data.Length)
                Throw.Argument($"the replacement has {data.Length} elements, the tensor {info.ShapeText} has {info.ElementCount}", name, data.Length);
            if (info.DType is not (TensorDType.F32 or TensorDType.F16 or TensorDType.BF16))
                Throw.Unsupported("an edited tensor is written in F32, F16 or BF16 only", source, name, info.DType);
        }
        Directory.CreateDirectory(destination);
        foreach (var file in new[] { HfCheckpoint.ConfigFile, HfCheckpoint.IndexFile }.Concat(HfCheckpoint.TokenizerFiles))
        {
            var from = Path.Combine(source, file);
            if (File.Exists(from)) File.Copy(from, Path.Combine(destination, file), overwrite: true);
        }
        foreach (var shard in ckpt.Files)
        {
            var meta = new Dictionary<string, string>(shard.Metadata);
            foreach (var (k, v) in metadata ?? new Dictionary<string, string>()) meta[k] = v;
            var entries = shard.Tensors.Select(t => replace.TryGetValue(t.Name, out var data)
                ? SafetensorsEntry.FromFloat32(t.Name, t.Shape, data, t.DType)
                : new SafetensorsEntry(t.Name, t.DType, t.Shape, s => Stream(shard, t, s))).ToList();
            SafetensorsWriter.Write(Path.Combine(destination, Path.GetFileName(shard.Path)), entries, meta);
        }
    }

    static void Stream(SafetensorsFile file, TensorInfo t, Stream destination)
    {
        var buffer = new byte[(int)Math.Min(t.ByteLength, 1 << 20)];
        for (long at = 0; at < t.ByteLength; at += buffer.Length)
        {
            var chunk = buffer.AsSpan(0, (int)Math.Min(buffer.Length, t.ByteLength - at));
            file.CopyTo(t, at, chunk);
            destination.Write(chunk);
        }
    }
}
