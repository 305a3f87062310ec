namespace OnnxInterp.Analysis.Knowledge;

/// <summary>
/// The knowledge analysis's settings under the paper's protocol: the subject and object token counts of each dataset's
/// pattern per tokenizer family, as Knowledge+Truthfulness/patching_process_data.py hard-codes them (lines 34–170:
/// Llama-3 lines 37–73, Llama-2 lines 75–111, Mistral lines 113–150), and the positions patched.
/// </summary>
public static class KnowledgePaperSettings
{
    static readonly Dictionary<(PaperFamily, string), (int Subject, int Object)> s_tokens = new()
    {
        // Llama-3 (patching_process_data.py 37–73): cities/neg_cities 3+1, numbers 3+2, Spanish words 2+1.
        [(PaperFamily.Llama3, "cities")] = (3, 1),
        [(PaperFamily.Llama3, "neg_cities")] = (3, 1),
        [(PaperFamily.Llama3, "larger_than")] = (3, 2),
        [(PaperFamily.Llama3, "smaller_than")] = (3, 2),
        [(PaperFamily.Llama3, "sp_en_trans")] = (2, 1),
        [(PaperFamily.Llama3, "neg_sp_en_trans")] = (2, 1),
        // Llama-2 (75–111): numbers 5+4.
        [(PaperFamily.Llama2, "cities")] = (3, 1),
        [(PaperFamily.Llama2, "neg_cities")] = (3, 1),
        [(PaperFamily.Llama2, "larger_than")] = (5, 4),
        [(PaperFamily.Llama2, "smaller_than")] = (5, 4),
        [(PaperFamily.Llama2, "sp_en_trans")] = (2, 1),
        [(PaperFamily.Llama2, "neg_sp_en_trans")] = (2, 1),
        // Mistral v0.3 (113–150): larger_than 4+3, smaller_than 4+4.
        [(PaperFamily.Mistral, "cities")] = (3, 1),
        [(PaperFamily.Mistral, "neg_cities")] = (3, 1),
        [(PaperFamily.Mistral, "larger_than")] = (4, 3),
        [(PaperFamily.Mistral, "smaller_than")] = (4, 4),
        [(PaperFamily.Mistral, "sp_en_trans")] = (2, 1),
        [(PaperFamily.Mistral, "neg_sp_en_trans")] = (2, 1),
    };

    /// <summary>
    /// The subject and object token counts the paper's pattern fixes for <paramref name="dataset"/> under a
    /// <paramref name="family"/> tokenizer, or null where the paper has no pattern (another family, or a dataset the
    /// paper does not trace). Where it is null the documented rule applies: the most common counts among the
    /// statements that fit the template, as the paper chose its patterns ("We use the most common length and pattern",
    /// patching_process_data.py line 30).
    /// </summary>
    public static (int Subject, int Object)? TokenCounts(PaperFamily family, string dataset) =>
        s_tokens.TryGetValue((family, dataset), out var c) ? c : null;

    /// <summary>The datasets the paper traces with a pattern (the rest of its datasets use the documented rule).</summary>
    public static IReadOnlyList<string> PatternDatasets { get; } = ["cities", "neg_cities", "larger_than", "smaller_than", "sp_en_trans", "neg_sp_en_trans"];
}
