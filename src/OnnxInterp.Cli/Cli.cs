using System.CommandLine;
using OnnxInterp.Cli.Commands;

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
}

/// <summary>Builds the `onnxinterp` command tree and runs it; verbs are thin layers over the library.</summary>
public static class Cli
{
    public static readonly Option<bool> Verbose = new("--verbose", "-v")
    {
        Description = "Show full error details (stack traces).",
        Recursive = true,
    };

    public static RootCommand Build(TextWriter output, TextWriter error)
    {
        var root = new RootCommand("onnxinterp: compare a base LLM with its post-trained versions over ONNX Runtime.\n" +
            "Export Hugging Face checkpoints to ONNX with hook I/O, capture and patch the residual stream.");
        root.Options.Add(Verbose);
        var ctx = new CliContext(output, error);
        root.Subcommands.Add(ExportCommand.Create(ctx));
        root.Subcommands.Add(RunCommand.Create(ctx));
        root.Subcommands.Add(InspectCommand.Create(ctx));
        root.Subcommands.Add(SampleCommand.Create(ctx));
        root.Subcommands.Add(TraceCommand.Create(ctx));
        root.Subcommands.Add(TruthCommand.Create(ctx));
        return root;
    }

    public static int Run(string[] args, TextWriter output, TextWriter error)
    {
        var root = Build(output, error);
        var parse = root.Parse(args);
        return parse.Invoke(new InvocationConfiguration { Output = output, Error = error });
    }
}

/// <summary>Where verbs write, and the one place that turns exceptions into messages and exit codes.</summary>
public sealed class CliContext(TextWriter output, TextWriter error)
{
    public TextWriter Out { get; } = output;
    public TextWriter Err { get; } = error;

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
            return ExitCodes.Failure;
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
