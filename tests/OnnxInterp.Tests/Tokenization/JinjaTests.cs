using System.Text.Json;
using OnnxInterp.Tokenization.Jinja;

namespace OnnxInterp.Tests.Tokenization;

/// <summary>
/// The jinja interpreter feature by feature, against expected strings (each checked with Python's jinja2 3.1.6 in
/// transformers' environment; the full cross-check is JinjaGoldenTests), its errors with their positions, and its API.
/// </summary>
[TestFixture]
public class JinjaTests
{
    static readonly Dictionary<string, object?> s_vars = new()
    {
        ["x"] = 3,
        ["name"] = "World",
        ["l"] = new List<object?> { 1, 2, 3, 4 },
        ["d"] = new Dictionary<string, object?> { ["a"] = 1, ["b"] = new List<object?> { 1, 2 } },
        ["msgs"] = new List<object?>
        {
            new Dictionary<string, object?> { ["role"] = "system", ["content"] = "Be brief." },
            new Dictionary<string, object?> { ["role"] = "user", ["content"] = " Hi " },
            new Dictionary<string, object?> { ["role"] = "assistant", ["content"] = "Hello", ["tool"] = "calc" },
        },
    };

    static string Render(string source) => JinjaTemplate.Parse(source).Render(s_vars);

    // ---- delimiters, comments, whitespace control (trim_blocks and lstrip_blocks as transformers sets them) ----

    [TestCase("Hello {{ name }}!", "Hello World!")]
    [TestCase("a{# comment {{ x }} #}b", "ab")]
    [TestCase("{% raw %}{{ x }}{% endraw %}", "{{ x }}")]
    [TestCase("a  {{- x -}}  b", "a3b")]
    [TestCase("a  {{- x }}  b", "a3  b")]
    [TestCase("a \n {%- if true -%} \n b \n {%- endif -%} \n c", "abc")]
    [TestCase("a \n {#- c -#} \n b", "ab")]
    [TestCase("{% if true %}\nyes\n{% endif %}\nafter", "yes\nafter")]
    [TestCase("{# c #}\nline", "line")]
    [TestCase("  {% if true %}\n  x\n  {% endif %}\ny", "  x\ny")]
    [TestCase("a {% if true %}b{% endif %} c", "a b c")]
    [TestCase("  {{ 'x' }}\n", "  x")]
    [TestCase("  {%+ if true %}x{% endif %}", "  x")]
    [TestCase("{% if true +%}\nx{% endif %}", "\nx")]
    [TestCase("{{ 'a' -}}\n  {% if true %}b{% endif %}", "ab")]
    [TestCase("x\n\n", "x\n")]
    [TestCase("a\r\nb", "a\nb")]
    [TestCase("{%- for m in msgs %}\n    {%- if m.role == 'user' %}\n        {{- 'U:' + m.content | trim }}\n    {%- endif %}\n{%- endfor %}\n", "U:Hi")]
    public void Render_DelimitersAndWhitespaceControl(string source, string expected) =>
        Assert.That(Render(source), Is.EqualTo(expected));

    // ---- literals and operators ----

