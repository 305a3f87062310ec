using System.Text.Json.Nodes;
using OnnxInterp.Checkpoints;
using OnnxInterp.Export;
using OnnxInterp.Tests.Reference;

namespace OnnxInterp.Tests.Support;

/// <summary>Writes tiny random checkpoints (from the reference factory) as Hugging Face folders and exports them.</summary>
public static class TestCheckpoints
{
    /// <summary>Writes config.json and safetensors; with <paramref name="shards"/> &gt; 1, a sharded index too.</summary>
    public static string Write(TinyCheckpoint ckpt, string dir, TensorDType dtype = TensorDType.F32, int shards = 1)
    {
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "config.json"), ckpt.ConfigJson);
        var names = ckpt.Weights.Keys.Order(StringComparer.Ordinal).ToList();
        if (shards <= 1)
        {
            SafetensorsWriter.Write(Path.Combine(dir, "model.safetensors"), names.Select(n => Entry(ckpt, n, dtype)).ToList());
            return dir;
        }
        var map = new JsonObject();
        for (int s = 0; s < shards; s++)
        {
            var file = $"model-{s + 1:D5}-of-{shards:D5}.safetensors";
            var part = names.Where((_, i) => i % shards == s).ToList();
            SafetensorsWriter.Write(Path.Combine(dir, file), part.Select(n => Entry(ckpt, n, dtype)).ToList());
            foreach (var n in part) map[n] = file;
        }
        var index = new JsonObject { ["metadata"] = new JsonObject { ["total_size"] = 0 }, ["weight_map"] = map };
        File.WriteAllText(Path.Combine(dir, "model.safetensors.index.json"), index.ToJsonString());
        return dir;
    }

    static SafetensorsEntry Entry(TinyCheckpoint c, string name, TensorDType dtype) =>
        SafetensorsEntry.FromFloat32(name, c.Shapes[name].Select(d => (long)d).ToArray(), c.Weights[name], dtype);

    /// <summary>The weights as the checkpoint stores them after rounding to <paramref name="dtype"/>, for the reference.</summary>
    public static Dictionary<string, float[]> Rounded(TinyCheckpoint c, TensorDType dtype)
    {
        if (dtype == TensorDType.F32) return c.Weights;
        return c.Weights.ToDictionary(kv => kv.Key, kv =>
        {
            var r = new float[kv.Value.Length];
            if (dtype == TensorDType.F16)
            {
                for (int i = 0; i < r.Length; i++) r[i] = (float)(Half)kv.Value[i];
            }
            else
            {
                var bf = new ushort[r.Length];
                FloatConversion.ToBFloat16(kv.Value, bf);
                for (int i = 0; i < r.Length; i++) r[i] = BitConverter.UInt32BitsToSingle((uint)bf[i] << 16);
            }
            return r;
        });
    }

    public static string Export(TinyCheckpoint ckpt, TempDir tmp, ExportOptions? options = null, TensorDType dtype = TensorDType.F32, int shards = 1)
    {
        var src = Write(ckpt, tmp.Sub("hf"), dtype, shards);
        var dst = tmp.Sub("onnx");
        ModelExporter.Export(src, dst, options);
        return dst;
    }
}

/// <summary>A temporary folder removed at dispose.</summary>
public sealed class TempDir : IDisposable
{
    public TempDir()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "onnxinterp-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public string Sub(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
