using OnnxInterp.Data;
using OnnxInterp.Internals;
using OnnxInterp.Runtime;
using OnnxInterp.Tokenization;

namespace OnnxInterp.Analysis.Attribution;

/// <summary>A model whose attributions are compared; the first one given is the base.</summary>
public sealed record AttributionModel(string Name, IHookedModel Model, ChatTemplate Template);

/// <summary>Progress: prompt <see cref="Done"/> of <see cref="Total"/> (a prompt counts once per model).</summary>
public readonly record struct AttributionProgress(int Done, int Total, string Model);

/// <summary>
/// The same prompts attributed in the base and in each post-trained model, word by word: which words drive the judging
/// answer (logit(TRUE) − logit(FALSE) after the paper's few-shot prompt) or the refusal score (a harmful instruction in the
/// model's own chat template), by each method.
/// </summary>
public static class AttributionAnalysis
{
    /// <summary>The judging answer of each statement after the few-shot examples (in a seeded order); the statement's words are the features.</summary>
    public static AttributionSection Judging(string part, IReadOnlyList<AttributionModel> models, HfTokenizer tokenizer,
        IReadOnlyList<(string Statement, bool True)> statements, IReadOnlyList<(string Statement, bool True)> fewShot, AttributionOptions options,
        IProgress<AttributionProgress>? progress = null, CancellationToken cancellation = default)
    {
        if (fewShot.Count == 0) Throw.Argument("few-shot examples are needed", "examples", 0);
        var lines = JudgingAnswers.ExampleLines(fewShot);
        new Random(options.Seed).Shuffle(lines);
        string before = string.Concat(lines);
        var scalar = AttributionScalar.Judgement(tokenizer, options.TrueAnswer, options.FalseAnswer);
        var prompts = statements.Select(s => (s.Statement, (bool?)s.True,
            (Func<AttributionModel, FeaturePrompt>)(_ => FeaturePrompt.Words(tokenizer, before, s.Statement, JudgingAnswers.Question)))).ToList();
        return Run(part, models, tokenizer, prompts, scalar, options, progress, cancellation);
    }

    /// <summary>The refusal score of each instruction rendered in each model's chat template; the instruction's words are the features.</summary>
    public static AttributionSection Refusal(string part, IReadOnlyList<AttributionModel> models, HfTokenizer tokenizer,
        IReadOnlyList<string> instructions, AttributionOptions options, IProgress<AttributionProgress>? progress = null, CancellationToken cancellation = default)
    {
        var scalar = AttributionScalar.Refusal(tokenizer);
        var prompts = instructions.Select(i => (i, (bool?)null, (Func<AttributionModel, FeaturePrompt>)(m => InTemplate(tokenizer, m.Template, i)))).ToList();
        return Run(part, models, tokenizer, prompts, scalar, options, progress, cancellation);
    }

    /// <summary>The instruction inside the rendered template: the text around it is encoded apart (special tokens included).</summary>
    public static FeaturePrompt InTemplate(HfTokenizer tokenizer, ChatTemplate template, string instruction)
    {
        var rendered = template.RenderUser(instruction);
        int at = rendered.IndexOf(instruction, StringComparison.Ordinal);
        if (at < 0) Throw.Argument($"the chat template {template.Name} does not keep the instruction verbatim", "instruction", instruction);
        return FeaturePrompt.Words(tokenizer, rendered[..at], instruction, rendered[(at + instruction.Length)..], addSpecialTokens: !template.IncludesBos);
    }

    static AttributionSection Run(string part, IReadOnlyList<AttributionModel> models, HfTokenizer tokenizer,
        IReadOnlyList<(string Text, bool? Label, Func<AttributionModel, FeaturePrompt> Build)> prompts, AttributionScalar scalar,
        AttributionOptions o, IProgress<AttributionProgress>? progress, CancellationToken cancellation)
    {
        if (models.Count == 0) Throw.Argument("at least one model is needed", "models", 0);
        if (o.Methods.Count == 0) Throw.Argument("at least one method is needed", "attribution.methods", 0);
        int baseline = BaselineToken(tokenizer, o.BaselineToken);
        var result = new List<AttributedPrompt>();
        int done = 0, total = prompts.Count * models.Count;
        foreach (var (text, label, build) in prompts)
        {
            IReadOnlyList<string>? words = null;
            var perModel = new List<ModelAttribution>();
            foreach (var m in models)
            {
                cancellation.ThrowIfCancellationRequested();
                var prompt = build(m);
                var names = prompt.Features.Select(f => f.Text).ToList();
                if (words is not null && !words.SequenceEqual(names))
                    Throw.Argument($"the prompt's words differ between models ({string.Join(" ", words)} vs {string.Join(" ", names)})", "prompt", text);
                words ??= names;
                var f = CoalitionRunner.For(m.Model, prompt, scalar, baseline, o.BatchSize, cancellation);
                var scores = o.Methods.Select(method => FeatureAttribution.Run(method, prompt.Features.Count, f, o.ToSampling())).ToList();
                perModel.Add(new ModelAttribution(m.Name, scores[0].Full, scores[0].Baseline,
                    scores.Select(s => new MethodAttribution(s.Method, s.Scores, s.Evaluations, s.EfficiencyGap)).ToList()));
                progress?.Report(new AttributionProgress(++done, total, m.Name));
            }
            result.Add(new AttributedPrompt(text, label, words!, perModel));
        }
        return new AttributionSection(part, scalar.Kind, tokenizer.IdToToken(baseline) ?? baseline.ToString(System.Globalization.CultureInfo.InvariantCulture),
            o.Methods, o.Coalitions, result, Agreement(result, models, o.Methods[0]));
    }