    [TestCase("{{ 'a\\nb' }}|{{ \"q\\\"\" }}|{{ '\\u00e9\\x41' }}|{{ '\\d' }}", "a\nb|q\"|éA|\\d")]
    [TestCase("{{ 42 }} {{ 1_000 }} {{ 0x1F }} {{ 1.5 }} {{ 1e3 }} {{ 1.0 }} {{ 1e16 }} {{ 0.1 + 0.2 }}", "42 1000 31 1.5 1000.0 1.0 1e+16 0.30000000000000004")]
    [TestCase("{{ true }} {{ True }} {{ false }} {{ none }} {{ None }}", "True True False None None")]
    [TestCase("{{ [1, 'a', none] }} {{ {'a': 1, 'b': [true]} }} {{ (1,) }} {{ (1, 2) }}", "[1, 'a', None] {'a': 1, 'b': [True]} (1,) (1, 2)")]
    [TestCase("{{ 7 / 2 }} {{ 8 / 2 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ -7 % 3 }} {{ 2 ** 10 }} {{ 1 + true }}", "3.5 4.0 3 -4 2 1024 2")]
    [TestCase("{{ 'a' + 'b' }} {{ [1] + [2] }} {{ 'ab' * 2 }} {{ 'a' ~ 1 ~ none ~ nothing }}", "ab [1, 2] abab a1None")]
    [TestCase("{{ 1 + 2 * 3 }} {{ 2 ** 3 ** 2 }} {{ -2 ** 2 }} {{ -x|abs }} {{ 'x' ~ 2 * 3 }}", "7 64 4 3 x6")]
    [TestCase("{{ 1 < 2 < 3 }} {{ 1 == 1.0 }} {{ 'a' != 'b' }} {{ [1, 2] < [1, 3] }} {{ 'B' < 'a' }}", "True True True True True")]
    [TestCase("{{ 0 or 'x' }} {{ 'a' and 'b' }} {{ not true or true }} {{ not (true or true) }}", "x b True False")]
    [TestCase("{{ 'a' in 'cat' }} {{ 2 in l }} {{ 'a' in d }} {{ 'z' not in 'cat' }} {{ 'x' in nothing }}", "True True True True False")]
    [TestCase("{{ 'y' if true else 'n' }} {{ 'y' if false else 'n' }} [{{ 'y' if false }}]", "y n []")]
    public void Render_LiteralsAndOperators(string source, string expected) =>
        Assert.That(Render(source), Is.EqualTo(expected));

    // ---- attribute and item access, slicing, dict and str methods ----

    [TestCase("{{ d.a }} {{ d['a'] }} {{ d.b[1] }} {{ d.b.0 }} {{ l[-1] }} [{{ l[10] }}] [{{ d.missing }}] [{{ none.x }}]", "1 1 2 1 4 [] [] []")]
    [TestCase("{{ l[1:] }} {{ l[:2] }} {{ l[::-1] }} {{ l[::2] }} {{ l[3:0:-1] }} {{ 'héllo🙂'[::-1] }} {{ 'héllo🙂'|length }}", "[2, 3, 4] [1, 2] [4, 3, 2, 1] [1, 3] [4, 3, 2] 🙂olléh 6")]
    [TestCase("{{ d.items()|list }} {{ d.keys()|list }} {{ d.values()|list }} {{ d.get('a') }} {{ d.get('z', 0) }} {{ d.get('z') }}", "[('a', 1), ('b', [1, 2])] ['a', 'b'] [1, [1, 2]] 1 0 None")]
    [TestCase("[{{ '  x '.strip() }}] [{{ 'xxhixx'.strip('x') }}] [{{ '\n\nx'.lstrip('\n') }}] [{{ 'x  '.rstrip() }}]", "[x] [hi] [x] [x]")]
    [TestCase("{{ 'hello'.startswith('he') }} {{ 'hello'.endswith(('x', 'lo')) }} {{ 'a<b>c'.split('<b>')[-1] }} {{ ' a  b '.split() }}", "True True c ['a', 'b']")]
    [TestCase("{{ 'Hi'.upper() }} {{ 'Hi'.lower() }} {{ \"they're 1st\".title() }} {{ 'aXa'.replace('a', 'b') }} {{ '{} {x}'.format(1, x=2) }}", "HI hi They'Re 1St bXb 1 2")]
    public void Render_AccessAndMethods(string source, string expected) =>
        Assert.That(Render(source), Is.EqualTo(expected));

    // ---- statements ----

