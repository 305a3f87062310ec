using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using OnnxInterp.Reports;

namespace OnnxInterp.Analysis.Diff;

/// <summary>
/// The diff's files and report section: per pair tokens-POST.csv (every token), layers-POST.csv, directions-POST.json
/// (the unit vectors), figures/diff-POST-*.png (the layers × tokens grids of the prompt holding the largest KL), and the
/// Markdown: totals, the top tokens with their contexts, highlighted prompts, the layer table, the directions and steering.
/// </summary>
public static class DiffReport
{
    /// <summary>At most this many positions in a figure's grid: a window ending a few tokens after the top token.</summary>
    public const int GridTokens = 32;

    public static void Write(string directory, DiffResult r)
    {
        Directory.CreateDirectory(Path.Combine(directory, "figures"));
        foreach (var p in r.Pairs)
        {
            string stem = Safe(p.Post);
            File.WriteAllText(Path.Combine(directory, $"tokens-{stem}.csv"), TokensCsv(r, p));
            File.WriteAllText(Path.Combine(directory, $"layers-{stem}.csv"), LayersCsv(p));
            if (p.Directions.Count > 0)
                File.WriteAllText(Path.Combine(directory, $"directions-{stem}.json"), JsonSerializer.Serialize(new
                {
                    @base = p.Base, post = p.Post, layer = p.DirectionLayer, hook = $"blocks.{p.DirectionLayer}.hook_resid_post", steeringNorm = p.SteeringNorm,
                    directions = p.Directions.Select(d => new { index = d.Index, share = d.Share, meanCosine = d.MeanCosine, vector = d.Vector }),
                }, ResultsJson.Files));
            if (Example(p) is { } ex) Figures(directory, r, p, ex);
        }
    }

    /// <summary>The prompt holding the largest KL, and the window of its positions the figures show.</summary>
    static (int Prompt, int From, int To)? Example(DiffPairResult p)
    {
        if (p.Tokens.Count == 0) return null;
        var top = p.Tokens.MaxBy(t => t.Kl);
        int n = p.Prompts[top.Prompt].Length;
        int to = Math.Min(n, top.Position + 8), from = Math.Max(0, to - GridTokens);
        return (top.Prompt, from, to);
    }

    static void Figures(string directory, DiffResult r, DiffPairResult p, (int Prompt, int From, int To) ex)
    {
        var g = p.Grids[ex.Prompt];
        var labels = p.TokenTexts[ex.Prompt][ex.From..ex.To].Select(Label).ToList();
        string where = $"prompt {ex.Prompt} ({p.Prompts[ex.Prompt].Source}), tokens {ex.From}–{ex.To - 1}";
        string stem = Path.Combine(directory, "figures", $"diff-{Safe(p.Post)}");
        Heatmap.WritePng(stem + "-activations.png", Window(g.Relative, ex), labels, $"‖h_{p.Post} − h_{p.Base}‖ / ‖h_{p.Base}‖, {where}", "relative difference", false);
        if (g.LensKl is null) return;
        Heatmap.WritePng(stem + "-divergence.png", Window(g.LensKl, ex), labels, $"KL({p.Post} lens ‖ {p.Base} lens) by layer, {where}", "KL (nats)", false);
        foreach (var (model, kl, top) in new[] { (p.Base, g.BaseLensKl!, g.BaseTop!), (p.Post, g.PostLensKl!, g.PostTop!) })
        {
            var cells = new string[top.GetLength(0), ex.To - ex.From];
            for (int l = 0; l < cells.GetLength(0); l++)
                for (int t = ex.From; t < ex.To; t++) cells[l, t - ex.From] = Label(r.TokenText(top[l, t]));
            Heatmap.WritePng($"{stem}-lens-{Safe(model)}.png", Window(kl, ex), labels, $"logit lens of {model}: top-1 token, KL(output ‖ lens), {where}", "KL (nats)", false,
                cellLabels: cells);
        }
    }

