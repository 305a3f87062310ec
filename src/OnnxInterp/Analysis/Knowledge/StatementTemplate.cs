using System.Text.RegularExpressions;
using OnnxInterp.Internals;

namespace OnnxInterp.Analysis.Knowledge;

/// <summary>
/// A dataset's sentence shape, e.g. "The city of {s} is in {o}." The subject {s} and object {o} are the parts that
/// causal tracing labels s1.., o1..; everything else is template tokens.
/// </summary>
public sealed record StatementTemplate(string Dataset, string Shape)
{
    readonly Regex _regex = Build(Shape);

    static Regex Build(string shape)
    {
        if (shape.Split("{s}").Length != 2 || shape.Split("{o}").Length != 2 || shape.IndexOf("{s}", StringComparison.Ordinal) > shape.IndexOf("{o}", StringComparison.Ordinal))
            Throw.Argument("a template holds one {s} before one {o}", "template", shape);
        var pattern = "^" + Regex.Escape(shape).Replace(@"\{s}", "(?<s>.+?)").Replace(@"\{o}", "(?<o>.+?)") + "$";
        return new Regex(pattern, RegexOptions.CultureInvariant);
    }

    /// <summary>Subject and object of a statement, or null if it does not have this shape.</summary>
    public (string Subject, string Object)? Match(string statement)
    {
        var m = _regex.Match(statement);
        return m.Success ? (m.Groups["s"].Value, m.Groups["o"].Value) : null;
    }

    /// <summary>The text before the subject, between subject and object, and after the object.</summary>
    public (string Prefix, string Middle, string Suffix) Parts
    {
        get
        {
            int s = Shape.IndexOf("{s}", StringComparison.Ordinal), o = Shape.IndexOf("{o}", StringComparison.Ordinal);
            return (Shape[..s], Shape[(s + 3)..o], Shape[(o + 3)..]);
        }
    }

    /// <summary>The paper's datasets (and the synthetic world's, which share their shapes).</summary>
    public static readonly IReadOnlyDictionary<string, StatementTemplate> Known = new Dictionary<string, StatementTemplate>
    {
        ["cities"] = new("cities", "The city of {s} is in {o}."),
        ["neg_cities"] = new("neg_cities", "The city of {s} is not in {o}."),
        ["animal_class"] = new("animal_class", "The {s} is a {o}."),
        ["neg_animal_class"] = new("neg_animal_class", "The {s} is not a {o}."),
        ["element_symb"] = new("element_symb", "{s} has the symbol {o}."),
        ["neg_element_symb"] = new("neg_element_symb", "{s} does not have the symbol {o}."),
        ["inventors"] = new("inventors", "{s} lived in {o}."),
        ["neg_inventors"] = new("neg_inventors", "{s} did not live in {o}."),
        ["larger_than"] = new("larger_than", "{s} is larger than {o}."),
        ["smaller_than"] = new("smaller_than", "{s} is smaller than {o}."),
        ["sp_en_trans"] = new("sp_en_trans", "The Spanish word '{s}' means '{o}'."),
        ["neg_sp_en_trans"] = new("neg_sp_en_trans", "The Spanish word '{s}' does not mean '{o}'."),
    };

    public static StatementTemplate For(string dataset) =>
        Known.TryGetValue(dataset, out var t) ? t
        : throw new InvalidArgumentException($"no sentence template for this dataset, so its subject and object cannot be located; datasets with one: {string.Join(", ", Known.Keys)}; tulu_extracted is traced as consecutive true/false rows instead; pass one of those, or a CSV named after one whose statements have its shape", "dataset", dataset);
}