    [TestCase("{% for c in 'abc' %}{{ loop.index }}{{ loop.index0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }}{{ loop.revindex }}{{ c }}|{% endfor %}",
        "10TrueFalse33a|21FalseFalse32b|32FalseTrue31c|")]
    [TestCase("{% for x in [] %}x{% else %}empty{% endfor %}{% for x in nothing %}x{% else %}!{% endfor %}", "empty!")]
    [TestCase("{% for k, v in d|items %}{{ k }}={{ v }};{% endfor %}", "a=1;b=[1, 2];")]
    [TestCase("{% for x in range(10) if x is odd %}{{ x }}{{ loop.index }},{% endfor %}", "11,32,53,74,95,")]
    [TestCase("{% for x in range(10) %}{% if x == 2 %}{% continue %}{% endif %}{% if x == 5 %}{% break %}{% endif %}{{ x }}{% endfor %}", "0134")]
    [TestCase("{% for a in [1, 2] %}{% for b in [3] %}{{ loop.index }}{{ a }}{{ b }} {% endfor %}{{ loop.length }}|{% endfor %}", "113 2|123 2|")]
    [TestCase("{% set x = 1 %}{% for i in [1, 2] %}{{ x }}{% set x = 2 %}{{ x }}{% endfor %}{{ x }}", "12121")]
    [TestCase("{% if true %}{% set y = 5 %}{% endif %}{{ y }}", "5")]
    [TestCase("{% for n in [1, 2, 3] %}{% if n == 1 %}one{% elif n == 2 %}two{% else %}many{% endif %} {% endfor %}", "one two many ")]
    [TestCase("{% set a = 1 %}{% set b, c = [2, 3] %}{% set t = 4, 5 %}{{ a }}{{ b }}{{ c }}{{ t }}", "123(4, 5)")]
    [TestCase("{% set s %} hi {{ 1 + 1 }} {% endset %}[{{ s }}]{% set u | upper | trim %} hi {% endset %}[{{ u }}]", "[ hi 2 ][HI]")]
    [TestCase("{% set ns = namespace(found=false, n=0) %}{% for m in msgs %}{% if m.role == 'user' %}{% set ns.found = true %}{% endif %}{% set ns.n = ns.n + 1 %}{% endfor %}{{ ns.found }} {{ ns.n }}",
        "True 3")]
    [TestCase("{% macro greet(who, greeting='Hello') %}{{ greeting }}, {{ who }}!{% endmacro %}{{ greet('Bob') }} {{ greet('Al', greeting='Hi') }}", "Hello, Bob! Hi, Al!")]
    [TestCase("{% macro wrap(tag) %}<{{ tag }}>{{ caller() }}</{{ tag }}>{% endmacro %}{% call wrap('b') %}bold{% endcall %}", "<b>bold</b>")]
    [TestCase("{% macro m(a, b=2) %}{{ a }}{{ b }}{{ varargs }}{% endmacro %}{{ m(*[1, 5, 6]) }} {{ m(1, **{'b': 7}) }}", "15(6,) 17()")]
    [TestCase("{% with a = 1, b = 2 %}{{ a + b }}{% endwith %}[{{ a }}]", "3[]")]
    [TestCase("{% filter upper %}abc {{ 'd' }}{% endfilter %}", "ABC D")]
    [TestCase("a{% generation %}gen{% endgeneration %}b", "agenb")]
    [TestCase("{% print 'a', 1 %}", "a1")]
    public void Render_Statements(string source, string expected) =>
        Assert.That(Render(source), Is.EqualTo(expected));

    // ---- tests (is) ----

    [TestCase("{{ x is defined }} {{ y is defined }} {{ y is undefined }} {{ none is none }} {{ x is not none }}", "True False True True True")]
    [TestCase("{{ 'a' is string }} {{ 1 is number }} {{ true is number }} {{ {} is mapping }} {{ 'a' is iterable }} {{ 1 is iterable }} {{ [] is sequence }}", "True True True True True False True")]
    [TestCase("{{ true is boolean }} {{ 1 is boolean }} {{ true is true }} {{ 1 is true }} {{ false is false }}", "True False True False True")]
    [TestCase("{{ 3 is odd }} {{ 4 is even }} {{ 9 is divisibleby 3 }} {{ 9 is divisibleby(4) }} {{ 2 is gt 1 }} {{ 'a' is in 'abc' }}", "True True True False True True")]
    public void Render_Tests(string source, string expected) =>
        Assert.That(Render(source), Is.EqualTo(expected));

    // ---- filters ----

