using OnnxInterp.Internals;
using OnnxInterp.Runtime;
using OnnxInterp.Tokenization;

namespace OnnxInterp.Analysis.Diff;

/// <summary>A model of the diff; for a post-trained one, <see cref="Template"/> is the chat template the pair's chat texts are rendered in (null: the model's own).</summary>
public sealed record DiffModel(string Name, IHookedModel Model)
{
    public ChatTemplate? Template { get; init; }
}

/// <summary>How far the diff is: pair <see cref="Pair"/> (base → post), a stage ("forward", "directions", "steering") and its count.</summary>
public readonly record struct DiffProgress(string Pair, string Stage, int Done, int Total);

/// <summary>
/// Where post-training acts (model diffing, as the diffing toolkits of 2025–26 start: per-token KL, the logit lens,
/// activation differences and the activation-difference lens): each post-trained model against the base on the same
/// tokens. Per pair, one forward pass per model per batch captures the logits and every layer's resid_post; everything
/// else reads those: KL(post ‖ base) and top-1 disagreement at every position; the logit lens of both models (their own
/// head on every layer) and across them; ‖h_post − h_base‖, relative and cosine per layer; the top principal directions
/// of the differences at one layer with their logit-lens tokens; and greedy generations of the base with each direction
/// added, beside both models' own.
/// </summary>
public static class DiffAnalysis
{
    public static DiffResult Run(DiffModel baseModel, IReadOnlyList<DiffModel> post, IReadOnlyList<CorpusText> corpus, DiffOptions? options = null,
        IProgress<DiffProgress>? progress = null, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(baseModel);
        ArgumentNullException.ThrowIfNull(post);
        ArgumentNullException.ThrowIfNull(corpus);
        var o = options ?? new DiffOptions();
        Check(o);
        if (post.Count == 0) Throw.Argument("at least one post-trained model is needed", "post", 0);
        if (corpus.Count == 0) Throw.Argument("the corpus is empty", "corpus", 0);
        var c = baseModel.Model.Config;
        foreach (var m in post)
        {
            var pc = m.Model.Config;
            if (pc.NumLayers != c.NumLayers || pc.HiddenSize != c.HiddenSize || pc.VocabSize != c.VocabSize)
                throw new ModelMismatchException($"{m.Name} ({pc.NumLayers} layers, hidden {pc.HiddenSize}, vocabulary {pc.VocabSize}) does not match " +
                    $"{baseModel.Name} ({c.NumLayers}, {c.HiddenSize}, {c.VocabSize}): the diff compares the same positions and layers");
        }
        int layer = o.DirectionLayer is { } dl ? (dl < 0 ? c.NumLayers + dl : dl) : (c.NumLayers - 1) / 2;
        if ((uint)layer >= (uint)c.NumLayers) Throw.Argument($"layer outside 0..{c.NumLayers - 1} (or −{c.NumLayers}..−1 from the end)", "directionLayer", o.DirectionLayer);

        var tokenizer = baseModel.Model.Tokenizer;
        var baseHead = LensHead.Of(baseModel.Model);
        var pairs = new List<DiffPairResult>();
        foreach (var m in post)
        {
            var template = m.Template ?? m.Model.ChatTemplate;
            string pair = $"{baseModel.Name} → {m.Name}";
            var prompts = DiffCorpus.Render(corpus, tokenizer, template, o.MaxTokens);
            var diff = new PairDiff(o, baseHead, LensHead.Of(m.Model), c.NumLayers, layer);
            int pad = tokenizer.PadTokenId ?? c.PadTokenId ?? 0;
            // Sorted by length, so a batch pads little; results are kept in corpus order.
            var order = prompts.OrderBy(p => p.Length).ThenBy(p => p.Index).ToList();
            var batches = new List<IReadOnlyList<CorpusPrompt>>();
            for (int i = 0; i < order.Count; i += o.BatchSize) batches.Add(order.Skip(i).Take(o.BatchSize).ToList());
            for (int i = 0; i < batches.Count; i++)
            {
                cancellation.ThrowIfCancellationRequested();
                var request = ForwardRequest.FromPrompts(batches[i].Select(p => p.Ids).ToList(), pad) with { Hooks = ["blocks.*.hook_resid_post"] };
                using var rb = baseModel.Model.Run(request, cancellation);
                using var rp = m.Model.Run(request, cancellation);
                diff.Add(batches[i], rb, rp, cancellation);
                progress?.Report(new DiffProgress(pair, "forward", i + 1, batches.Count));
            }

            var tokens = diff.Tokens.OrderBy(t => t.Prompt).ThenBy(t => t.Position).ToList();
            var gridOf = new PromptGrid[prompts.Count];
            for (int i = 0; i < order.Count; i++) gridOf[order[i].Index] = diff.Grids[i];

            IReadOnlyList<DiffDirection> directions = [];
            IReadOnlyList<SteeredPrompt> steering = [];
            double steerNorm = 0;
            if (o.Directions > 0 && diff.Samples.Count > 0)
            {
                progress?.Report(new DiffProgress(pair, "directions", 0, 1));
                directions = Directions(diff.Samples, o, baseHead, tokenizer);
                steerNorm = o.Steering.Scale * diff.SampleNorm;
                if (o.Steering.Prompts > 0)
                    steering = Steer(baseModel.Model, m.Model, prompts, template, tokenizer, directions, layer, steerNorm, pad, o.Steering,
                        (done, total) => progress?.Report(new DiffProgress(pair, "steering", done, total)), cancellation);
            }

            pairs.Add(new DiffPairResult(baseModel.Name, m.Name, template.Name, prompts)
            {
                Tokens = tokens,
                Totals = Totals(prompts, tokens),
                Layers = diff.Layers(),
                Lens = diff.Summary(),
                Grids = gridOf,
                Directions = directions,
                DirectionLayer = layer,
                SteeringNorm = steerNorm,
                Steering = steering,
                TokenTexts = prompts.Select(p => TokenTexts(tokenizer, p.Ids)).ToList(),
            });
        }
        return new DiffResult(o, pairs, tokenizer);
    }

