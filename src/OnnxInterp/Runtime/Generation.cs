using System.Numerics.Tensors;
using OnnxInterp.Internals;

namespace OnnxInterp.Runtime;

/// <summary>How to generate. Temperature 0 is greedy; otherwise softmax(logits / T), cut to the top-p nucleus, sampled with <see cref="Seed"/>.</summary>
public sealed record GenerationOptions
{
    public int MaxNewTokens { get; init; } = 16;
    public float Temperature { get; init; }
    public float TopP { get; init; } = 1f;
    public int Seed { get; init; }

    /// <summary>Tokens that end a row (not included in its output). Null: the model's eos_token_id list.</summary>
    public IReadOnlyList<int>? StopTokens { get; init; }

    /// <summary>
    /// Applied while generating. Those with <see cref="Intervention.Positions"/> null act on every prompt position and
    /// on every generated token; those with positions act on those prompt positions only.
    /// </summary>
    public IReadOnlyList<Intervention>? Interventions { get; init; }

    /// <summary>Interventions start at this step: 0 includes the prompt pass, k ≥ 1 from the k-th generated token's input on.</summary>
    public int InterventionsFromStep { get; init; }

    /// <summary>Padding id for left-padding the prompts. Null: the config's pad_token_id, else 0.</summary>
    public int? PadTokenId { get; init; }
}

/// <summary>New tokens per row (stop token excluded) and why each row ended.</summary>
public sealed record GenerationResult(int[][] Tokens, bool[] Stopped);

public readonly record struct GenerationProgress(int Step, int MaxSteps, int RowsDone, int Rows);

/// <summary>Batched decoding with the KV cache: one pass over the left-padded prompts, then one token per step.</summary>
static class GenerationLoop
{
    public static GenerationResult Generate(ModelSession session, IReadOnlyList<int[]> prompts, GenerationOptions o,
        IProgress<GenerationProgress>? progress, CancellationToken cancellation)
    {
        Check(o);
        var config = session.Manifest.Config;
        var stops = new HashSet<int>(o.StopTokens ?? config.EosTokenIds);
        int pad = o.PadTokenId ?? config.PadTokenId ?? 0;
        var request = ForwardRequest.FromPrompts(prompts, pad);
        int batch = prompts.Count, len = request.InputIds[0].Length;
        var rng = new Random(o.Seed);

        var all = o.Interventions ?? [];
        var everywhere = all.Where(i => i.Positions is null).ToList();
        var output = Enumerable.Range(0, batch).Select(_ => new List<int>()).ToArray();
        var stopped = new bool[batch];
        var mask = request.AttentionMask!.Select(r => r.ToList()).ToArray();
        var nextPosition = request.AttentionMask!.Select(r => r.Sum()).ToArray();
        if (o.MaxNewTokens == 0) return new GenerationResult(output.Select(r => r.ToArray()).ToArray(), stopped);

        // The KV cache stays in ONNX Runtime's memory between steps (GPU memory under CUDA): each step's present keys and
        // values are bound as the next step's past, never copied to managed arrays; only the last position's logits come back.
        // Without interventions, the graph without hook I/O runs (decode.onnx, same weights): no injection sub-graphs per step.
        bool plain = all.Count == 0 && session.HasDecodeGraph && session.SessionConfig.PlainWhenUnhooked;
        var result = session.Run(request with
        {
            Interventions = o.InterventionsFromStep == 0 ? all : null,
            LogitPositions = [-1],
            ReturnPresent = true,
            DeviceOutputs = true,
        }, cancellation, null, plain);
        float[]? logitsBuffer = null;
        try
        {
            for (int step = 0; ; step++)
            {
                for (int b = 0; b < batch; b++)
                {
                    if (stopped[b]) continue;
                    int token = Pick(result.Logits.Vector(b, result.Logits.Shape[1] - 1), o, rng);
                    if (stops.Contains(token)) stopped[b] = true;
                    else output[b].Add(token);
                }
                progress?.Report(new GenerationProgress(step + 1, o.MaxNewTokens, stopped.Count(x => x), batch));
                if (step + 1 >= o.MaxNewTokens || stopped.All(x => x)) break;
                cancellation.ThrowIfCancellationRequested();

                // Feed each row its new token (a finished row keeps feeding padding, which no other row attends to).
                var ids = new int[batch][];
                var positions = new int[batch][];
                for (int b = 0; b < batch; b++)
                {
                    ids[b] = [stopped[b] ? pad : output[b][^1]];
                    positions[b] = [nextPosition[b]++];
                    mask[b].Add(1);
                }
                // The step's logits [B, 1, V] go into one buffer reused across steps (the previous step's are read by now).
                logitsBuffer ??= result.Logits.Shape[1] == 1 ? result.Logits.Data : new float[batch * config.VocabSize];
                var next = session.Run(new ForwardRequest(ids)
                {
                    AttentionMask = mask.Select(r => r.ToArray()).ToArray(),
                    PositionIds = positions,
                    DevicePast = result.DevicePresent,
                    ReturnPresent = true,
                    DeviceOutputs = true,
                    Interventions = step + 1 >= o.InterventionsFromStep ? everywhere : null,
                }, cancellation, logitsBuffer, plain);
                result.Dispose();
                result = next;
            }
        }
        finally
        {
            result.Dispose();
        }
        return new GenerationResult(output.Select(r => r.ToArray()).ToArray(), stopped);
    }

    /// <summary>The options' own limits (the test suite's reference model checks them here too).</summary>
    internal static void Check(GenerationOptions o)
    {
        if (o.MaxNewTokens < 0) Throw.Argument("must not be negative", "max_new_tokens", o.MaxNewTokens);
        if (o.Temperature < 0 || !float.IsFinite(o.Temperature)) Throw.Argument("must be 0 (greedy) or positive", "temperature", o.Temperature);
        if (!(o.TopP > 0 && o.TopP <= 1)) Throw.Argument("must lie in (0, 1]", "top_p", o.TopP);
    }

    /// <summary>Greedy (first maximum) or temperature + nucleus sampling; internal so that the reference model samples the same way.</summary>
    internal static int Pick(ReadOnlySpan<float> logits, GenerationOptions o, Random rng)
    {
        if (o.Temperature == 0) return TensorPrimitives.IndexOfMax(logits);
        var probs = new float[logits.Length];
        TensorPrimitives.Divide(logits, o.Temperature, probs);
        TensorPrimitives.SoftMax(probs, probs);
        var order = Enumerable.Range(0, probs.Length).OrderByDescending(i => probs[i]).ThenBy(i => i).ToArray();
        double mass = 0;
        int keep = 0;
        while (keep < order.Length && (keep == 0 || mass < o.TopP)) mass += probs[order[keep++]];
        double u = rng.NextDouble() * mass, acc = 0;
        for (int k = 0; k < keep; k++)
        {
            acc += probs[order[k]];
            if (u < acc) return order[k];
        }
        return order[keep - 1];
    }
}