    [TestCase("[{{ '  a \n'|trim }}] [{{ 'xxaxx'|trim('x') }}] {{ 'abc'|length }} {{ l|count }} {{ nothing|length }}", "[a] [a] 3 4 0")]
    [TestCase("{{ 'hi WORLD'|upper }} {{ 'HeLLo'|lower }} {{ 'hello wORLD-foo'|title }} {{ 'hello WORLD'|capitalize }}", "HI WORLD hello Hello World-Foo Hello world")]
    [TestCase("{{ l|join(', ') }} {{ msgs|join('|', attribute='role') }} {{ l|first }} {{ l|last }} [{{ []|first }}]", "1, 2, 3, 4 system|user|assistant 1 4 []")]
    [TestCase("{{ nothing|default('dflt') }} [{{ ''|default('dflt') }}] {{ ''|d('dflt', true) }} {{ none|default('x') }}", "dflt [] dflt None")]
    [TestCase("{{ d|tojson }} {{ 'é\"\n'|tojson }} {{ 'é'|tojson(ensure_ascii=true) }}", "{\"a\": 1, \"b\": [1, 2]} \"é\\\"\\n\" \"\\u00e9\"")]
    [TestCase("{{ d|tojson(indent=2) }}", "{\n  \"a\": 1,\n  \"b\": [\n    1,\n    2\n  ]\n}")]
    [TestCase("{{ 1|string }} {{ '42'|int }} {{ '4.7'|int }} {{ 'x'|int(5) }} {{ '3.5'|float }} {{ 'ab'|list }}", "1 42 4 5 3.5 ['a', 'b']")]
    [TestCase("{{ 'aaa'|replace('a', 'b') }} {{ 'aaa'|replace('a', 'b', 2) }}", "bbb bba")]
    [TestCase("{{ msgs|selectattr('role', 'equalto', 'user')|map(attribute='content')|join }} {{ msgs|rejectattr('role', 'eq', 'user')|list|length }} {{ msgs|selectattr('tool')|map(attribute='tool')|first }}", " Hi  2 calc")]
    [TestCase("{{ l|select('odd')|list }} {{ l|reject('odd')|list }} {{ ['a', 'b']|map('upper')|list }} {{ msgs|map(attribute='tool', default='-')|join }}", "[1, 3] [2, 4] ['A', 'B'] --calc")]
    [TestCase("{{ {'b': 1, 'A': 2}|dictsort }} {{ {'b': 1, 'a': 2}|dictsort(by='value') }} {{ d|items|list }}", "[('A', 2), ('b', 1)] [('b', 1), ('a', 2)] [('a', 1), ('b', [1, 2])]")]
    [TestCase("{{ 'abc'|reverse }} {{ l|reverse|list }} {{ ['a', 'A', 'b']|unique|list }} {{ -3|abs }} {{ 2.5|round }} {{ 2.567|round(2) }} {{ 2.1|round(method='ceil') }}",
        "cba [4, 3, 2, 1] ['a', 'b'] 3 2.0 2.57 3.0")]
    [TestCase("{{ [3, 1, 2]|sort }} {{ [3, 1, 2]|min }} {{ [3, 1, 2]|max }} {{ l|sum }} {{ 'a\nb'|indent(2, true) }}", "[1, 2, 3] 1 3 10   a\n  b")]
    public void Render_Filters(string source, string expected) =>
        Assert.That(Render(source), Is.EqualTo(expected));

    // ---- globals ----

    [Test]
    public void Render_Globals()
    {
        Assert.That(Render("{{ range(3)|list }} {{ range(10, 0, -3)|list }} {{ dict(a=1) }} {{ namespace(a=1).a }}"), Is.EqualTo("[0, 1, 2] [10, 7, 4, 1] {'a': 1} 1"));
        var t = JinjaTemplate.Parse("{{ strftime_now('%d %b %Y') }}|{{ strftime_now('%Y-%m-%d %H:%M:%S %A %-d') }}");
        Assert.That(t.Render(s_vars, () => new DateTime(2024, 7, 6, 9, 5, 7)), Is.EqualTo("06 Jul 2024|2024-07-06 09:05:07 Saturday 6"));
    }

    // ---- undefined ----

    [Test]
    public void Undefined_PrintsEmptyIsFalsyAndIteratesEmpty()
    {
        Assert.That(Render("[{{ nothing }}] [{{ nothing|length }}] [{% if nothing %}t{% else %}f{% endif %}] [{% for x in nothing %}x{% endfor %}] [{{ nothing is defined }}] [{{ nothing ~ 'x' }}] [{{ nothing == other }}]"),
            Is.EqualTo("[] [0] [f] [] [False] [x] [True]"));
        Assert.That(Render("[{{ d.missing }}] [{{ l[99] }}] [{{ msgs[0].tool }}]"), Is.EqualTo("[] [] []"));
    }

