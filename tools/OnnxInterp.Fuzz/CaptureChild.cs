using System.Globalization;
using OnnxInterp.Runtime;

namespace OnnxInterp.Fuzz;

/// <summary>
/// The hidden verb <c>__capture MODEL STORE npy|safetensors PROMPTS</c>: a long activation capture (every hook, the last
/// four positions, random prompts) that the interrupted-write tests kill part-way, as no CLI verb captures to a store.
/// </summary>
public static class CaptureChild
{
    public const string Verb = "__capture";

    public static int Run(IReadOnlyList<string> args)
    {
        var (model, store) = (args[0], args[1]);
        var format = args[2] == "npy" ? ActivationStoreFormat.Npy : ActivationStoreFormat.Safetensors;
        int count = int.Parse(args[3], CultureInfo.InvariantCulture);
        using var session = ModelSession.Open(model);
        var rng = new Random(count);
        int vocab = session.Manifest.Config.VocabSize;
        var prompts = Enumerable.Range(0, count).Select(_ => Enumerable.Range(0, rng.Next(8, 24)).Select(_ => rng.Next(vocab)).ToArray()).ToList();
        Console.WriteLine("capturing");
        ActivationCapture.ToStore(session, prompts, store, new CaptureOptions { Hooks = ["*"], Positions = [-4, -3, -2, -1], Format = format, BatchSize = 8 },
            new Progress<CaptureProgress>(p => { if (p.PromptsDone % 256 == 0) Console.WriteLine($"{p.PromptsDone}/{p.Prompts}"); }));
        Console.WriteLine("done");
        return 0;
    }
}
