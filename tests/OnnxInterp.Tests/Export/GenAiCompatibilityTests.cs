using Microsoft.ML.OnnxRuntimeGenAI;
using OnnxInterp.Checkpoints;
using OnnxInterp.Checkpoints.Families;
using OnnxInterp.Runtime;
using OnnxInterp.Tests.Support;
using OnnxInterp.Tokenization;

namespace OnnxInterp.Tests.Export;

/// <summary>
/// ONNX Runtime GenAI 0.18.0 (an independent loader) reads our exported folder: its genai_config.json, its
/// graph with KV cache, and its tokenizer.json. Greedy generation must match greedy decoding by repeated full
/// forward passes through our own session.
/// </summary>
public class GenAiCompatibilityTests
{
    [TestCase("llama")]
    [TestCase("qwen2")]
    public void GenAi_LoadsExportAndGeneratesTheSameGreedyTokens(string modelType)
    {
        using var tmp = new TempDir();
        RandomCheckpoint.Write(tmp.Sub("hf"), new RandomCheckpointSpec { Family = ModelFamilies.FindByModelType(modelType)!, Layers = 2, Seed = 4 });
        OnnxInterp.Export.ModelExporter.Export(tmp.Sub("hf"), tmp.Sub("onnx"));

        var ours = HfTokenizer.FromDirectory(tmp.Sub("onnx"));
        const string text = "The city of Paris is in";
        int[] prompt = ours.Encode(text);

        using var model = new Model(tmp.Sub("onnx"));
        using var tokenizer = new Tokenizer(model);
        using var sequences = tokenizer.Encode(text);
        // transformers applies the post_processor's BOS for a PreTrainedTokenizerFast; GenAI's tokenizer does not.
        Assert.That(prompt[0], Is.EqualTo(RandomCheckpoint.Bos));
        Assert.That(sequences[0].ToArray(), Is.EqualTo(prompt[1..]), "GenAI's tokenizer reads our tokenizer.json the same way");

        const int newTokens = 8;
        using var p = new GeneratorParams(model);
        p.SetSearchOption("max_length", prompt.Length + newTokens);
        p.SetSearchOption("do_sample", false);
        using var generator = new Generator(model, p);
        generator.AppendTokens(prompt);
        while (!generator.IsDone()) generator.GenerateNextToken();
        var genai = generator.GetSequence(0).ToArray();

        using var session = ModelSession.Open(tmp.Sub("onnx"));
        var greedy = prompt.ToList();
        for (int i = 0; i < newTokens; i++)
        {
            var logits = session.Run(new ForwardRequest([greedy.ToArray()])).Logits;
            var last = logits.Vector(0, greedy.Count - 1);
            greedy.Add(last.IndexOf(System.Numerics.Tensors.TensorPrimitives.Max(last)));
        }
        Assert.That(genai, Is.EqualTo(greedy.ToArray()));
    }
}