    [TestCase("{{ nothing.attr }}", "'nothing' is undefined")]
    [TestCase("{{ d.missing.attr }}", "'dict object' has no attribute 'missing'")]
    [TestCase("{{ nothing['k'] }}", "'nothing' is undefined")]
    [TestCase("{{ nothing + 1 }}", "'nothing' is undefined")]
    [TestCase("{{ nothing() }}", "'nothing' is undefined")]
    [TestCase("{{ nothing|tojson }}", "Object of type Undefined is not JSON serializable")]
    public void Undefined_UsedAsAValue_Fails(string source, string reason)
    {
        var ex = Assert.Throws<JinjaException>(() => Render(source))!;
        Assert.That((ex.Kind, ex.Reason, ex.Line), Is.EqualTo((JinjaErrorKind.Render, reason, 1)));
    }

    // ---- errors: typed, with the template position ----

    [TestCase("{% if %}x{% endif %}", 1, 7, "Expected an expression")]
    [TestCase("{{ 1 +\n }}", 2, 2, "unexpected 'end of print statement'")]
    [TestCase("{% if true %}\nno end", 2, 7, "Unexpected end of template")]
    [TestCase("ab\n{% endif %}", 2, 4, "Encountered unknown tag 'endif'")]
    [TestCase("{{ 'abc }}", 1, 4, "unexpected char")]
    [TestCase("a {# never closed", 1, 3, "Missing end of comment tag")]
    [TestCase("{{ (1 }}", 1, 7, "unexpected '}', expected ')'")]
    [TestCase("{{ x|nosuchfilter }}", 1, 6, "No filter named 'nosuchfilter'")]
    [TestCase("{{ x|groupby('a') }}", 1, 6, "the jinja filter 'groupby' is not supported")]
    [TestCase("{{ x is nosuchtest }}", 1, 9, "No test named 'nosuchtest'")]
    [TestCase("{% break %}", 1, 4, "'break' outside a for loop")]
    [TestCase("{% include 'x' %}", 1, 4, "the jinja tag 'include' is not supported")]
    [TestCase("{% for x in l recursive %}{% endfor %}", 1, 15, "recursive for loops are not supported")]
    [TestCase("{% macro m(a=1, b) %}{% endmacro %}", 1, 17, "non-default argument follows default argument")]
    public void Parse_SyntaxError_IsTypedWithPosition(string source, int line, int column, string reason)
    {
        var ex = Assert.Throws<JinjaException>(() => JinjaTemplate.Parse(source))!;
        Assert.That(ex.Kind, Is.EqualTo(JinjaErrorKind.Syntax));
        Assert.That((ex.Line, ex.Column), Is.EqualTo((line, column)), ex.Message);
        Assert.That(ex.Reason, Does.Contain(reason));
        Assert.That(ex.Message, Does.Contain($"line {line}, column {column}"));
        Assert.That(ex, Is.InstanceOf<OnnxInterpException>());
    }

    [Test]
    public void Render_RaiseException_IsRaisedKindWithMessageAndPosition()
    {
        var t = JinjaTemplate.Parse("line one\n{% if true %}\n  {{ raise_exception('Roles must alternate') }}\n{% endif %}");
        var ex = Assert.Throws<JinjaException>(() => t.Render(s_vars))!;
        Assert.That((ex.Kind, ex.Reason, ex.Line, ex.Column), Is.EqualTo((JinjaErrorKind.Raised, "Roles must alternate", 3, 6)));
    }

    [TestCase("{% if true %}{{ x|nosuchfilter }}{% endif %}", "No filter named 'nosuchfilter'")]
    [TestCase("{{ 'a' + 1 }}", "can only concatenate str (not \"int\") to str")]
    [TestCase("{{ 1 / 0 }}", "division by zero")]
    [TestCase("{{ 5|length }}", "object of type 'int' has no len()")]
    [TestCase("{% for x in 5 %}{% endfor %}", "'int' object is not iterable")]
    [TestCase("{% set a, b = [1] %}", "not enough values to unpack (expected 2, got 1)")]
    [TestCase("{% set x = 1 %}{% set x.y = 2 %}", "cannot assign attribute on non-namespace object")]
    [TestCase("{{ d.b.append(3) }}", "has no attribute 'append'")]
    [TestCase("{{ d.pop('a') }}", "dict.pop is not available")]
    [TestCase("{% macro m(a) %}{% endmacro %}{{ m(1, 2) }}", "macro 'm' takes not more than 1 argument(s)")]
    public void Render_RuntimeError_IsRenderKind(string source, string reason)
    {
        var t = JinjaTemplate.Parse(source);
        var ex = Assert.Throws<JinjaException>(() => t.Render(s_vars))!;
        Assert.That(ex.Kind, Is.EqualTo(JinjaErrorKind.Render));
        Assert.That(ex.Reason, Does.Contain(reason));
    }

