using System.CommandLine;
using OnnxInterp.Analysis.Attribution;
using OnnxInterp.Comparison;

namespace OnnxInterp.Cli.Commands;

static class AttributeCommand
{
    public static Command Create(CliContext ctx)
    {
        var methods = new Option<string[]>("--method")
        {
            Description = "Attribution methods, comma-separated or repeated: kernelshap, occlusion, lime (default all three; the first is the headline).",
            AllowMultipleArgumentsPerToken = true,
        };
        var coalitions = new Option<int>("--coalitions") { Description = "Coalitions KernelSHAP and LIME evaluate per prompt and model.", DefaultValueFactory = _ => 256 };
        var statements = new Option<int>("--statements") { Description = "Statements per dataset whose TRUE/FALSE answer is attributed (half true, half false).", DefaultValueFactory = _ => 4 };
        var refusal = new Option<int>("--refusal-prompts") { Description = "Harmful instructions of the synthetic world whose refusal score is attributed (0: none).", DefaultValueFactory = _ => 4 };
        var baseline = new Option<string?>("--baseline-token") { Description = "The token an absent word becomes, as the vocabulary spells it (default: the pad token, else EOS)." };
        return new AnalysisVerb<AttributionOptions>(ComparisonSteps.Of<AttributionStep>())
        {
            Title = "OnnxInterp feature attribution",
        }
            .Bind(methods, o => o.Methods, Methods)
            .Bind(coalitions, o => o.Coalitions)
            .Bind(statements, o => o.Statements)
            .Bind(refusal, o => o.RefusalPrompts)
            .Bind(baseline, o => o.BaselineToken)
            .Create(ctx, "attribute", """
            Feature attribution over input words: which words drive the judging answer (logit(TRUE) - logit(FALSE) after the
            paper's few-shot prompt, per dataset) and the refusal score (harmful instructions of the synthetic world in each
            model's own chat template), in the base and each post-trained model side by side. Occlusion (each word's tokens
            replaced by a baseline token), KernelSHAP (Shapley kernel, sampled coalitions, weighted least squares; its scores
            sum to f(x) - f(baseline)) and LIME (exponential kernel); coalitions run as batches on the KV cache of the prompt
            before the first word. Writes the "attribution" section of results.json (one part per dataset and "refusal"),
            the report with the prompts as highlighted text, data/attribution.PART/scores.csv; resumes like `compare`.

            Examples:
              onnxinterp attribute --base models/base --post models/instruct --datasets synthetic:cities --out ./attribution
              onnxinterp attribute --base ./llama-hf --post ./llama-it-hf --datasets ./cities.csv --method kernelshap --coalitions 512 --out ./r
            """);
    }

    static IReadOnlyList<AttributionMethod> Methods(string[] names) =>
        names.SelectMany(n => n.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)).Select(n => n.ToLowerInvariant() switch
        {
            "kernelshap" or "shap" => AttributionMethod.KernelShap,
            "occlusion" => AttributionMethod.Occlusion,
            "lime" => AttributionMethod.Lime,
            _ => throw new InvalidArgumentException("unknown attribution method; known: kernelshap, occlusion, lime", "--method", n),
        }).ToList();
}