    static double[,] Window(float[,] grid, (int Prompt, int From, int To) ex)
    {
        var w = new double[grid.GetLength(0), ex.To - ex.From];
        for (int l = 0; l < w.GetLength(0); l++)
            for (int t = ex.From; t < ex.To; t++) w[l, t - ex.From] = grid[l, t];
        return w;
    }

    /// <summary>A token as a short figure label.</summary>
    static string Label(string token) => token.Length <= 8 ? token : token[..7] + "…";

    static string TokensCsv(DiffResult r, DiffPairResult p)
    {
        var sb = new StringBuilder("prompt,source,position,token_id,token,class,last,kl,base_top1,post_top1,next_token_gain,base_forms,post_forms,split\n");
        foreach (var t in p.Tokens)
            sb.Append(CultureInfo.InvariantCulture, $"{t.Prompt},{p.Prompts[t.Prompt].Source},{t.Position},{t.Token},{Csv(p.TokenTexts[t.Prompt][t.Position])},{(t.Class == TokenClass.Template ? "template" : "content")},")
              .Append(CultureInfo.InvariantCulture, $"{(t.Last ? 1 : 0)},{t.Kl:R},{Csv(r.TokenText(t.BaseTop1))},{Csv(r.TokenText(t.PostTop1))},{(float.IsNaN(t.NextTokenGain) ? "" : t.NextTokenGain.ToString("R", CultureInfo.InvariantCulture))},")
              .Append(CultureInfo.InvariantCulture, $"{t.BaseForms},{t.PostForms},{t.Split}\n");
        return sb.ToString();
    }

    static string LayersCsv(DiffPairResult p)
    {
        var sb = new StringBuilder("layer,diff_norm,base_norm,relative,relative_template,relative_content,cosine,base_lens_kl,base_median_rank,base_top1_agreement," +
            "post_lens_kl,post_median_rank,post_top1_agreement,lens_kl,lens_agreement,post_in_base_head_kl_own,post_in_base_head_kl_head,base_in_post_head_kl_own,base_in_post_head_kl_head\n");
        static string N(double? v) => v is { } x ? x.ToString("R", CultureInfo.InvariantCulture) : "";
        foreach (var l in p.Layers)
            sb.AppendLine(string.Join(",", l.Layer.ToString(CultureInfo.InvariantCulture), N(l.DiffNorm), N(l.BaseNorm), N(l.Relative), N(l.RelativeTemplate), N(l.RelativeContent), N(l.Cosine),
                N(l.BaseLens?.KlToOutput), N(l.BaseLens?.MedianRank), N(l.BaseLens?.Top1Agreement), N(l.PostLens?.KlToOutput), N(l.PostLens?.MedianRank), N(l.PostLens?.Top1Agreement),
                N(l.LensKl), N(l.LensAgreement), N(l.PostThroughBaseHead?.KlToOwn), N(l.PostThroughBaseHead?.KlToHead), N(l.BaseThroughPostHead?.KlToOwn), N(l.BaseThroughPostHead?.KlToHead)));
        return sb.ToString();
    }

    static string Csv(string s) => "\"" + s.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";

    /// <summary>The report section (headings from level 3).</summary>
    public static string Markdown(DiffResult r, string corpus)
    {
        var sb = new StringBuilder();
        var o = r.Options;
        sb.AppendLine($"Each post-trained model against the base on the same tokens ({corpus}): KL(post ‖ base) of the next-token distributions and top-1 " +
            "disagreement at every position; the logit lens of both models (each layer's residual stream through the model's own final norm and unembedding) " +
            "and across them; ‖h_post − h_base‖ per layer; the principal directions of those differences with the tokens their logit lens promotes, and the base " +
            "model steered along each. Chat texts are rendered in the post-trained model's chat template for both models; a token is a *template* token when it " +
            "comes from the template's own text (or is BOS), a *content* token when it comes from the user's text. A token's KL is that of the prediction made after it.");
        sb.AppendLine();
        foreach (var p in r.Pairs) Pair(sb, r, p);
        return sb.ToString();
    }

