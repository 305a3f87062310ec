using System.Text.Json.Serialization;

namespace OnnxInterp.Runtime;

[JsonConverter(typeof(JsonStringEnumConverter<InterventionOp>))]
public enum InterventionOp
{
    /// <summary>Set the vector to <see cref="Intervention.Vector"/>.</summary>
    Replace,

    /// <summary>Add <see cref="Intervention.Vector"/> (times <see cref="Intervention.Factor"/>).</summary>
    Add,

    /// <summary>Remove the components along <see cref="Intervention.Directions"/> (orthonormalised here).</summary>
    ProjectOut,

    /// <summary>Multiply by <see cref="Intervention.Factor"/>, or elementwise by <see cref="Intervention.Vector"/> when given.</summary>
    Scale,
}

/// <summary>
/// An intervention as data (where + what), serialisable to JSON: at hook <see cref="Hook"/>, for batch rows
/// <see cref="Rows"/> (null: all) and positions <see cref="Positions"/> (null: all; negative counts from the end,
/// −1 is the last token), apply <see cref="Op"/>. At one hook, ProjectOut acts first; Scale, Replace and Add then
/// compose in list order.
/// </summary>
public sealed record Intervention(
    HookName Hook,
    InterventionOp Op,
    float[]? Vector = null,
    float[][]? Directions = null,
    float Factor = 1f,
    int[]? Rows = null,
    int[]? Positions = null)
{
    static readonly System.Text.Json.JsonSerializerOptions FileJson = new()
    {
        UnmappedMemberHandling = System.Text.Json.Serialization.JsonUnmappedMemberHandling.Disallow,
        // Hook and Op have no default: an entry without them is an error, not layer 0's resid_pre.
        RespectRequiredConstructorParameters = true,
        MaxDepth = 16,
    };

    /// <summary>
    /// Reads a JSON array of interventions (the shape <c>JsonSerializer.Serialize</c> writes: Hook, Op, Vector, Directions,
    /// Factor, Rows, Positions), as the `run` verb's --interventions takes them. Checking them against a model happens
    /// when they are compiled for a request.
    /// </summary>
    public static IReadOnlyList<Intervention> ReadFile(string path)
    {
        string text;
        try { text = File.ReadAllText(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new InvalidFileException($"cannot read the interventions file: {e.Message}", path, inner: e);
        }
        List<Intervention>? list;
        try { list = System.Text.Json.JsonSerializer.Deserialize<List<Intervention>>(text, FileJson); }
        catch (System.Text.Json.JsonException e)
        {
            throw new InvalidFileException($"not a JSON array of interventions: {e.Message}", path, e.Path, null, e);
        }
        if (list is null) throw new InvalidFileException("expected a JSON array of interventions, found null", path);
        for (int i = 0; i < list.Count; i++)
        {
            if (list[i] is null) throw new InvalidFileException("an intervention is null", path, $"[{i}]");
            if (!Enum.IsDefined(list[i].Op)) throw new InvalidFileException("unknown operation", path, $"[{i}].Op", list[i].Op.ToString());
        }
        return list;
    }

    public static Intervention Replace(HookName hook, float[] vector, int[]? rows = null, int[]? positions = null) =>
        new(hook, InterventionOp.Replace, vector, Rows: rows, Positions: positions);

    public static Intervention Add(HookName hook, float[] vector, float factor = 1f, int[]? rows = null, int[]? positions = null) =>
        new(hook, InterventionOp.Add, vector, Factor: factor, Rows: rows, Positions: positions);

    public static Intervention ProjectOut(HookName hook, float[][] directions, int[]? rows = null, int[]? positions = null) =>
        new(hook, InterventionOp.ProjectOut, Directions: directions, Rows: rows, Positions: positions);

    public static Intervention Scale(HookName hook, float factor, int[]? rows = null, int[]? positions = null) =>
        new(hook, InterventionOp.Scale, Factor: factor, Rows: rows, Positions: positions);
}
