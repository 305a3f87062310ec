using OnnxInterp.Checkpoints;
using OnnxInterp.Export;
using OnnxInterp.Runtime;

namespace OnnxInterp.Tests.Export;

public class ExportSmokeTests
{
    [Test]
    public void Export_TinyLlama_LoadsAndRuns()
    {
        var dir = Path.Combine(Path.GetTempPath(), "oi-smoke-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "config.json"), """
        {"architectures":["LlamaForCausalLM"],"hidden_size":32,"intermediate_size":48,"num_hidden_layers":2,
         "num_attention_heads":4,"num_key_value_heads":2,"vocab_size":50,"rms_norm_eps":1e-5,"rope_theta":10000.0,
         "tie_word_embeddings":false,"hidden_act":"silu","max_position_embeddings":128}
        """);
        var cfg = ModelConfigReader.ReadFile(Path.Combine(dir, "config.json"));
        var rng = new Random(1);
        var entries = WeightNames.Expected(cfg).Select(e =>
        {
            long n = e.Shape.Aggregate(1L, (a, b) => a * b);
            var data = new float[n];
            for (int i = 0; i < n; i++) data[i] = (float)(rng.NextDouble() - 0.5) * 0.3f;
            return SafetensorsEntry.FromFloat32(e.Name, e.Shape, data, TensorDType.BF16);
        }).ToList();
        SafetensorsWriter.Write(Path.Combine(dir, "model.safetensors"), entries);
        var outDir = dir + "-onnx";
        ModelExporter.Export(dir, outDir);
        using var s = ModelSession.Open(outDir);
        var r = s.Run(new ForwardRequest([[1, 2, 3, 4]]) { Hooks = ["blocks.*"] });
        Assert.That(r.Logits.Shape, Is.EqualTo(new[] { 1, 4, 50 }));
        Assert.That(r.Cache, Has.Count.EqualTo(8));
        TestContext.Out.WriteLine(string.Join(",", r.Logits.Data.Take(5)));
    }
}
