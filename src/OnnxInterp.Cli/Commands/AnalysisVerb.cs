using System.CommandLine;
using System.Linq.Expressions;
using System.Reflection;
using System.Text.Json;
using System.Text.Json.Nodes;
using OnnxInterp.Analysis;
using OnnxInterp.Comparison;
using OnnxInterp.Reports;

namespace OnnxInterp.Cli.Commands;

/// <summary>
/// The verb of one analysis: --base, --post, --out, the comparison's shared options and the analysis's own, run through
/// the comparison runner (report folder, journal, resume), then the analysis's summary of its sections
/// (<see cref="IAnalysisStep.Describe"/>). Settings: defaults, then <see cref="Start"/>, --config, the verb's options,
/// --set, and what the verb fixes (<see cref="Finish"/>).
/// </summary>
class AnalysisVerb(IAnalysisStep analysis)
{
    readonly List<Option> _options = [];
    readonly List<Action<ParseResult, JsonObject>> _bindings = [];
    readonly List<Func<ComparisonConfig, ComparisonConfig>> _finish = [];

    public IAnalysisStep Analysis => analysis;

    /// <summary>The report's title (default: "OnnxInterp " and the analysis's title).</summary>
    public string? Title { get; init; }

    public bool PostRequired { get; init; }

    /// <summary>Offer --datasets; <see cref="DatasetAlias"/> adds --dataset, <see cref="DatasetsRequired"/> requires it.</summary>
    public bool Datasets { get; init; } = true;
    public bool DatasetAlias { get; init; }
    public bool DatasetsRequired { get; init; }
    public string? DatasetsDescription { get; init; }

    /// <summary>Offer the shared --template (NAME or MODEL=NAME); false for a verb with a --template of its own.</summary>
    public bool Templates { get; init; } = true;

    /// <summary>Offer --world-seed (the synthetic world's seed).</summary>
    public bool WorldSeed { get; init; } = true;

    /// <summary>The verb's settings under --config (other defaults than compare's); null: the defaults.</summary>
    public ComparisonConfig? Start { get; init; }

    /// <summary>Options of the analysis read from the command line with the models in hand, into the config file's shape.</summary>
    public Action<ParseResult, IReadOnlyList<ModelSpec>, JsonObject>? MoreOptions { get; init; }

    /// <summary>Adds a command-line option and how it sets the analysis's options (the config file's "NAME": {...} object).</summary>
    protected void Add(Option option, Action<ParseResult, JsonObject> bind)
    {
        if (!_options.Contains(option)) _options.Add(option);
        _bindings.Add(bind);
    }

    /// <summary>Has the last word on the configuration, after --set (what the verb is for, e.g. transfer's transfer patching).</summary>
    protected void Finish(Func<ComparisonConfig, ComparisonConfig> finish) => _finish.Add(finish);

    public Command Create(CliContext ctx, string name, string description)
    {
        var baseDir = new Option<string>("--base") { Description = "The base model (checkpoint or exported folder; NAME=DIR names it).", Required = true };
        var post = new Option<string[]>("--post") { Description = "Post-trained model(s), checkpoint or exported folders; repeat for several.", Required = PostRequired };
        var output = new Option<string>("--out", "-o")
        {
            Description = $"Report folder: report.md, report.html, results.json with the \"{analysis.Name}\" section, figures/, the analysis's own files in data/, " +
                ".journal/ (a rerun resumes from it).",
            Required = true,
        };
        var worldSeed = new Option<int>("--world-seed") { Description = "Seed of the synthetic world (the shipped family uses 1).", DefaultValueFactory = _ => 1 };
        var shared = new ComparisonOptions(ctx.Registry, datasets: Datasets, only: false, template: Templates);
        if (DatasetAlias) shared.Datasets.Aliases.Add("--dataset");
        if (DatasetsDescription is { } about) shared.Datasets.Description = about;
        shared.Datasets.Required = DatasetsRequired;
        var cmd = new Command(name, description) { baseDir, post };
        if (WorldSeed) cmd.Options.Add(worldSeed);
        foreach (var o in _options) cmd.Options.Add(o);
        cmd.Options.Add(output);
        shared.AddTo(cmd);
        cmd.SetAction(parse => ctx.Guard(parse, cancellation =>
        {
            var models = ComparisonCli.Models(parse.GetValue(baseDir)!, parse.GetValue(post), Templates ? parse.GetValue(shared.Template) : null);
            var options = new JsonObject();
            foreach (var bind in _bindings) bind(parse, options);
            MoreOptions?.Invoke(parse, models, options);
            var layer = new JsonObject { [analysis.Name] = options };
            if (WorldSeed && parse.GetResult(worldSeed) is { Implicit: false }) layer["worldSeed"] = parse.GetValue(worldSeed);
            var config = shared.Build(parse, Start, layer) with { Analyses = [analysis.Name] };
            config = _finish.Aggregate(config, (c, f) => f(c));
            var outcome = ComparisonCli.Run(ctx, new ComparisonRequest
            {
                Models = models,
                OutputDirectory = parse.GetValue(output)!,
                Config = config,
                CacheDirectory = parse.GetValue(shared.CacheDir),
                Title = Title ?? $"OnnxInterp {analysis.Title}",
            }, cancellation);
            foreach (var line in outcome.Describe(analysis.Name)) ctx.Out.WriteLine(line);
            return ExitCodes.Ok;
        }));
        return cmd;
    }

