using System.Net;
using System.Text;
using Markdig;
using Markdig.Extensions.AutoIdentifiers;
using Markdig.Renderers;
using Markdig.Renderers.Html;
using Markdig.Syntax;
using Markdig.Syntax.Inlines;
using OnnxInterp.Internals;

namespace OnnxInterp.Reports;

/// <summary>
/// Renders a report's Markdown as one self-contained HTML page: inline CSS, PNG figures as data: URIs, a contents list
/// of the second-level headings, no scripts and no external references, so it opens offline and can be mailed.
/// </summary>
public static class HtmlReport
{
    static readonly MarkdownPipeline Pipeline = new MarkdownPipelineBuilder()
        .UsePipeTables()
        .UseAutoIdentifiers(AutoIdentifierOptions.GitHub)
        .Build();

    /// <summary>The page for <paramref name="markdown"/>; image paths are relative to <paramref name="baseDirectory"/>.</summary>
    public static string Render(string markdown, string title, string baseDirectory)
    {
        var doc = Markdown.Parse(markdown, Pipeline);
        foreach (var link in doc.Descendants<LinkInline>().Where(l => l.IsImage))
        {
            var url = link.Url ?? "";
            if (url.StartsWith("data:", StringComparison.Ordinal)) continue;
            var path = Path.GetFullPath(Path.Combine(baseDirectory, Uri.UnescapeDataString(url)));
            if (!File.Exists(path)) Throw.Argument("the report references a figure that does not exist", "figure", url);
            if (!path.EndsWith(".png", StringComparison.OrdinalIgnoreCase)) Throw.Argument("report figures must be PNG files", "figure", url);
            link.Url = "data:image/png;base64," + Convert.ToBase64String(File.ReadAllBytes(path));
        }
        // Links to other files would break once the page is moved; only in-page anchors and web addresses stay links.
        foreach (var link in doc.Descendants<LinkInline>().Where(l => !l.IsImage).ToList())
        {
            var url = link.Url ?? "";
            if (url.StartsWith('#') || url.StartsWith("https://", StringComparison.Ordinal)) continue;
            link.Url = null;
        }

        var contents = new StringBuilder();
        foreach (var h in doc.Descendants<HeadingBlock>().Where(h => h.Level == 2))
        {
            var id = h.GetAttributes().Id;
            var text = h.Inline is null ? "" : string.Concat(h.Inline.Descendants<LiteralInline>().Select(l => l.Content.ToString()));
            if (id is not null) contents.Append($"<li><a href=\"#{WebUtility.HtmlEncode(id)}\">{WebUtility.HtmlEncode(text)}</a></li>");
        }

        var body = new StringWriter();
        var renderer = new HtmlRenderer(body);
        Pipeline.Setup(renderer);
        renderer.Render(doc);
        body.Flush();

        return $"""
            <!DOCTYPE html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>{WebUtility.HtmlEncode(title)}</title>
            <style>{Css}</style>
            </head>
            <body>
            <nav><strong>Contents</strong><ul>{contents}</ul></nav>
            <main>
            {body}
            </main>
            </body>
            </html>
            """;
    }

    const string Css = """
        body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 0; color: #1f2328; background: #fff; line-height: 1.5; }
        nav { position: fixed; top: 0; left: 0; width: 14rem; height: 100vh; overflow-y: auto; padding: 1rem; box-sizing: border-box; background: #f6f8fa; border-right: 1px solid #d0d7de; font-size: 0.9rem; }
        nav ul { padding-left: 1rem; }
        main { margin-left: 15rem; padding: 1rem 2rem 4rem; max-width: 80rem; }
        h1 { border-bottom: 2px solid #d0d7de; padding-bottom: 0.3rem; }
        h2 { border-bottom: 1px solid #d0d7de; padding-bottom: 0.2rem; margin-top: 2.5rem; }
        table { border-collapse: collapse; margin: 0.8rem 0; font-size: 0.9rem; }
        th, td { border: 1px solid #d0d7de; padding: 0.25rem 0.6rem; text-align: left; }
        th { background: #f6f8fa; }
        td { font-variant-numeric: tabular-nums; }
        code { background: #f6f8fa; padding: 0.1rem 0.3rem; border-radius: 4px; font-size: 0.85em; }
        pre { background: #f6f8fa; padding: 0.8rem; overflow-x: auto; border-radius: 6px; }
        pre code { padding: 0; }
        img { width: min(100%, 420px); height: auto; margin: 0.3rem; border: 1px solid #eaeef2; vertical-align: top; }
        @media print { nav { display: none; } main { margin-left: 0; } }
        """;
}
