using System.Globalization;
using OnnxInterp.Trainer;

// Verbs: bench [steps] — training throughput at the family size against our SGEMM and a Dot-based GEMM.
CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;
string verb = args.Length > 0 ? args[0] : "help";
switch (verb)
{
    case "bench":
        {
            int steps = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 10;
            var config = TrainerConfig.Family with { Vocab = 1000 };
            Bench.Run(config, batch: 16, seqLen: 64, steps: steps, gemmSize: 512, Console.Out);
            return 0;
        }
    default:
        Console.Error.WriteLine("usage: OnnxInterp.Trainer bench [steps]");
        return verb == "help" ? 0 : 2;
}