    static void Pair(StringBuilder sb, DiffResult r, DiffPairResult p)
    {
        var o = r.Options;
        sb.AppendLine($"### {p.Base} → {p.Post}");
        sb.AppendLine();
        sb.AppendLine($"{p.Prompts.Count} prompts, {p.Tokens.Count} tokens; chat template `{p.Template}`.");
        sb.AppendLine();
        sb.AppendLine("| Source | Class | Tokens | Mean KL (nats) | Share of total KL | Top-1 disagreement | Mean Δ log p(next text token) |");
        sb.AppendLine("|---|---|---:|---:|---:|---:|---:|");
        foreach (var t in p.Totals)
            sb.AppendLine($"| {t.Source} | {t.TokenClass} | {t.Tokens} | {F(t.MeanKl, "0.0000")} | {F(t.KlShare, "0.0%")} | {F(t.Top1Disagreement, "0.0%")} | {(t.MeanNextTokenGain is { } g ? S(g) : "–")} |");
        sb.AppendLine();
        sb.AppendLine("*last*: each prompt's last token, whose prediction is the reply's first token (or the judgement). Δ log p(next): log p_post − log p_base of the token that follows in the text.");
        sb.AppendLine();

        var top = DiffPairSection.Top(r, p);
        if (top.Count > 0)
        {
            sb.AppendLine($"#### Tokens where post-training changed the prediction most");
            sb.AppendLine();
            sb.AppendLine($"| # | Source | Class | Context → <b>token</b> | KL | {p.Base} top-1 | {p.Post} top-1 |");
            sb.AppendLine("|---:|---|---|---|---:|---|---|");
            foreach (var t in top)
                sb.AppendLine($"| {t.Rank} | {t.Source} | {t.TokenClass} | {Md(t.Context)}<b>{Md(t.Token)}</b> | {F(t.Kl, "0.000")} | {Quote(t.BaseTop1)} | {Quote(t.PostTop1)} |");
            sb.AppendLine();
        }

        Highlights(sb, r, p);
        Layers(sb, p);
        Directions(sb, p);
    }

    /// <summary>The prompts holding the largest KL as text, each token on a background as red as its KL (relative to the pair's largest).</summary>
    static void Highlights(StringBuilder sb, DiffResult r, DiffPairResult p)
    {
        if (r.Options.HighlightPrompts == 0 || p.Tokens.Count == 0) return;
        double max = Math.Max(1e-9, p.Tokens.Max(t => t.Kl));
        var byPrompt = p.Tokens.GroupBy(t => t.Prompt).Select(g => (Prompt: g.Key, Max: g.Max(t => t.Kl)))
            .OrderByDescending(x => x.Max).ThenBy(x => x.Prompt).Take(r.Options.HighlightPrompts).ToList();
        sb.AppendLine("#### Highlighted prompts");
        sb.AppendLine();
        sb.AppendLine($"The prompts holding the largest KL; a token's background is as red as the KL of the prediction after it (full red: {F(max, "0.000")} nats). " +
            "Hover a token (HTML report) for its KL and both models' predictions.");
        sb.AppendLine();
        var tokens = p.Tokens.ToLookup(t => t.Prompt);
        foreach (var (prompt, _) in byPrompt)
        {
            var texts = p.TokenTexts[prompt];
            var line = new StringBuilder("<p style=\"font-family: ui-monospace, monospace; white-space: pre-wrap; line-height: 1.9; border: 1px solid #d0d7de; padding: 0.5rem\">");
            line.Append(WebUtility.HtmlEncode($"[{p.Prompts[prompt].Source} #{prompt}] "));
            foreach (var t in tokens[prompt].OrderBy(t => t.Position))
            {
                double a = Math.Clamp(t.Kl / max, 0, 1);
                string title = $"KL {t.Kl.ToString("0.0000", CultureInfo.InvariantCulture)}; {p.Base}: {Visible(r.TokenText(t.BaseTop1))}; {p.Post}: {Visible(r.TokenText(t.PostTop1))}";
                line.Append(CultureInfo.InvariantCulture, $"<span style=\"background: rgba(220, 38, 38, {a:0.00})\" title=\"{WebUtility.HtmlEncode(title)}\">")
                    .Append(WebUtility.HtmlEncode(texts[t.Position]).Replace("\n", "↵<br>", StringComparison.Ordinal).Replace("\r", "", StringComparison.Ordinal))
                    .Append("</span>");
            }
            line.Append("</p>");
            sb.AppendLine(line.ToString());
            sb.AppendLine();
        }
    }

