using System.Globalization;
using System.Net;
using System.Text;

namespace OnnxInterp.Analysis.Attribution;

/// <summary>
/// The attribution section of the report: each prompt as highlighted text per model and method (red pushes the scalar up,
/// blue down, the shade scaled to the prompt's largest |score| over every model and method, so models compare side by
/// side; each word's score in its tooltip), and scores.csv with every score.
/// </summary>
public static class AttributionReport
{
    public const string ScoresFile = "scores.csv";

    public static void Write(string directory, AttributionSection s)
    {
        var csv = new StringBuilder("prompt,model,method,word_index,word,score\n");
        for (int p = 0; p < s.Prompts.Count; p++)
            foreach (var m in s.Prompts[p].Models)
                foreach (var x in m.Methods)
                    for (int w = 0; w < x.Scores.Count; w++)
                        csv.Append(CultureInfo.InvariantCulture, $"{p},{m.Model},{x.Method},{w},{Csv(s.Prompts[p].Words[w])},{x.Scores[w]:R}\n");
        File.WriteAllText(Path.Combine(directory, ScoresFile), csv.ToString());
    }

    public static string Markdown(AttributionSection s)
    {
        var md = new StringBuilder();
        string scalar = s.Scalar switch
        {
            AttributionScalarKind.Judgement => "the judging answer, logit(TRUE) − logit(FALSE) after the few-shot prompt",
            AttributionScalarKind.Refusal => "the refusal score (log-odds of the refusal tokens) of each harmful instruction in the model's own chat template",
            _ => "the answer's log-probability",
        };
        md.Append(CultureInfo.InvariantCulture, $"Which words drive {scalar}, in each model: {string.Join(", ", s.Methods.Select(Name))} ");
        md.Append(CultureInfo.InvariantCulture, $"({s.Coalitions} coalitions), each absent word's tokens replaced by `{s.Baseline}`. ");
        md.Append("Red words raise the scalar, blue ones lower it; the shade is relative to the prompt's largest score (hover for the value). ");
        md.Append("f(x) is the scalar of the prompt, f(∅) with every word at the baseline; KernelSHAP's scores sum to f(x) − f(∅).\n\n");
        if (s.Agreement.Count > 0)
        {
            md.Append(CultureInfo.InvariantCulture, $"| model | agreement with {s.Prompts.FirstOrDefault()?.Models[0].Model ?? "base"} ({Name(s.Agreement[0].Method)}): mean Spearman | same top word |\n| --- | --- | --- |\n");
            foreach (var a in s.Agreement)
                md.Append(CultureInfo.InvariantCulture, $"| {a.Model} | {(a.MeanSpearman is double r ? r.ToString("F3", CultureInfo.InvariantCulture) : "-")} | {a.TopWordAgreement:P0} |\n");
            md.Append('\n');
        }
        for (int p = 0; p < s.Prompts.Count; p++)
        {
            var prompt = s.Prompts[p];
            string label = prompt.Label is bool b ? (b ? " (true)" : " (false)") : "";
            md.Append(CultureInfo.InvariantCulture, $"#### {p + 1}. {Escape(prompt.Text)}{label}\n\n");
            double scale = prompt.Models.SelectMany(m => m.Methods).SelectMany(x => x.Scores).Select(Math.Abs).DefaultIfEmpty(0).Max();
            md.Append("| model | method | f(x) | f(∅) | words | top word |\n| --- | --- | --- | --- | --- | --- |\n");
            foreach (var m in prompt.Models)
                foreach (var x in m.Methods)
                {
                    int top = AttributionAnalysis.TopWord(x.Scores);
                    md.Append(CultureInfo.InvariantCulture, $"| {m.Model} | {Name(x.Method)} | {m.Full:+0.00;-0.00} | {m.Baseline:+0.00;-0.00} | ");
                    md.Append(string.Join(" ", prompt.Words.Select((w, i) => Highlight(w, x.Scores[i], scale))));
                    md.Append(CultureInfo.InvariantCulture, $" | {Escape(prompt.Words[top])} {x.Scores[top]:+0.00;-0.00} |\n");
                }
            md.Append('\n');
        }
        return md.ToString();
    }

    public static string Name(AttributionMethod m) => m switch
    {
        AttributionMethod.KernelShap => "KernelSHAP",
        AttributionMethod.Lime => "LIME",
        _ => "occlusion",
    };

    /// <summary>A word on a red (positive) or blue (negative) background whose opacity is |score| / scale.</summary>
    static string Highlight(string word, double score, double scale)
    {
        double a = scale > 0 ? Math.Min(1, Math.Abs(score) / scale) : 0;
        string rgb = score >= 0 ? "214,39,40" : "31,119,180";
        return string.Create(CultureInfo.InvariantCulture,
            $"<span style=\"background:rgba({rgb},{a:0.00})\" title=\"{score:+0.000;-0.000}\">{Escape(word)}</span>");
    }

    static string Escape(string text) => WebUtility.HtmlEncode(text).Replace("|", "&#124;", StringComparison.Ordinal);

    static string Csv(string s) => s.Contains(',') || s.Contains('"') ? "\"" + s.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"" : s;
}