    static void Check(DiffOptions o)
    {
        if (o.BatchSize < 1) Throw.Argument("must be at least 1", "batchSize", o.BatchSize);
        if (o.MaxTokens < 2) Throw.Argument("must be at least 2", "maxTokens", o.MaxTokens);
        if (o.TopTokens < 0) Throw.Argument("must be 0 or more", "topTokens", o.TopTokens);
        if (o.ContextTokens < 0) Throw.Argument("must be 0 or more", "contextTokens", o.ContextTokens);
        if (o.HighlightPrompts < 0) Throw.Argument("must be 0 or more", "highlightPrompts", o.HighlightPrompts);
        if (o.Directions < 0) Throw.Argument("must be 0 or more", "directions", o.Directions);
        if (o.DirectionTokens < 1) Throw.Argument("must be at least 1", "directionTokens", o.DirectionTokens);
        if (o.MaxDirectionSamples < 1) Throw.Argument("must be at least 1", "maxDirectionSamples", o.MaxDirectionSamples);
        if (o.Steering.Prompts < 0) Throw.Argument("must be 0 or more", "steering.prompts", o.Steering.Prompts);
        if (o.Steering.MaxNewTokens < 1) Throw.Argument("must be at least 1", "steering.maxNewTokens", o.Steering.MaxNewTokens);
        if (!double.IsFinite(o.Steering.Scale)) Throw.Argument("must be a finite number", "steering.scale", o.Steering.Scale);
    }

    /// <summary>Totals by source × token class, with "all" for either, and the class "last" for each prompt's last token.</summary>
    public static IReadOnlyList<DiffTotal> Totals(IReadOnlyList<CorpusPrompt> prompts, IReadOnlyList<TokenDiff> tokens)
    {
        double sum = tokens.Sum(t => (double)t.Kl);
        var sources = new[] { "all" }.Concat(prompts.Select(p => p.Source).Distinct()).ToList();
        var classes = new (string Name, Func<TokenDiff, bool> Holds)[]
        {
            ("all", _ => true), ("template", t => t.Class == TokenClass.Template), ("content", t => t.Class == TokenClass.Content), ("last", t => t.Last),
        };
        var totals = new List<DiffTotal>();
        foreach (var s in sources)
            foreach (var (name, holds) in classes)
            {
                var set = tokens.Where(t => (s == "all" || prompts[t.Prompt].Source == s) && holds(t)).ToList();
                if (set.Count == 0) continue;
                var next = set.Where(t => !float.IsNaN(t.NextTokenGain)).ToList();
                double kl = set.Sum(t => (double)t.Kl);
                totals.Add(new DiffTotal(s, name, set.Count, kl / set.Count, sum > 0 ? kl / sum : 0, set.Count(t => t.Disagree) / (double)set.Count,
                    next.Count > 0 ? next.Average(t => (double)t.NextTokenGain) : null));
            }
        return totals;
    }

