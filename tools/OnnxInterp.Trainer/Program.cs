using System.Globalization;
using OnnxInterp.Trainer;

// Verbs: bench [steps] [--family] — training throughput at the family size against our SGEMM and a Dot-based GEMM;
// gemm [size] — each SGEMM micro-kernel alone.
CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;
string verb = args.Length > 0 ? args[0] : "help";
switch (verb)
{
    case "bench":
        {
            int steps = args.Length > 1 && int.TryParse(args[1], out int st) ? st : 10;
            // --family: the shipped family's size and batch shape (hidden 160, 6 layers, 16 x 96).
            if (args.Contains("--family")) Bench.Run(OnnxInterp.Trainer.Family.FamilyRecipe.Model(1024), batch: 16, seqLen: 96, steps: steps, gemmSize: 512, Console.Out);
            else Bench.Run(TrainerConfig.Family with { Vocab = 1000 }, batch: 16, seqLen: 64, steps: steps, gemmSize: 512, Console.Out);
            return 0;
        }
    case "gemm":
        {
            int size = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 512;
            foreach (var k in new[] { OnnxInterp.Trainer.Kernels.SgemmKernel.Vector512, OnnxInterp.Trainer.Kernels.SgemmKernel.Vector256, OnnxInterp.Trainer.Kernels.SgemmKernel.VectorT })
                if (OnnxInterp.Trainer.Kernels.Sgemm.IsSupported(k))
                    Console.WriteLine($"{k}: {Bench.SgemmGflops(size, k, 20):F1} GFLOP/s at {size}^3");
            return 0;
        }
    case "family":
        {
            // family <out-dir> [seed] [--train-seed N] [--smoke] [--base-steps N] [--fact-docs N] [--judge-docs N]: train base, sft and instruct, then measure them through ORT.
            string outDir = args.Length > 1 ? args[1] : "models";
            int seed = args.Length > 2 && int.TryParse(args[2], out int s) ? s : 1;
            var scale = args.Contains("--smoke") ? OnnxInterp.Trainer.Family.FamilyScale.Smoke : OnnxInterp.Trainer.Family.FamilyScale.Full;
            scale = Overrides(scale);
            var sw = System.Diagnostics.Stopwatch.StartNew();
            int? trainSeed = IntOption("--train-seed");
            var logs = OnnxInterp.Trainer.Family.FamilyRecipe.Train(outDir, seed, scale, Console.Out, trainSeed);
            var report = OnnxInterp.Trainer.Family.FamilyReport.Measure(outDir, seed, logs, Console.Out);
            report.Write(Path.Combine(outDir, "family-report.json"));
            Console.WriteLine($"done in {sw.Elapsed.TotalMinutes:F1} min");
            return 0;
        }
    case "post-train":
        {
            // post-train <dir> [seed] [--train-seed N] [--smoke] [post-training overrides]: sft and instruct again from <dir>/base,
            // then measure all three; the base's training log is kept from <dir>/family-report.json.
            string dir = args.Length > 1 ? args[1] : "models";
            int seed = args.Length > 2 && int.TryParse(args[2], out int s) ? s : 1;
            var scale = Overrides(args.Contains("--smoke") ? OnnxInterp.Trainer.Family.FamilyScale.Smoke : OnnxInterp.Trainer.Family.FamilyScale.Full);
            var sw = System.Diagnostics.Stopwatch.StartNew();
            var baseLog = OnnxInterp.Trainer.Family.FamilyReport.ReadTraining(Path.Combine(dir, "family-report.json")).Where(l => l.Name == "base");
            var logs = baseLog.Concat(OnnxInterp.Trainer.Family.FamilyRecipe.PostTrain(dir, seed, scale, Console.Out, IntOption("--train-seed"))).ToList();
            var report = OnnxInterp.Trainer.Family.FamilyReport.Measure(dir, seed, logs, Console.Out);
            report.Write(Path.Combine(dir, "family-report.json"));
            Console.WriteLine($"done in {sw.Elapsed.TotalMinutes:F1} min");
            return 0;
        }
    case "continue-base":
        {
            // continue-base <dir> <name> [seed] [--steps N] [--lr X] [--null-dims K]: the entropy-neuron experiment (FamilyRecipe.ContinueBase).
            string dir = args[1], name = args[2];
            int seed = args.Length > 3 && int.TryParse(args[3], out int s) ? s : 1;
            var log = OnnxInterp.Trainer.Family.FamilyRecipe.ContinueBase(dir, name, seed, OnnxInterp.Trainer.Family.FamilyScale.Full,
                IntOption("--steps") ?? 3000, DoubleOption("--lr") ?? 3e-4, IntOption("--null-dims") ?? 16, Console.Out);
            Console.WriteLine($"{name}: {log.Seconds / 60:F1} min");
            return 0;
        }
    case "eval-family":
        {
            string dir = args.Length > 1 ? args[1] : "models";
            int seed = args.Length > 2 && int.TryParse(args[2], out int s) ? s : 1;
            OnnxInterp.Trainer.Family.FamilyReport.Measure(dir, seed, [], Console.Out);
            return 0;
        }
    case "dump-recipe":
        {
            // dump-recipe <out.json.gz> [key=value ...]: a base-pretraining data variant for tools/recipe-search/train.py.
            var settings = args.Skip(2).Select(a => a.Split('=', 2)).ToDictionary(p => p[0], p => p[1]);
            OnnxInterp.Trainer.Family.RecipeDump.Write(args[1], settings, Console.Out);
            return 0;
        }
    default:
        Console.Error.WriteLine("usage: OnnxInterp.Trainer bench [steps] [--family] | gemm [size] | family <out-dir> [seed] [--train-seed N] [--smoke] [--base-steps N] [--fact-docs N] [--judge-docs N] [--post-steps N] [--post-lr X] [--post-decay X] | post-train <dir> [seed] [same options] | eval-family <dir> [seed] | dump-recipe <out.json.gz> [key=value ...]");
        return verb == "help" ? 0 : 2;
}

string? RawOption(string name)
{
    int at = Array.IndexOf(args, name);
    return at > 0 && at + 1 < args.Length ? args[at + 1] : null;
}

int? IntOption(string name) => RawOption(name) is { } v ? int.Parse(v, CultureInfo.InvariantCulture) : null;

double? DoubleOption(string name) => RawOption(name) is { } v ? double.Parse(v, CultureInfo.InvariantCulture) : null;

// Overrides for trying a variant of the recipe (the shipped family uses none).
OnnxInterp.Trainer.Family.FamilyScale Overrides(OnnxInterp.Trainer.Family.FamilyScale scale) => scale with
{
    BaseSteps = IntOption("--base-steps") ?? scale.BaseSteps,
    FactDocs = IntOption("--fact-docs") ?? scale.FactDocs,
    JudgeDocs = IntOption("--judge-docs") ?? scale.JudgeDocs,
    SftSteps = IntOption("--post-steps") ?? scale.SftSteps,
    InstructSteps = IntOption("--post-steps") ?? scale.InstructSteps,
    PostLearningRate = DoubleOption("--post-lr") ?? scale.PostLearningRate,
    PostWeightDecay = DoubleOption("--post-decay") ?? scale.PostWeightDecay,
};