    static void Layers(StringBuilder sb, DiffPairResult p)
    {
        sb.AppendLine("#### Layers");
        sb.AppendLine();
        bool lens = p.Layers.Any(l => l.BaseLens is not null), cross = p.Layers.Any(l => l.PostThroughBaseHead is not null);
        sb.Append("| Layer | ‖Δh‖ | ‖Δh‖/‖h_base‖ | template | content | cos |");
        if (lens) sb.Append($" {p.Base} lens KL | {p.Base} median rank | {p.Post} lens KL | {p.Post} median rank | KL(post lens ‖ base lens) | lens top-1 agree |");
        if (cross) sb.Append($" {p.Post} via {p.Base} head: KL to {p.Post} / to {p.Base} | {p.Base} via {p.Post} head: KL to {p.Base} / to {p.Post} |");
        sb.AppendLine();
        sb.Append("|---:|---:|---:|---:|---:|---:|");
        if (lens) sb.Append("---:|---:|---:|---:|---:|---:|");
        if (cross) sb.Append("---:|---:|");
        sb.AppendLine();
        foreach (var l in p.Layers)
        {
            sb.Append(CultureInfo.InvariantCulture, $"| {l.Layer} | {F(l.DiffNorm)} | {F(l.Relative, "0.0000")} | {N(l.RelativeTemplate)} | {N(l.RelativeContent)} | {F(l.Cosine, "0.0000")} |");
            if (lens)
                sb.Append($" {F(l.BaseLens!.KlToOutput)} | {F(l.BaseLens.MedianRank, "0.#")} | {F(l.PostLens!.KlToOutput)} | {F(l.PostLens.MedianRank, "0.#")} | {F(l.LensKl!.Value, "0.0000")} | {F(l.LensAgreement!.Value, "0.0%")} |");
            if (cross)
                sb.Append($" {F(l.PostThroughBaseHead!.KlToOwn)} / {F(l.PostThroughBaseHead.KlToHead)} | {F(l.BaseThroughPostHead!.KlToOwn)} / {F(l.BaseThroughPostHead.KlToHead)} |");
            sb.AppendLine();
        }
        sb.AppendLine();
        sb.AppendLine("resid_post of each layer; activation columns leave out each prompt's first token. Lens KL: KL(model's output ‖ its lens at the layer); " +
            "median rank: of the model's final top-1 token under its lens (0: already on top). Cross-model lens: one model's residual stream through the other's " +
            "final norm and unembedding, KL from each model's output.");
        sb.AppendLine();
        if (p.Lens is { } s)
        {
            sb.AppendLine($"Predictions form (the lens's top-1 stays the final one from this layer up, mean over tokens) at layer {F(s.BaseForms, "0.00")} in {p.Base} " +
                $"and {F(s.PostForms, "0.00")} in {p.Post}; where the two outputs disagree ({s.SplitTokens} tokens), their lenses part for good at layer " +
                $"{(s.Split is { } x ? F(x, "0.00") : "–")} on average.");
            sb.AppendLine();
        }
        string stem = $"diff-{Safe(p.Post)}";
        var figures = new List<string> { $"![{p.Post} − {p.Base}, relative](figures/{stem}-activations.png)" };
        if (lens)
            figures.InsertRange(0, [$"![KL by layer and position](figures/{stem}-divergence.png)", $"![{p.Base} lens](figures/{stem}-lens-{Safe(p.Base)}.png)",
                $"![{p.Post} lens](figures/{stem}-lens-{Safe(p.Post)}.png)"]);
        if (p.Tokens.Count > 0)
        {
            sb.AppendLine(string.Join("\n", figures));
            sb.AppendLine();
            sb.AppendLine("*The prompt holding the largest KL, layers × tokens: the divergence of the two models' lenses (the top row is the output KL), each model's " +
                "lens (its top-1 token in each cell, coloured by KL from its output), and the relative activation difference.*");
            sb.AppendLine();
        }
    }

    static void Directions(StringBuilder sb, DiffPairResult p)
    {
        if (p.Directions.Count == 0) return;
        sb.AppendLine($"#### The activation-difference lens (resid_post of layer {p.DirectionLayer})");
        sb.AppendLine();
        sb.AppendLine($"Principal directions of h_{p.Post} − h_{p.Base} (uncentred, so the shift common to every token counts), each read through " +
            $"{p.Base}'s final norm and unembedding; cos: with the mean difference.");
        sb.AppendLine();
        sb.AppendLine("| # | Share of ‖Δ‖² | cos(mean Δ) | Promotes | Suppresses |");
        sb.AppendLine("|---:|---:|---:|---|---|");
        foreach (var d in p.Directions)
            sb.AppendLine($"| {d.Index} | {F(d.Share, "0.0%")} | {F(d.MeanCosine)} | {string.Join(" ", d.Promoted.Select(Quote))} | {string.Join(" ", d.Suppressed.Select(Quote))} |");
        sb.AppendLine();
        if (p.Steering.Count == 0) return;
        sb.AppendLine($"Greedy completions; steered: {p.Base} with the direction × {F(p.SteeringNorm)} added at every position (the mean ‖Δh‖ there × the steering scale).");
        sb.AppendLine();
        foreach (var s in p.Steering)
        {
            sb.AppendLine($"| {s.Source}: {Md(Tail(s.Prompt))} | completion |");
            sb.AppendLine("|---|---|");
            sb.AppendLine($"| {p.Base} | {Md(s.Base)} |");
            for (int k = 0; k < s.Steered.Count; k++) sb.AppendLine($"| {p.Base} + direction {k + 1} | {Md(s.Steered[k])} |");
            sb.AppendLine($"| {p.Post} | {Md(s.Post)} |");
            sb.AppendLine();
        }
    }

    static string Tail(string prompt) => prompt.Length <= 80 ? prompt : "…" + prompt[^79..];

    /// <summary>Text for a Markdown table cell: visible whitespace, no table or HTML syntax.</summary>
    static string Md(string s)
    {
        var v = Visible(s);
        var sb = new StringBuilder(v.Length);
        foreach (char c in v)
            sb.Append(c switch
            {
                '|' => "\\|", '<' => "&lt;", '>' => "&gt;", '&' => "&amp;", '*' => "\\*", '_' => "\\_", '`' => "\\`", '[' => "\\[", ']' => "\\]", '\\' => "\\\\",
                _ => c.ToString(),
            });
        return sb.ToString();
    }

    static string Quote(string token) => $"‘{Md(token)}’";

    static string Visible(string s) => s.Replace("\r", "", StringComparison.Ordinal).Replace("\n", "↵", StringComparison.Ordinal).Replace("\t", "⇥", StringComparison.Ordinal);

    static string N(double? v) => v is { } x ? F(x, "0.0000") : "–";

    static string F(double v, string format = "0.000") => v.ToString(format, CultureInfo.InvariantCulture);

    static string S(double v) => v.ToString("+0.000;−0.000;0.000", CultureInfo.InvariantCulture);

    public static string Safe(string name) => string.Concat(name.Select(c => char.IsLetterOrDigit(c) || c is '-' or '_' or '.' ? c : '_'));
}
