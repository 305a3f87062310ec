using OnnxInterp.Tokenization;

namespace OnnxInterp.Runtime;

/// <summary>
/// A base model and a post-trained version of it, checked to be comparable: the base's vocabulary (token by token; the
/// post model may add tokens after it),
/// hidden size, layer count and hook points, so activations captured from one can drive interventions in the
/// other. Owns both sessions.
/// </summary>
public sealed class ModelPair : IDisposable
{
    ModelPair(ModelSession @base, ModelSession post, HfTokenizer? tokenizer)
    {
        Base = @base;
        Post = post;
        Tokenizer = tokenizer;
    }

    public ModelSession Base { get; }
    public ModelSession Post { get; }

    /// <summary>The shared tokenizer (the base folder's), when the folders have tokenizer files.</summary>
    public HfTokenizer? Tokenizer { get; }

    public static ModelPair Open(string baseDir, string postDir, SessionConfig? config = null, Action<string>? warn = null)
    {
        var a = ModelSession.Open(baseDir, config, warn);
        try
        {
            var b = ModelSession.Open(postDir, config, warn);
            try
            {
                var tokenizer = CheckCompatible(a, b);
                return new ModelPair(a, b, tokenizer);
            }
            catch
            {
                b.Dispose();
                throw;
            }
        }
        catch
        {
            a.Dispose();
            throw;
        }
    }

    /// <summary>Throws <see cref="IncompatibleModelsException"/> naming the first difference; returns the base tokenizer if any.</summary>
    public static HfTokenizer? CheckCompatible(IHookedModel a, IHookedModel b)
    {
        var ca = a.Config;
        var cb = b.Config;
        void Same(string field, object va, object vb)
        {
            if (!Equals(va, vb))
                throw new IncompatibleModelsException($"the models differ in {field}: base {va}, post {vb}", b.Source, field, $"{va} vs {vb}");
        }
        // Post-training may add tokens past the base's vocabulary (Llama-3.1-Tulu-3-8B: 128,264 against Llama-3.1-8B's
        // 128,256); ids the base knows are checked token by token below. A post model with fewer ids cannot be compared.
        if (cb.VocabSize < ca.VocabSize)
            throw new IncompatibleModelsException($"the post model has a smaller vocabulary than the base: base {ca.VocabSize}, post {cb.VocabSize}",
                b.Source, "vocab_size", $"{ca.VocabSize} vs {cb.VocabSize}");
        Same("hidden_size", ca.HiddenSize, cb.HiddenSize);
        Same("num_hidden_layers", ca.NumLayers, cb.NumLayers);
        Same("intermediate_size", ca.IntermediateSize, cb.IntermediateSize);
        var ha = string.Join(",", a.Hooks.Select(h => h.Name));
        var hb = string.Join(",", b.Hooks.Select(h => h.Name));
        if (ha != hb) throw new IncompatibleModelsException("the models expose different hook points", b.Source, "hooks");

        bool hasA = HasTokenizer(a), hasB = HasTokenizer(b);
        if (!hasA && !hasB) return null;
        if (hasA != hasB)
            throw new IncompatibleModelsException("only one of the models has a tokenizer.json", hasA ? b.Source : a.Source, "tokenizer.json");
        var ta = a.Tokenizer;
        var tb = b.Tokenizer;
        // Post-training may add special tokens past the shared vocabulary; every id the base knows must mean the same.
        for (int id = 0; id < ta.VocabSize; id++)
        {
            var x = ta.IdToToken(id);
            var y = tb.IdToToken(id);
            if (x != y)
                throw new IncompatibleModelsException($"the tokenizers disagree on token id {id}: base '{x}', post '{y}'",
                    Path.Combine(b.Source, "tokenizer.json"), $"vocab[{id}]", y ?? "(none)");
        }
        return ta;
    }

    /// <summary>An export may come without tokenizer.json (token ids in, logits out); other models always have a tokenizer.</summary>
    static bool HasTokenizer(IHookedModel m) => m is not ModelSession s || File.Exists(Path.Combine(s.Directory, "tokenizer.json"));

    public void Dispose()
    {
        Base.Dispose();
        Post.Dispose();
    }
}
