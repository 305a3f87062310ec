using System.CommandLine;
using OnnxInterp.Analysis.Truth;
using OnnxInterp.Comparison;
using OnnxInterp.Data;

namespace OnnxInterp.Cli.Commands;

static class TruthCommand
{
    public static Command Create(CliContext ctx)
    {
        var layer = new Option<int?>("--layer") { Description = "Probe layer; default: the base model's best layer by mass-mean accuracy (--preset paper: config.ini's probe_layer)." };
        var interventionDataset = new Option<string?>("--intervention-dataset") { Description = "Dataset whose few-shot prompts are intervened on; default: the first with few-shot examples (--preset paper: cities)." };
        var first = new Option<int?>("--intervention-first-layer") { Description = "First layer the direction is added at; default: probe layer − 4 (--preset paper: config.ini's intervene_layer)." };
        var last = new Option<int?>("--intervention-last-layer") { Description = "Last layer the direction is added at; default: the probe layer." };
        var scale = new Option<double>("--intervention-scale") { Description = "Multiplies the added direction (the paper's coefficient).", DefaultValueFactory = _ => 1.0 };
        var maxStatements = new Option<int?>("--max-intervention-statements") { Description = "Intervene on at most this many true and this many false statements." };
        var noIntervention = new Option<bool>("--no-intervention") { Description = "Skip the intervention (Table 3)." };
        var noLogistic = new Option<bool>("--no-logistic") { Description = "Skip the logistic-regression probe." };
        var reading = new Option<string>("--reading")
        {
            Description = "statement (the paper's: the bare statement's last token; intervene on its last two tokens) or judgement " +
                "(the few-shot prompt's last token; intervene on its last two tokens).",
            DefaultValueFactory = _ => "statement",
        };
        reading.AcceptOnlyFromAmong("statement", "judgement");
        var maxPerDataset = new Option<int?>("--max-statements") { Description = "Use at most this many statements (the first ones) of each dataset." };
        return new AnalysisVerb<TruthStepOptions>(ComparisonSteps.Of<TruthStep>())
        {
            Title = "OnnxInterp truthfulness",
            DatasetAlias = true,
            DatasetsDescription = "Statement CSVs (statement,label[,…]) or synthetic:<name>; repeat or comma-separate. Default: every synthetic statement dataset.",
            // Without --datasets (or datasets in --config/--set): every synthetic statement dataset.
            Start = new ComparisonConfig { Datasets = SyntheticWorld.StatementDatasets.Select(n => DatasetSpec.SyntheticPrefix + n).ToList() },
        }
            .Bind(layer, o => o.Layer)
            .Bind(reading, o => o.Reading, v => v == "judgement" ? TruthReading.Judgement : TruthReading.Statement)
            .Bind(maxPerDataset, o => o.MaxStatementsPerDataset)
            .Bind(interventionDataset, o => o.InterventionDataset)
            .Bind(first, o => o.InterventionFirstLayer)
            .Bind(last, o => o.InterventionLastLayer)
            .Bind(scale, o => o.InterventionScale)
            .Bind(maxStatements, o => o.MaxInterventionStatements)
            .Bind(noIntervention, o => o.Intervene, v => !v)
            .Bind(noLogistic, o => o.Logistic, v => !v)
            .Create(ctx, "truth", """
            Truthfulness: the truth direction mean(true) - mean(false) of last-token activations per layer, its cosine across
            models, mass-mean and logistic probes (leave-one-dataset-out accuracy), the base probe transferred to each
            post-trained model (the paper's Table 2), and each model's direction added to / subtracted from each model's
            few-shot prompts (intervention effects, Table 3). Checkpoints are exported on demand (cached). Writes the "truth"
            section of results.json and the report; resumes like `compare`. --preset paper runs the paper's code instead:
            config.ini's layers per model, probes trained on sp_en_trans, animal_class, inventors, element_symb, facts and
            tested on the other datasets, the intervention on cities with the paper's seeded few-shot prompts.

            Examples:
              onnxinterp truth --base ./base-onnx --post ./sft-onnx --post ./instruct-onnx --out ./truth
              onnxinterp truth --base ./base-onnx --post ./instruct-onnx --datasets synthetic:cities --datasets synthetic:animal_class --layer 3 --out ./t
              onnxinterp truth --base ./base-onnx --post ./instruct-onnx --reading judgement --max-statements 200 --out ./t
              onnxinterp truth --base ./llama8b --post ./llama8b-it --datasets ../shared/datasets/paper/cities.csv --datasets ../shared/datasets/paper/sp_en_trans.csv --max-intervention-statements 200 --out ./t
              onnxinterp truth --preset paper --base ./llama8b --post ./llama8b-it --datasets ../shared/datasets/paper/cities.csv,../shared/datasets/paper/sp_en_trans.csv,../shared/datasets/paper/animal_class.csv,../shared/datasets/paper/inventors.csv,../shared/datasets/paper/element_symb.csv,../shared/datasets/paper/facts.csv --out ./t
            """);
    }
}