    /// <summary>The verb of an analysis without one of its own, from its registration: its name and title, its options through --config and --set.</summary>
    public static Command Generated(CliContext ctx, IAnalysisStep analysis) =>
        new AnalysisVerb(analysis).Create(ctx, analysis.Name, $"""
            {analysis.Title}: the {analysis.Name} analysis alone, through the comparison runner (report folder, journal, resume).
            Its options are set with --config FILE ("{analysis.Name}": {"{"} ... {"}"}) or --set {analysis.Name}.OPTION=VALUE.

            Examples:
              onnxinterp {analysis.Name} --base ./base-onnx --post ./instruct-onnx --out ./{analysis.Name}
            """);
}

/// <summary>An <see cref="AnalysisVerb"/> whose command-line options bind to properties of the analysis's options record.</summary>
sealed class AnalysisVerb<TOptions>(IAnalysisStep<TOptions> analysis) : AnalysisVerb(analysis) where TOptions : notnull
{
    /// <summary>
    /// Binds <paramref name="option"/> to a property of the options (nested ones too: o => o.Selection.Top): when given on
    /// the command line, <paramref name="value"/> of it sets the property over --config and under --set.
    /// </summary>
    public AnalysisVerb<TOptions> Bind<T, TValue>(Option<T> option, Expression<Func<TOptions, TValue>> property, Func<T, TValue> value)
    {
        var path = PathOf(property);
        Add(option, (parse, options) =>
        {
            if (parse.GetResult(option) is { Implicit: false }) Set(options, path, value(parse.GetValue(option)!));
        });
        return this;
    }

    public AnalysisVerb<TOptions> Bind<T>(Option<T> option, Expression<Func<TOptions, T>> property) => Bind(option, property, v => v);

    /// <summary>An option of the verb that <see cref="AnalysisVerb.MoreOptions"/> reads.</summary>
    public AnalysisVerb<TOptions> With(Option option)
    {
        Add(option, (_, _) => { });
        return this;
    }

    /// <summary>Sets a property over --config and --set: what the verb is for.</summary>
    public AnalysisVerb<TOptions> Fix<TValue>(Expression<Func<TOptions, TValue>> property, TValue value)
    {
        Finish(c => Override(c, property, value));
        return this;
    }

    /// <summary>Has the last word on the configuration, after --set, with <see cref="Sets"/> and <see cref="Override"/> at hand.</summary>
    public AnalysisVerb<TOptions> Finally(Func<AnalysisVerb<TOptions>, ComparisonConfig, ComparisonConfig> finish)
    {
        Finish(c => finish(this, c));
        return this;
    }

    /// <summary>Sets a property in <paramref name="options"/>, the analysis's options in the config file's shape.</summary>
    public static void Set<TValue>(JsonObject options, Expression<Func<TOptions, TValue>> property, TValue value) => Set(options, PathOf(property), value);

    /// <summary><paramref name="config"/> with a property of the analysis's options set (after everything else).</summary>
    public ComparisonConfig Override<TValue>(ComparisonConfig config, Expression<Func<TOptions, TValue>> property, TValue value)
    {
        var all = config.AnalysisOptions.ToDictionary(kv => kv.Key, kv => (JsonObject)kv.Value.DeepClone());
        if (!all.TryGetValue(Analysis.Name, out var mine)) all[Analysis.Name] = mine = new JsonObject();
        Set(mine, PathOf(property), value);
        return config with { AnalysisOptions = all };
    }

    /// <summary>Whether <paramref name="config"/> sets a property of the analysis's options (rather than leaving its default).</summary>
    public bool Sets<TValue>(ComparisonConfig config, Expression<Func<TOptions, TValue>> property)
    {
        JsonNode? node = config.AnalysisOptions.GetValueOrDefault(Analysis.Name);
        foreach (var key in PathOf(property))
        {
            if (node is not JsonObject o || !o.TryGetPropertyValue(key, out node)) return false;
        }
        return true;
    }

    static void Set<TValue>(JsonObject options, IReadOnlyList<string> path, TValue value)
    {
        var o = options;
        foreach (var key in path.SkipLast(1))
        {
            if (o[key] is not JsonObject next) o[key] = next = new JsonObject();
            o = next;
        }
        o[path[^1]] = JsonSerializer.SerializeToNode(value, ResultsJson.Strict);
    }

    /// <summary>The JSON names of the properties <paramref name="property"/> reads (o => o.Selection.Top: selection, top), as options bind them.</summary>
    static IReadOnlyList<string> PathOf<TValue>(Expression<Func<TOptions, TValue>> property)
    {
        var names = new List<string>();
        var e = property.Body is UnaryExpression { NodeType: ExpressionType.Convert } convert ? convert.Operand : property.Body;
        while (e is MemberExpression { Member: PropertyInfo p } member)
        {
            var json = ResultsJson.Strict.GetTypeInfo(p.DeclaringType!).Properties.First(x => x.AttributeProvider is PropertyInfo pi && pi.Name == p.Name);
            names.Insert(0, json.Name);
            e = member.Expression;
        }
        if (e is not ParameterExpression || names.Count == 0)
            throw new ArgumentException($"not a property of {typeof(TOptions).Name}: {property}", nameof(property));
        return names;
    }
}