    /// <summary>The token an absent word's tokens become: <paramref name="text"/> as the vocabulary spells it (or as one token), else the pad token, else the first EOS.</summary>
    public static int BaselineToken(HfTokenizer tokenizer, string? text)
    {
        if (text is null)
            return tokenizer.PadTokenId ?? (tokenizer.EosTokenIds.Count > 0 ? tokenizer.EosTokenIds[0]
                : throw new InvalidArgumentException("the tokenizer has no pad or EOS token; name a baseline token", "attribution.baselineToken", null));
        if (tokenizer.TokenToId(text) is int id) return id;
        var enc = tokenizer.Encode(text, addSpecialTokens: false);
        if (enc.Length != 1) Throw.Argument($"the baseline must be one token of the vocabulary (it encodes to {enc.Length})", "attribution.baselineToken", text);
        return enc[0];
    }

    static IReadOnlyList<AttributionAgreement> Agreement(IReadOnlyList<AttributedPrompt> prompts, IReadOnlyList<AttributionModel> models, AttributionMethod method)
    {
        var result = new List<AttributionAgreement>();
        foreach (var m in models.Skip(1))
        {
            var rhos = new List<double>();
            int sameTop = 0;
            foreach (var p in prompts)
            {
                var a = Scores(p, models[0].Name, method);
                var b = Scores(p, m.Name, method);
                if (Spearman(a, b) is double rho) rhos.Add(rho);
                if (TopWord(a) == TopWord(b)) sameTop++;
            }
            result.Add(new AttributionAgreement(m.Name, method, rhos.Count > 0 ? rhos.Average() : null, prompts.Count == 0 ? 0 : sameTop / (double)prompts.Count));
        }
        return result;
    }

    static IReadOnlyList<double> Scores(AttributedPrompt p, string model, AttributionMethod method) =>
        p.Models.First(x => x.Model == model).Methods.First(x => x.Method == method).Scores;

    /// <summary>The word with the largest |score|: the one that moves the scalar most, either way.</summary>
    public static int TopWord(IReadOnlyList<double> v)
    {
        int best = 0;
        for (int i = 1; i < v.Count; i++) if (Math.Abs(v[i]) > Math.Abs(v[best])) best = i;
        return best;
    }

    /// <summary>Spearman's rank correlation (average ranks for ties); null when either side is constant or has fewer than two values.</summary>
    public static double? Spearman(IReadOnlyList<double> a, IReadOnlyList<double> b)
    {
        if (a.Count != b.Count || a.Count < 2) return null;
        var ra = Ranks(a);
        var rb = Ranks(b);
        double ma = ra.Average(), mb = rb.Average(), sab = 0, saa = 0, sbb = 0;
        for (int i = 0; i < ra.Length; i++)
        {
            sab += (ra[i] - ma) * (rb[i] - mb);
            saa += (ra[i] - ma) * (ra[i] - ma);
            sbb += (rb[i] - mb) * (rb[i] - mb);
        }
        return saa == 0 || sbb == 0 ? null : sab / Math.Sqrt(saa * sbb);
    }

    static double[] Ranks(IReadOnlyList<double> v)
    {
        var order = Enumerable.Range(0, v.Count).OrderBy(i => v[i]).ToArray();
        var ranks = new double[v.Count];
        for (int i = 0; i < order.Length;)
        {
            int j = i;
            while (j + 1 < order.Length && v[order[j + 1]] == v[order[i]]) j++;
            for (int k = i; k <= j; k++) ranks[order[k]] = (i + j) / 2.0;
            i = j + 1;
        }
        return ranks;
    }
}
