using OnnxInterp.Runtime;
using OnnxInterp.Tokenization;

namespace OnnxInterp.Analysis.Refusal;

/// <summary>
/// A model taking part: its session and how it is prompted when intervened on (<see cref="Prompts"/>) and for its
/// direction (<see cref="DirectionPrompts"/>, null: the same). The first one given is the base.
/// </summary>
public sealed record RefusalModel(string Name, IHookedModel Model, InstructionPrompts Prompts)
{
    /// <summary>Prompts for the direction's mean activations when they differ from <see cref="Prompts"/> (the paper's Tulu SFT model).</summary>
    public InstructionPrompts? DirectionPrompts { get; init; }

    /// <summary>The paper's settings for this model; required under <see cref="AnalysisProtocol.Paper"/>.</summary>
    public RefusalPaperSetting? Paper { get; init; }

    /// <summary>
    /// Prompts from the session's folder: its tokenizer and the chat template named by <paramref name="template"/>,
    /// else the one the folder declares (<see cref="ModelChatTemplate"/>: plain for a base model).
    /// </summary>
    public static RefusalModel FromSession(string name, IHookedModel session, string? template = null) =>
        FromSession(name, session, Template(session, template));

    /// <summary>Prompts from the session's folder's tokenizer in <paramref name="template"/> (e.g. a comparison model's resolved one).</summary>
    public static RefusalModel FromSession(string name, IHookedModel session, ChatTemplate template)
    {
        ArgumentNullException.ThrowIfNull(session);
        return new(name, session, new InstructionPrompts(session.Tokenizer, template, session.Config.PadTokenId ?? 0));
    }

    /// <summary>
    /// The model as the paper prompts it (<see cref="RefusalPaperSettings.For"/>): the paper's template for its
    /// direction and for its interventions, or its own chat template where the settings leave it
    /// (<paramref name="ownTemplate"/>, else the one its folder resolves to). <paramref name="paper"/> identifies it:
    /// <c>PaperModels.Identify(session.Config, role)</c>.
    /// </summary>
    public static RefusalModel ForPaper(string name, IHookedModel session, PaperModel paper, ChatTemplate? ownTemplate = null)
    {
        ArgumentNullException.ThrowIfNull(session);
        var setting = RefusalPaperSettings.For(paper);
        var tokenizer = session.Tokenizer;
        int pad = session.Config.PadTokenId ?? 0;
        InstructionPrompts Prompts(RefusalPaperTemplate? t) => new(tokenizer, t?.ToChatTemplate() ?? ownTemplate ?? session.ChatTemplate, pad);
        var intervention = Prompts(setting.InterventionTemplate);
        var direction = setting.DirectionTemplate == setting.InterventionTemplate ? null : Prompts(setting.DirectionTemplate);
        return new RefusalModel(name, session, intervention) { DirectionPrompts = direction, Paper = setting };
    }

    static ChatTemplate Template(IHookedModel session, string? name) =>
        name is null ? session.ChatTemplate : ChatTemplates.Get(name);
}
