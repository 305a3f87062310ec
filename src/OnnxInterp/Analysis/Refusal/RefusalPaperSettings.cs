using OnnxInterp.Internals;
using OnnxInterp.Tokenization;

namespace OnnxInterp.Analysis.Refusal;

/// <summary>
/// A prompt template of the paper's code (HZD01/post-training-mechanistic-analysis, Refusal/utils.py), verbatim. The
/// code renders it as <c>template.format(instruction=instruction)</c> (utils.py line 214) and tokenizes the result
/// with the tokenizer's special tokens (utils.py lines 243-248: BOS is added), so a template that writes its own
/// <c>&lt;s&gt;</c> (MISTRAL_TEMPLATE) starts with two BOS tokens, as in the paper.
/// </summary>
public sealed record RefusalPaperTemplate(string Name, string Text, string Source)
{
    public static readonly RefusalPaperTemplate Llama3Base = new("LLAMA3_BASE_TEMPLATE", "User: {instruction}\nAssistant:", "Refusal/utils.py:187-188");

    public static readonly RefusalPaperTemplate Llama3Chat = new("LLAMA3_CHAT_TEMPLATE",
        "<|start_header_id|>user<|end_header_id|>\n\n{instruction}<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n", "Refusal/utils.py:173-177");

    public static readonly RefusalPaperTemplate Tulu = new("TULU_TEMPLATE", "<|user|>\n{instruction}\n<|assistant|>\n", "Refusal/utils.py:190");

    public static readonly RefusalPaperTemplate Mistral = new("MISTRAL_TEMPLATE", "<s>[INST] {instruction} [/INST]", "Refusal/utils.py:192");

    public static readonly RefusalPaperTemplate Llama2Base = new("LLAMA2_BASE_TEMPLATE", "User: {instruction}\nAssistant:", "Refusal/utils.py:204-205");

    public static readonly RefusalPaperTemplate Llama2Chat = new("LLAMA2_CHAT_TEMPLATE", "[INST] {instruction} [/INST] ", "Refusal/utils.py:202");

    /// <summary>The templates the paper's models use, in utils.py's order of definition.</summary>
    public static IReadOnlyList<RefusalPaperTemplate> All { get; } = [Llama3Chat, Llama3Base, Tulu, Mistral, Llama2Chat, Llama2Base];

    /// <summary>
    /// <c>Text.format(instruction=instruction)</c>: every <c>{instruction}</c> replaced (the templates hold no other
    /// field and no escaped brace), the instruction verbatim.
    /// </summary>
    public string Format(string instruction)
    {
        ArgumentNullException.ThrowIfNull(instruction);
        return Text.Replace("{instruction}", instruction, StringComparison.Ordinal);
    }

    /// <summary>
    /// The template as a <see cref="ChatTemplate"/> named "paper:NAME": one user message formatted, BOS left to the
    /// tokenizer, no stop strings (the paper's generation never stops early: utils.py lines 55-64).
    /// </summary>
    public ChatTemplate ToChatTemplate() => new("paper:" + Name, includesBos: false, [], (messages, _) =>
    {
        if (messages.Count != 1 || messages[0].Role != "user")
            Throw.Argument("the paper's templates format one user instruction", "messages", string.Join(",", messages.Select(m => m.Role)));
        return Format(messages[0].Content);
    });
}

/// <summary>
/// Where the paper takes and applies one model's refusal direction: the direction is mean(harmful) − mean(harmless)
/// of <c>blocks.{Layer}.hook_resid_pre</c> at <see cref="Position"/> over prompts in <see cref="DirectionTemplate"/>;
/// the intervened model is prompted in <see cref="InterventionTemplate"/> and steered at <see cref="InterventionLayer"/>.
/// A null template is the model's own chat template. <see cref="Script"/> is the paper's <c>--model_name</c>, null when
/// the model is not in the paper's table and <see cref="RefusalPaperSettings.For"/>'s rule applies.
/// </summary>
public sealed record RefusalPaperSetting(
    PaperModel Model,
    string? Script,
    int Layer,
    int Position,
    RefusalPaperTemplate? DirectionTemplate,
    RefusalPaperTemplate? InterventionTemplate,
    int InterventionLayer,
    string Source)
{
    public bool InTable => Script is not null;
}