    [Test]
    public void Parse_UnknownFilterInAnUntakenBranch_RendersAsJinja2Does()
    {
        Assert.That(Render("{% if false %}{{ x|nosuchfilter }}{% endif %}ok"), Is.EqualTo("ok"));
        Assert.That(Render("{{ x|nosuchfilter if false else 'b' }}"), Is.EqualTo("b"));
    }

    // ---- limits: templates come from model folders, so nothing may overflow the stack or run away ----

    [Test]
    public void Parse_DeepNesting_IsASyntaxErrorNotAStackOverflow()
    {
        var ex = Assert.Throws<JinjaException>(() => JinjaTemplate.Parse("{{ " + new string('(', 5000) + "1" + new string(')', 5000) + " }}"))!;
        Assert.That(ex.Reason, Does.Contain("nests deeper"));
        var blocks = string.Concat(Enumerable.Repeat("{% if true %}", 5000)) + string.Concat(Enumerable.Repeat("{% endif %}", 5000));
        Assert.That(Assert.Throws<JinjaException>(() => JinjaTemplate.Parse(blocks))!.Reason, Does.Contain("nests deeper"));
    }

    [TestCase("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", "macro calls nest deeper")]
    [TestCase("{{ range(1000000)|length }}", "Range too big")]
    [TestCase("{{ 'x' * 100000000 }}", "repetition result longer")]
    [TestCase("{{ 2 ** 100 }}", "integer overflow")]
    public void Render_RunawayTemplate_FailsCleanly(string source, string reason)
    {
        var ex = Assert.Throws<JinjaException>(() => Render(source))!;
        Assert.That(ex.Reason, Does.Contain(reason));
    }

    // ---- API ----

    [Test]
    public void Render_AcceptsDotNetAndJsonValues()
    {
        using var json = JsonDocument.Parse("""{"n": 2, "f": 2.0, "list": [1, "a", null, true], "obj": {"k": "v"}}""");
        var vars = new Dictionary<string, object?>
        {
            ["i"] = 1, ["l"] = 2L, ["dbl"] = 0.5, ["flt"] = 1.5f, ["b"] = true, ["none"] = null,
            ["strings"] = new[] { "a", "b" }, ["map"] = new Dictionary<string, object?> { ["k"] = new List<int> { 1 } },
            ["json"] = json.RootElement,
        };
        var t = JinjaTemplate.Parse("{{ i + l }} {{ dbl }} {{ flt }} {{ b }} {{ none }} {{ strings }} {{ map.k[0] }} {{ json.n }} {{ json.f }} {{ json.list }} {{ json.obj.k }}");
        Assert.That(t.Render(vars), Is.EqualTo("3 0.5 1.5 True None ['a', 'b'] 1 2 2.0 [1, 'a', None, True] v"));
        Assert.That(t.Source, Does.StartWith("{{ i + l }}"));
    }

    [Test]
    public void Render_UnsupportedVariableType_IsArgumentException()
    {
        var t = JinjaTemplate.Parse("{{ x }}");
        var ex = Assert.Throws<ArgumentException>(() => t.Render(new Dictionary<string, object?> { ["x"] = new Uri("http://a") }))!;
        Assert.That(ex.Message, Does.Contain("'x'"));
        Assert.Throws<ArgumentNullException>(() => JinjaTemplate.Parse(null!));
    }

    [Test]
    public void Render_OneTemplateFromManyThreads_GivesTheSameText()
    {
        var t = JinjaTemplate.Parse("{% set ns = namespace(n=0) %}{% for m in msgs %}{% set ns.n = ns.n + 1 %}{{ m.role }}{% endfor %}{{ ns.n }}");
        var results = new string[64];
        Parallel.For(0, results.Length, i => results[i] = t.Render(s_vars));
        Assert.That(results, Is.All.EqualTo("systemuserassistant3"));
    }
}
