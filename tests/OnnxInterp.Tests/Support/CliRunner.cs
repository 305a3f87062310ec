namespace OnnxInterp.Tests.Support;

/// <summary>Runs the `onnxinterp` command tree in-process, capturing what a user would see.</summary>
public static class CliRunner
{
    public static (int Code, string Out, string Err) Run(params string[] args) => Run(CancellationToken.None, args);

    public static (int Code, string Out, string Err) Run(CancellationToken cancellation, params string[] args)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        int code = OnnxInterp.Cli.Cli.Run(args, o, e, cancellation);
        return (code, o.ToString(), e.ToString());
    }
}