/// <summary>
/// The paper's per-model refusal settings (Refusal/extract_refusal_dir.py, Refusal/apply_refusal_dir.py), keyed by
/// <see cref="PaperModel.Key"/> and role, and the rule for models the paper did not run.
/// </summary>
public static class RefusalPaperSettings
{
    const string Extract = "Refusal/extract_refusal_dir.py", Apply = "Refusal/apply_refusal_dir.py";

    static RefusalPaperSetting Row(string key, PostTraining role, int layers, string script, int layer, int position,
        RefusalPaperTemplate direction, RefusalPaperTemplate intervention, int interventionLayer, string source) =>
        new(new PaperModel(key, FamilyOf(key), role, layers, true), script, layer, position, direction, intervention, interventionLayer, source);

    static PaperFamily FamilyOf(string key) =>
        key.StartsWith("llama-3", StringComparison.Ordinal) ? PaperFamily.Llama3 : key.StartsWith("llama-2", StringComparison.Ordinal) ? PaperFamily.Llama2 : PaperFamily.Mistral;

    /// <summary>
    /// Every model the paper's refusal code names, with the line ranges each value comes from. The Tulu SFT model is
    /// prompted in LLAMA3_BASE_TEMPLATE for its direction but in TULU_TEMPLATE when intervened on. Llama-2's
    /// directions are taken at layer 14 but applied at layer 13. Mistral-7B-Instruct has a direction
    /// (extract_refusal_dir.py) but no branch in apply_refusal_dir.py: it is steered at its direction's layer in its
    /// own template. The paper's code has no Mistral base or SFT direction and no Llama-2 SFT model.
    /// </summary>
    public static IReadOnlyList<RefusalPaperSetting> Table { get; } =
    [
        Row("llama-3.1-8b", PostTraining.Base, 32, "llama-3.1-8b", 11, -4, RefusalPaperTemplate.Llama3Base, RefusalPaperTemplate.Llama3Base, 11,
            $"{Extract}:107-128; {Apply}:172-191, layer 236"),
        Row("llama-3.1-8b-instruct", PostTraining.Instruct, 32, "llama-3.1-8b-instruct", 11, -2, RefusalPaperTemplate.Llama3Chat, RefusalPaperTemplate.Llama3Chat, 11,
            $"{Extract}:130-151; {Apply}:217-234, layer 236"),
        Row("llama-3.1-8b-sft", PostTraining.Sft, 32, "tulu", 11, -1, RefusalPaperTemplate.Llama3Base, RefusalPaperTemplate.Tulu, 11,
            $"{Extract}:153-174; {Apply}:196-214, layer 236"),
        Row("mistral-7B-instruct", PostTraining.Instruct, 32, "mistral", 12, -1, RefusalPaperTemplate.Mistral, RefusalPaperTemplate.Mistral, 12,
            $"{Extract}:176-197; not in {Apply}: steered at the direction's layer"),
        Row("llama-2-13b", PostTraining.Base, 40, "llama-2-13b", 14, -4, RefusalPaperTemplate.Llama2Base, RefusalPaperTemplate.Llama2Base, 13,
            $"{Extract}:199-220; {Apply}:258-278, layer 259"),
        Row("llama-2-13b-instruct", PostTraining.Instruct, 40, "llama-2-13b-chat", 14, -1, RefusalPaperTemplate.Llama2Chat, RefusalPaperTemplate.Llama2Chat, 13,
            $"{Extract}:222-243; {Apply}:279-297, layer 259"),
    ];

    /// <summary>The layer the paper's code uses for every model of a family (11 for all Llama-3.1 models, 14 for Llama-2, 12 for Mistral).</summary>
    static int? FamilyLayer(PaperFamily f, bool intervention) => f switch
    {
        PaperFamily.Llama3 => 11,
        PaperFamily.Llama2 => intervention ? 13 : 14,
        PaperFamily.Mistral => 12,
        _ => null,
    };