    static IReadOnlyList<DiffDirection> Directions(IReadOnlyList<float[]> samples, DiffOptions o, LensHead head, HfTokenizer tokenizer)
    {
        var top = DifferencePca.Top(samples, o.Directions);
        int d = samples[0].Length;
        var mean = new double[d];
        foreach (var r in samples) for (int i = 0; i < d; i++) mean[i] += r[i] / samples.Count;
        double meanNorm = Math.Sqrt(mean.Sum(x => x * x));
        var result = new List<DiffDirection>();
        var vectors = FloatTensor.Zeros(1, top.Count, d);
        for (int k = 0; k < top.Count; k++) top[k].Vector.CopyTo(vectors.Data, k * d);
        var logits = head.Logits(vectors);
        for (int k = 0; k < top.Count; k++)
        {
            var v = top[k].Vector;
            double cos = 0;
            for (int i = 0; i < d; i++) cos += v[i] * mean[i];
            var row = logits.Data.AsSpan(k * head.Vocab, head.Vocab).ToArray();
            var ranked = Enumerable.Range(0, row.Length).OrderByDescending(i => row[i]).ThenBy(i => i).ToList();
            result.Add(new DiffDirection(k + 1, top[k].Share, meanNorm > 0 ? cos / meanNorm : 0,
                ranked.Take(o.DirectionTokens).Select(i => tokenizer.Decode([i])).ToList(),
                ranked.AsEnumerable().Reverse().Take(o.DirectionTokens).Select(i => tokenizer.Decode([i])).ToList())
            {
                Vector = v,
            });
        }
        return result;
    }

    /// <summary>The first prompt of each source in turn, generated greedily by the base, by the base with each direction added, and by the post-trained model.</summary>
    static IReadOnlyList<SteeredPrompt> Steer(IHookedModel baseModel, IHookedModel postModel, IReadOnlyList<CorpusPrompt> prompts, ChatTemplate template,
        HfTokenizer tokenizer, IReadOnlyList<DiffDirection> directions, int layer, double norm, int pad, SteeringOptions o, Action<int, int> progress,
        CancellationToken cancellation)
    {
        var bySource = prompts.GroupBy(p => p.Source).Select(g => new Queue<CorpusPrompt>(g)).ToList();
        var chosen = new List<CorpusPrompt>();
        while (chosen.Count < o.Prompts && bySource.Any(q => q.Count > 0))
            foreach (var q in bySource)
                if (q.Count > 0 && chosen.Count < o.Prompts) chosen.Add(q.Dequeue());
        var stops = template.StopStrings.Select(tokenizer.TokenToId).OfType<int>().Concat(tokenizer.EosTokenIds).Distinct().ToList();
        var inputs = chosen.Select(p => p.Ids).ToList();
        var generation = new GenerationOptions { MaxNewTokens = o.MaxNewTokens, StopTokens = stops, PadTokenId = pad };
        int total = directions.Count + 2, done = 0;
        string[] Complete(IHookedModel model, GenerationOptions g)
        {
            cancellation.ThrowIfCancellationRequested();
            var r = model.Generate(inputs, g, cancellation: cancellation);
            progress(++done, total);
            return r.Tokens.Select(t => Cut(tokenizer.Decode(t, skipSpecialTokens: true), template)).ToArray();
        }
        var plain = Complete(baseModel, generation);
        var steered = directions.Select(d => Complete(baseModel, generation with
        {
            Interventions = [Intervention.Add(HookName.ResidPost(layer), d.Vector, (float)norm)],
        })).ToList();
        var own = Complete(postModel, generation);
        return chosen.Select((p, i) => new SteeredPrompt(p.Source, p.Text, plain[i], own[i], steered.Select(s => s[i]).ToList())).ToList();
    }

    static string Cut(string text, ChatTemplate template)
    {
        foreach (var stop in template.StopStrings)
        {
            int i = text.IndexOf(stop, StringComparison.Ordinal);
            if (i >= 0) text = text[..i];
        }
        return text;
    }

    /// <summary>
    /// Each token's text in context (special tokens shown): what decoding it after the few tokens before it adds to their
    /// decoding (a SentencePiece token keeps its leading space), or the token decoded alone where that fails (a split character).
    /// </summary>
    public static string[] TokenTexts(HfTokenizer tokenizer, IReadOnlyList<int> ids)
    {
        const int Window = 4;
        var texts = new string[ids.Count];
        var window = new List<int>(Window + 1);
        for (int i = 0; i < ids.Count; i++)
        {
            window.Clear();
            for (int j = Math.Max(0, i - Window); j < i; j++) window.Add(ids[j]);
            string before = tokenizer.Decode(window);
            window.Add(ids[i]);
            string with = tokenizer.Decode(window);
            texts[i] = with.StartsWith(before, StringComparison.Ordinal) && with.Length > before.Length ? with[before.Length..] : tokenizer.Decode([ids[i]]);
        }
        return texts;
    }
}
