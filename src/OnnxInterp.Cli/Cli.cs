using System.CommandLine;
using OnnxInterp.Analysis;
using OnnxInterp.Cli.Commands;
using OnnxInterp.Comparison;

namespace OnnxInterp.Cli;

/// <summary>Exit codes of every verb, documented in the README.</summary>
public static class ExitCodes
{
    public const int Ok = 0;

    /// <summary>The command line itself is wrong (unknown verb or option, missing argument).</summary>
    public const int Usage = 1;

    /// <summary>An input is bad: a corrupt or mismatched file, an unsupported model, an out-of-range argument.</summary>
    public const int InvalidInput = 2;

    /// <summary>The run failed for another reason (an ONNX Runtime error, an I/O failure, a bug).</summary>
    public const int Failure = 3;

    /// <summary>`audit`: the comparison ran, and at least one rule of the policy failed.</summary>
    public const int PolicyViolated = 4;

    /// <summary>Stopped by Ctrl-C (128 + SIGINT, as shells report it) after cleaning up; a rerun of `compare` resumes.</summary>
    public const int Cancelled = 130;
}

/// <summary>Builds the `onnxinterp` command tree and runs it; verbs are thin layers over the library.</summary>
public static class Cli
{
    public static readonly Option<bool> Verbose = new("--verbose", "-v")
    {
        Description = "Show full error details (stack traces).",
        Recursive = true,
    };

    /// <summary>
    /// The command tree over the analyses of <paramref name="registry"/> (null: <see cref="ComparisonSteps.All"/>): each
    /// built-in analysis has its own verb(s); any other registered analysis gets a verb named after it, generated from its
    /// registration (<see cref="AnalysisVerb.Generated"/>).
    /// </summary>
    public static RootCommand Build(TextWriter output, TextWriter error, CancellationToken cancellation = default, IReadOnlyList<IAnalysisStep>? registry = null)
    {
        var root = new RootCommand("onnxinterp: compare a base LLM with its post-trained versions over ONNX Runtime.\n" +
            "Export Hugging Face checkpoints to ONNX with hook I/O, capture and patch the residual stream.");
        root.Options.Add(Verbose);
        var ctx = new CliContext(output, error) { Cancellation = cancellation, Registry = registry ?? ComparisonSteps.All };
        root.Subcommands.Add(ExportCommand.Create(ctx));
        root.Subcommands.Add(RunCommand.Create(ctx));
        root.Subcommands.Add(InspectCommand.Create(ctx));
        root.Subcommands.Add(SampleCommand.Create(ctx));
        root.Subcommands.Add(TraceCommand.Create(ctx));
        root.Subcommands.Add(RefusalCommand.Create(ctx));
        root.Subcommands.Add(EntropyCommand.Create(ctx));
        root.Subcommands.Add(TransferCommand.Create(ctx));
        root.Subcommands.Add(CompareCommand.Create(ctx));
        root.Subcommands.Add(DemoCommand.Create(ctx));
        root.Subcommands.Add(SweepCommand.Create(ctx));
        root.Subcommands.Add(MergeCommand.Create(ctx));
        root.Subcommands.Add(AuditCommand.Create(ctx));
        root.Subcommands.Add(HookCommand.Create(ctx));
        root.Subcommands.Add(TruthCommand.Create(ctx));
        root.Subcommands.Add(DiffCommand.Create(ctx));
        root.Subcommands.Add(AttributeCommand.Create(ctx));
        root.Subcommands.Add(EditCommand.Create(ctx));
        foreach (var step in ctx.Registry.Where(s => !ComparisonSteps.Names.Contains(s.Name)))
            root.Subcommands.Add(AnalysisVerb.Generated(ctx, step));
        return root;
    }

    public static int Run(string[] args, TextWriter output, TextWriter error, CancellationToken cancellation = default, IReadOnlyList<IAnalysisStep>? registry = null)
    {
        var root = Build(output, error, cancellation, registry);
        var parse = root.Parse(args);
        return parse.Invoke(new InvocationConfiguration { Output = output, Error = error });
    }
}

/// <summary>Where verbs write, and the one place that turns exceptions into messages and exit codes.</summary>
public sealed class CliContext(TextWriter output, TextWriter error)
{
    public TextWriter Out { get; } = output;
    public TextWriter Err { get; } = error;

    /// <summary>Like <see cref="Guard(ParseResult, Func{int})"/>, with a token that Ctrl-C cancels (a second Ctrl-C kills the process).</summary>
    public int Guard(ParseResult parse, Func<CancellationToken, int> body)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(Cancellation);
        ConsoleCancelEventHandler onCancel = (_, e) =>
        {
            if (cts.IsCancellationRequested) return;
            e.Cancel = true;
            Err.WriteLine();
            Err.WriteLine("stopping: finishing cleanup (press Ctrl-C again to kill)");
            cts.Cancel();
        };
        Console.CancelKeyPress += onCancel;
        try
        {
            return Guard(parse, () => body(cts.Token));
        }
        finally
        {
            Console.CancelKeyPress -= onCancel;
        }
    }

    /// <summary>Cancels verbs as Ctrl-C does (tests use it).</summary>
    public CancellationToken Cancellation { get; init; }

    /// <summary>The analyses the verbs know (`compare --only`, config keys, `audit` rules).</summary>
    public IReadOnlyList<IAnalysisStep> Registry { get; init; } = ComparisonSteps.All;

    public int Guard(ParseResult parse, Func<int> body)
    {
        bool verbose = parse.GetValue(Cli.Verbose);
        try
        {
            return body();
        }
        catch (OnnxInterpException e)
        {
            Err.WriteLine($"error: {e.Message}");
            if (verbose) Err.WriteLine(e.ToString());
            return ExitCodes.InvalidInput;
        }
        catch (OperationCanceledException)
        {
            Err.WriteLine("cancelled");
            return ExitCodes.Cancelled;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Err.WriteLine($"error: {e.Message}");
            if (verbose) Err.WriteLine(e.ToString());
            return ExitCodes.Failure;
        }
        catch (Exception e)
        {
            Err.WriteLine($"internal error: {e.GetType().Name}: {e.Message}");
            Err.WriteLine(verbose ? e.ToString() : "(run with --verbose for details)");
            return ExitCodes.Failure;
        }
    }
}