    /// <summary>
    /// The settings of <paramref name="model"/>: its table row when the key and role match one, else the rule.
    /// The rule, after the paper's own choices: the layer is the one the paper uses for the model's family (it fixes
    /// one per family), else Llama-3.1-8B's layer 11 at the same relative depth (<see cref="PaperModel.ScaleLayer"/>);
    /// the position is −4 for a base model and −1 otherwise (the paper's base models all use −4; its SFT, Mistral
    /// and Llama-2-chat models −1); a base model is prompted in "User: {instruction}\nAssistant:" (the paper's base
    /// template for every family), an SFT model in that template for its direction and in its own chat template when
    /// intervened on (as the paper does with Tulu), an instruct model in its own chat template throughout.
    /// </summary>
    public static RefusalPaperSetting For(PaperModel model)
    {
        ArgumentNullException.ThrowIfNull(model);
        var row = Table.FirstOrDefault(r => r.Model.Key == model.Key && r.Model.Role == model.Role);
        if (row is not null && model.InTable) return row with { Model = model };
        int layer = FamilyLayer(model.Family, intervention: false) ?? model.ScaleLayer(11);
        int interventionLayer = FamilyLayer(model.Family, intervention: true) ?? layer;
        int position = model.Role == PostTraining.Base ? -4 : -1;
        var (direction, intervention) = model.Role switch
        {
            PostTraining.Base => (RefusalPaperTemplate.Llama3Base, RefusalPaperTemplate.Llama3Base),
            PostTraining.Sft => (RefusalPaperTemplate.Llama3Base, (RefusalPaperTemplate?)null),
            _ => ((RefusalPaperTemplate?)null, (RefusalPaperTemplate?)null),
        };
        string where = FamilyLayer(model.Family, false) is null ? $"layer 11 of 32 scaled to {model.NumLayers} layers" : $"the paper's {model.Family} layer";
        return new RefusalPaperSetting(model, null, layer, position, direction, intervention, interventionLayer,
            $"rule (not in the paper's table): {where}, position {position} for {model.Role switch { PostTraining.Base => "a base", PostTraining.Sft => "an SFT", _ => "an instruct" }} model");
    }

    /// <summary>
    /// The activation-addition coefficient c (the direction added is c·r̂): for Llama-2, 4 with the base model's
    /// direction and 5 with the chat model's, whichever model is intervened on (apply_refusal_dir.py line 302);
    /// otherwise by the intervened model, 1.2 for a base model, 1.8 for an SFT model and 2.4 for an instruct model
    /// (lines 249-255; the rule for models outside the table).
    /// </summary>
    public static float AdditionCoefficient(PaperModel intervened, PaperModel direction)
    {
        ArgumentNullException.ThrowIfNull(intervened);
        ArgumentNullException.ThrowIfNull(direction);
        if (intervened.Family == PaperFamily.Llama2 && intervened.InTable) return direction.Role == PostTraining.Base ? 4f : 5f;
        return intervened.Role switch
        {
            PostTraining.Base => 1.2f,
            PostTraining.Sft => 1.8f,
            _ => 2.4f,
        };
    }

    /// <summary>
    /// The subtraction coefficient (c·r̂ subtracted): 2.2 (apply_refusal_dir.py lines 246-247), for Llama-2 the
    /// addition coefficients of line 302. The paper's code subtracts only the chat model's direction: with the base
    /// model's it ablates instead (lines 496-499); here every direction is subtracted.
    /// </summary>
    public static float SubtractionCoefficient(PaperModel intervened, PaperModel direction) =>
        intervened.Family == PaperFamily.Llama2 && intervened.InTable ? AdditionCoefficient(intervened, direction) : 2.2f;

    /// <summary>
    /// Cosine similarities of the paper's published directions, Refusal/refusal_directions/refusal_dir_{llama-3.1-8b,
    /// llama-3.1-8b-instruct, tulu}.pt (bfloat16, 4096 values, norms 0.998, 1.002, 1.002), computed in double from
    /// those files (apply_refusal_dir.py line 375 prints the same cosine); null for other pairs, a model with itself included.
    /// </summary>
    public static double? PublishedCosine(PaperModel a, PaperModel b)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        if (!a.InTable || !b.InTable) return null;
        var pair = string.CompareOrdinal(a.Key, b.Key) <= 0 ? (a.Key, b.Key) : (b.Key, a.Key);
        return pair switch
        {
            ("llama-3.1-8b", "llama-3.1-8b-instruct") => 0.2506,
            ("llama-3.1-8b", "llama-3.1-8b-sft") => 0.0731,
            ("llama-3.1-8b-instruct", "llama-3.1-8b-sft") => 0.4352,
            _ => null,
        };
    }

    /// <summary>
    /// Why the report has no published refusal scores beside ours: the numbers of the paper's Table 4 were not
    /// available where this was built, and the paper's Refusal/results/refusal_scores.json is an empty list.
    /// </summary>
    public const string PublishedScoresNote =
        "The paper's Table 4 scores (arXiv 2504.02904) could not be obtained where OnnxInterp was built, and its repository's " +
        "Refusal/results/refusal_scores.json is empty, so no published score is shown beside ours.";
}
