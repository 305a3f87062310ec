#!/usr/bin/env python3
"""Goldens for OnnxInterp's jinja interpreter (src/OnnxInterp/Tokenization/Jinja), rendered by Python's jinja2 set up
the way Hugging Face transformers renders chat templates (transformers/utils/chat_template_utils.py,
_compile_jinja_template and render_jinja_template):

    ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                  extensions=[AssistantTracker, jinja2.ext.loopcontrols])
    filters["tojson"] = json.dumps(x, ensure_ascii=False, indent=..., separators=..., sort_keys=...)
    globals["raise_exception"] raises TemplateError; globals["strftime_now"] = datetime.now().strftime
    template.render(messages=..., tools=None, documents=None, add_generation_prompt=..., bos_token=..., eos_token=...)

How to rerun (from the repository root; needs only jinja2, tested with 3.1.6):
    python3 tools/goldens/jinja2-goldens.py
It writes, under tests/OnnxInterp.Tests/Goldens/chat/:
  llama2.json               the published Llama-2 chat template over the conversations of chat-template-goldens.mjs
  shared-llama3.1.json      the chat_template of ../shared/tokenizers/llama3.1/tokenizer_config.json over the same
                            conversations (the template itself is not copied: the test reads it from ../shared)
  jinja2-features.json      one small template per interpreter feature, with its rendering or its error
and checks that jinja2 agrees with the five goldens chat-template-goldens.mjs made with @huggingface/jinja
(llama3, llama3.1, mistral, qwen2, tulu): it exits non-zero if one differs.
Never edit a golden by hand: when the interpreter disagrees, fix the interpreter.
"""
import hashlib
import json
import os
import sys
import traceback
from datetime import datetime

import jinja2
import jinja2.ext
import jinja2.nodes
from jinja2.ext import Extension
from jinja2.sandbox import ImmutableSandboxedEnvironment

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
OUT = os.path.join(REPO, "tests", "OnnxInterp.Tests", "Goldens", "chat")
SHARED_CONFIG = os.path.join(REPO, "..", "shared", "tokenizers", "llama3.1", "tokenizer_config.json")
REFERENCE = f"jinja2 {jinja2.__version__} (transformers' chat-template environment)"

# strftime_now reads this clock, so goldens do not depend on the day they were made; the C# tests pass the same one.
FIXED_NOW = datetime(2024, 7, 26, 9, 5, 7)


class AssistantTracker(Extension):
    """transformers' {% generation %} tag, without the assistant-mask bookkeeping (it does not change the text)."""

    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
        return jinja2.nodes.CallBlock(self.call_method("_generation_support"), [], [], body).set_lineno(lineno)

    def _generation_support(self, caller):
        return caller()


def raise_exception(message):
    raise jinja2.exceptions.TemplateError(message)


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def strftime_now(format):
    return FIXED_NOW.strftime(format)


ENV = ImmutableSandboxedEnvironment(
    trim_blocks=True, lstrip_blocks=True, extensions=[AssistantTracker, jinja2.ext.loopcontrols]
)
ENV.filters["tojson"] = tojson
ENV.globals["raise_exception"] = raise_exception
ENV.globals["strftime_now"] = strftime_now


def template_line(exc):
    """The template line an error points at: jinja2 sets it on syntax errors and rewrites runtime tracebacks."""
    if getattr(exc, "lineno", None):
        return exc.lineno
    line = None
    for frame, lineno in traceback.walk_tb(exc.__traceback__):
        if frame.f_code.co_filename == "<template>":
            line = lineno
    return line


def render(source, variables):
    """{"rendered": text} or {"error": message, "error_type": name, "phase": "parse"|"render", "line": n}."""
    try:
        template = ENV.from_string(source)
    except Exception as e:  # TemplateSyntaxError, TemplateAssertionError, and Python's SyntaxError for a stray break
        return {"error": str(e), "error_type": type(e).__name__,
                "phase": "parse", "line": template_line(e)}
    try:
        return {"rendered": template.render(**variables)}
    except Exception as e:
        return {"error": str(e), "error_type": type(e).__name__, "phase": "render", "line": template_line(e)}


# ---- chat templates -------------------------------------------------------------------------------------------------

# meta-llama/Llama-2-7b-chat-hf, tokenizer_config.json "chat_template" (also Llama-2-13b-chat-hf and -70b-chat-hf).
# Copy read from github.com/huggingface/text-generation-inference, router/src/infer/chat_template.rs, entry
# "meta-llama/Llama-2-13b-chat-hf" (commit 058162685f0531edb4c566151eb68c490ebe8267); "\\n" below is the two characters
# backslash and n, which jinja's string literal turns into a newline, as in the JSON file's "\\n".
LLAMA2 = {
    "name": "llama2",
    "source": "meta-llama/Llama-2-7b-chat-hf tokenizer_config.json (copy: huggingface/text-generation-inference router/src/infer/chat_template.rs)",
    "bos_token": "<s>",
    "eos_token": "</s>",
    "chat_template": "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}{% set system_message = false %}{% endif %}{% for message in loop_messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if loop.index0 == 0 and system_message != false %}{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}{% else %}{% set content = message['content'] %}{% endif %}{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}",
}


def u(content):
    return {"role": "user", "content": content}


def a(content):
    return {"role": "assistant", "content": content}


def s(content):
    return {"role": "system", "content": content}


# The conversations of chat-template-goldens.mjs, in the same order, each with add_generation_prompt true and false.
CONVERSATIONS = [
    ("single user turn", [u("What is the capital of France?")]),
    ("system + user", [s("You are a concise assistant."), u("Name a prime number.")]),
    ("user/assistant/user", [u("Hi!"), a("Hello! How can I help?"), u("Tell me a joke.")]),
    ("user/assistant", [u("Is the sky green?"), a("No, it is usually blue.")]),
    ("system + user/assistant/user", [s("Answer TRUE or FALSE."), u("Paris is in France."), a("TRUE"), u("Rome is in Spain.")]),
    ("surrounding whitespace", [u("  \n Leading and trailing spaces and newlines \n\n  ")]),
    ("whitespace in every role", [s("\tSystem with tab\n"), u(" user "), a("\n assistant \n"), u("last\n")]),
    ("inner newlines kept", [u("Line one\n\nLine two\n  indented")]),
    ("non-ASCII", [u("Wie heißt die Hauptstadt von Österreich? 東京は日本の首都です。 Привет 🙂")]),
    ("unicode spaces", [u("\u00a0\u3000full-width and no-break spaces\u2003\u00a0")]),
    ("empty content", [u("")]),
    ("markers in content", [u("<|eot_id|> [INST] <|im_end|> <|user|> </s> text")]),
    ("system only", [s("Only a system message.")]),
    ("assistant first", [a("I speak first."), u("Then me.")]),
    ("two user turns in a row", [u("First."), u("Second.")]),
    ("system after the first message", [u("Question?"), s("Late system message.")]),
]


def chat_cases(chat_template, bos_token, eos_token):
    cases = []
    for title, messages in CONVERSATIONS:
        for add_generation_prompt in (True, False):
            variables = dict(messages=messages, tools=None, documents=None, add_generation_prompt=add_generation_prompt)
            if bos_token is not None:
                variables["bos_token"] = bos_token
            if eos_token is not None:
                variables["eos_token"] = eos_token
            result = render(chat_template, variables)
            if "error" in result and result["phase"] == "parse":
                sys.exit(f"the chat template does not parse: {result['error']}")
            case = {"title": title, "add_generation_prompt": add_generation_prompt, "messages": messages}
            case.update({"rendered": result["rendered"]} if "rendered" in result else {"error": result["error"]})
            cases.append(case)
    return cases


def token_text(token):
    return token.get("content") if isinstance(token, dict) else token


def write(name, golden):
    path = os.path.join(OUT, name)
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write(json.dumps(golden, ensure_ascii=False, indent=2) + "\n")
    print(f"{path}: {len(golden['cases'])} cases")


def check_existing_goldens():
    """jinja2 must agree with the @huggingface/jinja goldens, or the interpreter cannot match both."""
    failures = 0
    for name in ("llama3", "llama3.1", "mistral", "qwen2", "tulu"):
        with open(os.path.join(OUT, name + ".json"), encoding="utf-8") as f:
            golden = json.load(f)
        for i, case in enumerate(golden["cases"]):
            variables = dict(messages=case["messages"], tools=None, documents=None,
                             add_generation_prompt=case["add_generation_prompt"],
                             bos_token=golden["bos_token"], eos_token=golden["eos_token"])
            result = render(golden["chat_template"], variables)
            agree = (result.get("rendered") == case["rendered"]) if "rendered" in case else (case["error"] in result.get("error", ""))
            if not agree:
                failures += 1
                print(f"DISAGREE {name} case {i} ({case['title']}): {result}")
        print(f"{name}.json: jinja2 agrees with {golden['reference']} on {len(golden['cases'])} cases" if failures == 0 else "")
    return failures


# ---- interpreter features -------------------------------------------------------------------------------------------

MSGS = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Hi"},
    {"role": "assistant", "content": "Hello", "tool": "calc"},
    {"role": "user", "content": "Bye"},
]
DATA = {"name": "Zoë \"Z\"", "n": 3, "x": 1.5, "ok": True, "nothing": None, "list": [1, "two", [3.0]], "nested": {"k": "v\n\t"}}
VARS = {
    "x": 3, "s": "héllo🙂x", "l": [1, 2, 3, 4], "t": [10, 20, 30], "d": {"a": 1, "b": [1, 2]}, "msgs": MSGS, "data": DATA,
    "users": [{"name": "Ann"}, {"name": "Bo"}], "nested": [{"a": {"b": 1}}, {"a": {"b": 2}}], "name": "World",
}

FEATURES = [
    # delimiters and comments
    ("print", "Hello {{ name }}!"),
    ("comment", "a{# a comment {{ x }} #}b"),
    ("print tuple", "{{ 1, 'a' }}"),
    ("print statement", "{% print 'a', 1 %}"),
    ("raw block", "{% raw %}{{ x }} {% if %}{% endraw %}!"),
    # whitespace control
    ("dash on print", "a  {{- x -}}  b"),
    ("dash on print keeps other side", "a  {{- x }}  b"),
    ("dash on blocks", "a \n {%- if true -%} \n b \n {%- endif -%} \n c"),
    ("dash on comments", "a \n {#- c -#} \n b"),
    ("trim_blocks drops one newline", "{% if true %}\nyes\n{% endif %}\nafter"),
    ("trim_blocks after comment", "{# c #}\nline"),
    ("lstrip_blocks at line start", "  {% if true %}\n  x\n  {% endif %}\ny"),
    ("lstrip_blocks not after text", "a {% if true %}b{% endif %} c"),
    ("lstrip_blocks not for print", "  {{ 'x' }}\n"),
    ("lstrip_blocks for comment", "  {# c #}\nx"),
    ("plus disables lstrip", "  {%+ if true %}x{% endif %}"),
    ("plus disables trim", "{% if true +%}\nx{% endif %}"),
    ("tabs stripped", "\t\t{% if true %}\n\tx\n\t\t{% endif %}\n"),
    ("dash print then block at line start", "{{ 'a' -}}\n  {% if true %}b{% endif %}"),
    ("trailing newline dropped", "x\n"),
    ("only one trailing newline dropped", "x\n\n"),
    ("CRLF normalised", "a\r\nb\r\n{% if true %}\r\nc{% endif %}"),
    ("indented multiline template", "{%- for m in msgs %}\n    {%- if m.role == 'user' %}\n        {{- 'U:' + m.content }}\n    {%- else %}\n        {{- m.role[0] }}\n    {%- endif %}\n{%- endfor %}\n"),
    # literals
    ("string escapes", "{{ 'a\\nb\\tc' }}|{{ \"q\\\"uote\" }}|{{ 'it\\'s' }}|{{ '\\u00e9\\x41\\101' }}|{{ '\\d' }}|{{ 'a\\\\b' }}"),
    ("adjacent strings", "{{ 'a' \"b\" 'c' }}"),
    ("integers", "{{ 42 }} {{ 1_000 }} {{ 0x1F }} {{ 0o17 }} {{ 0b101 }} {{ 0 }}"),
    ("floats", "{{ 1.5 }} {{ 1e3 }} {{ 2.5e-3 }} {{ 1.0 }} {{ 1e16 }} {{ 1e15 }} {{ 0.1 + 0.2 }} {{ 1.23e-5 }} {{ 100.0 / 3 }}"),
    ("booleans and none", "{{ true }} {{ True }} {{ false }} {{ False }} {{ none }} {{ None }}"),
    ("lists tuples dicts", "{{ [1, 'a', [2], none] }} {{ {'a': 1, 'b': [true, none]} }} {{ (1,) }} {{ () }} {{ (1, 2) }} {{ [1, 2,] }} {{ {} }}"),
    ("dict key equality", "{{ {1: 'a', true: 'b', 1.0: 'c'} }}"),
    ("string repr quotes", "{{ [\"it's\", 'say \"hi\"', 'both \\' \"', 'tab\\t', 'é', '\\x07'] }}"),
    # operators
    ("arithmetic", "{{ 1 + 2 }} {{ 7 - 10 }} {{ 3 * 4 }} {{ 7 / 2 }} {{ 8 / 2 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ 2 ** 10 }} {{ 2 ** -1 }} {{ 7.5 // 2 }} {{ -7.5 % 2 }} {{ 1 + true }} {{ 1.5 + 1 }}"),
    ("sequence arithmetic", "{{ 'a' + 'b' }} {{ [1] + [2] }} {{ 'ab' * 2 }} {{ 2 * [0] }} {{ 'x' * 0 }}"),
    ("concat", "{{ 'a' ~ 1 ~ none ~ nothing ~ [1] ~ true }}"),
    ("precedence", "{{ 1 + 2 * 3 }} {{ (1 + 2) * 3 }} {{ 2 ** 3 ** 2 }} {{ -2 ** 2 }} {{ not true or true }} {{ not (true or true) }} {{ 10 - 2 - 3 }} {{ 2 * 3 % 4 }} {{ 'x' ~ 2 * 3 }}"),
    ("unary", "{{ -x }} {{ +x }} {{ -(1 + 2) }} {{ - -1 }} {{ -x|abs }} {{ -1.5 }}"),
    ("comparisons", "{{ 1 < 2 }} {{ 2 <= 2 }} {{ 3 > 4 }} {{ 3 >= 4 }} {{ 'a' < 'b' }} {{ 'B' < 'a' }} {{ 1 == 1.0 }} {{ 1 == true }} {{ 'a' != 'b' }} {{ [1, 2] == [1, 2] }} {{ {'a': 1} == {'a': 1} }} {{ 1 < 2 < 3 }} {{ 3 > 2 > 2 }} {{ [1, 2] < [1, 3] }} {{ none == none }} {{ 'é' > 'z' }}"),
    ("and or", "{{ 0 or 'x' }} {{ 'a' and 'b' }} {{ '' and 'b' }} {{ none or none }} {{ [] or {} }} {{ 1 and 0 }}"),
    ("in and not in", "{{ 'a' in 'cat' }} {{ 2 in [1, 2] }} {{ 'k' in {'k': 1} }} {{ 'z' not in 'cat' }} {{ 3 not in [1] }} {{ 'x' in nothing }} {{ 1 in [1.0] }} {{ '' in 'abc' }}"),
    ("inline if", "{{ 'y' if true else 'n' }} {{ 'y' if false else 'n' }} [{{ 'y' if false }}] {{ 'a' if false else 'b' if true else 'c' }} {{ 'n' if [] else 'e' }}"),
    # attribute and item access
    ("attribute and item", "{{ d.a }} {{ d['a'] }} {{ d.b[1] }} {{ d.b.0 }} {{ l[-1] }} [{{ l[10] }}] [{{ d.missing }}] {{ s[0] }}{{ s[-1] }} {{ msgs[1].role }} {{ msgs[-1]['content'] }}"),
    ("dict methods", "{{ d.items()|list }} {{ d.keys()|list }} {{ d.values()|list }} {{ d.get('a') }} {{ d.get('zz', 'dflt') }} {{ d.get('zz') }} {{ d['items'] is defined }}"),
    ("slicing", "{{ l[1:] }} {{ l[:2] }} {{ l[::-1] }} {{ l[::2] }} {{ l[-2:] }} {{ l[5:] }} {{ l[1:-1] }} {{ l[3:0:-1] }} {{ l[:-10] }} {{ l[-10:] }} {{ (1, 2, 3)[1:] }}"),
    ("string slicing by code point", "{{ s|length }} {{ s[5] }} {{ s[::-1] }} {{ s[-2:] }} {{ s[1:3] }} {{ 'abc'[::-1] }}"),
    ("none attribute is undefined", "[{{ none.x }}] [{{ nothing is defined }}] [{{ d.missing is defined }}] [{{ l[99] is defined }}]"),
    # for loops
    ("loop variables", "{% for x in ['a','b','c'] %}{{ loop.index }}{{ loop.index0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }}{{ loop.revindex }}{{ loop.revindex0 }}|{% endfor %}"),
    ("loop previtem nextitem cycle", "{% for x in [1,2,3] %}{{ loop.previtem }}-{{ loop.nextitem }}-{{ loop.cycle('o','e') }};{% endfor %}"),
    ("loop changed", "{% for x in [1,1,2,2,1] %}{% if loop.changed(x) %}{{ x }}{% endif %}{% endfor %}"),
    ("for else", "{% for x in [] %}x{% else %}empty{% endfor %}|{% for x in [1] %}{{ x }}{% else %}empty{% endfor %}"),
    ("for over dict string and undefined", "{% for k in {'b': 1, 'a': 2} %}{{ k }}{% endfor %}|{% for c in 'abc' %}{{ c }}.{% endfor %}|{% for x in nothing %}x{% else %}none{% endfor %}"),
    ("for unpacking", "{% for k, v in d|items %}{{ k }}={{ v }};{% endfor %}{% for k, v in d.items() %}{{ k }};{% endfor %}{% for a, b in [[1, 2], (3, 4)] %}{{ a + b }}{% endfor %}"),
    ("for with if filter", "{% for x in range(10) if x is odd %}{{ x }}{{ loop.index }}{{ loop.length }},{% endfor %}"),
    ("nested loops shadow loop", "{% for a in [1,2] %}{% for b in [3,4] %}{{ loop.index }}{{ a }}{{ b }} {% endfor %}{{ loop.index }}|{% endfor %}"),
    ("break and continue", "{% for x in range(10) %}{% if x == 2 %}{% continue %}{% endif %}{% if x == 5 %}{% break %}{% endif %}{{ x }}{% endfor %}"),
    ("loop scope", "{% set x = 1 %}{% for i in [1,2] %}{{ x }}{% set x = 2 %}{{ x }}{% endfor %}{{ x }}"),
    ("loop iterations do not share sets", "{% for i in [1, 2] %}[{{ y }}]{% set y = i %}{% endfor %}"),
    ("reverse loop over messages", "{% for m in msgs[::-1] %}{{ m.role[0] }}{% endfor %}"),
    # if, set, namespace, macro, with, filter, generation
    ("if elif else", "{% for n in [1, 2, 3] %}{% if n == 1 %}one{% elif n == 2 %}two{% else %}many{% endif %} {% endfor %}"),
    ("if shares scope", "{% if true %}{% set y = 5 %}{% endif %}{{ y }}"),
    ("set forms", "{% set a = 1 %}{% set b, c = [2, 3] %}{% set t = 4, 5 %}{{ a }}{{ b }}{{ c }}{{ t }}"),
    ("set block", "{% set x %}  hi {{ 1 + 1 }}  {% endset %}[{{ x }}]{% set y | upper | trim %} hi {% endset %}[{{ y }}]"),
    ("namespace", "{% set ns = namespace(found=false, n=0) %}{% for x in [1,2,3] %}{% if x == 2 %}{% set ns.found = true %}{% endif %}{% set ns.n = ns.n + x %}{% endfor %}{{ ns.found }} {{ ns.n }}"),
    ("namespace from dict", "{% set ns = namespace({'a': 1}, b=2) %}{{ ns.a }}{{ ns.b }}[{{ ns.c }}]"),
    ("macro", "{% macro greet(name, greeting='Hello') %}{{ greeting }}, {{ name }}!{% endmacro %}{{ greet('Bob') }} {{ greet('Al', greeting='Hi') }} {{ greet('X', 'Yo') }}"),
    ("macro missing argument", "{% macro m(a) %}[{{ a }}]{% endmacro %}{{ m() }}"),
    ("macro recursion", "{% macro count(n) %}{{ n }}{% if n > 0 %}{{ count(n - 1) }}{% endif %}{% endmacro %}{{ count(3) }}"),
    ("macro sees template variables", "{% set who = 'me' %}{% macro m() %}{{ who }}{% endmacro %}{{ m() }}"),
    ("with", "{% with a = 1, b = 2 %}{{ a + b }}{% endwith %}[{{ a }}]"),
    ("call block", "{% macro wrap(tag) %}<{{ tag }}>{{ caller() }}</{{ tag }}>{% endmacro %}{% call wrap('b') %}bold {{ 1 }}{% endcall %}"),
    ("call block with arguments", "{% macro each(items) %}{% for i in items %}{{ caller(i) }}{% endfor %}{% endmacro %}{% call(x) each([1, 2]) %}[{{ x }}]{% endcall %}"),
    ("spread arguments", "{% macro m(a, b, c=3) %}{{ a }}{{ b }}{{ c }}{% endmacro %}{{ m(*[1, 2]) }} {{ m(1, **{'b': 5, 'c': 6}) }} {{ '{}-{}'.format(*['x', 'y']) }}"),
    ("macro varargs and kwargs", "{% macro m(a) %}{{ a }}{{ varargs }}{{ kwargs }}{% endmacro %}{{ m(1, 2, 3, k='v') }}"),
    ("macro stored in a list", "{% macro a() %}A{% endmacro %}{% macro b(x) %}B{{ x }}{% endmacro %}{% set fs = [a, b] %}{{ fs[0]() }}{{ fs[1](*[1]) }}"),
    ("filter block", "{% filter upper %}abc {{ 'd' }}{% endfilter %}"),
    ("generation tag", "a{% generation %}gen {{ 1 }}{% endgeneration %}b"),
    # tests
    ("tests", "{{ x is defined }} {{ y is defined }} {{ y is undefined }} {{ none is none }} {{ 'a' is string }} {{ 1 is number }} {{ 1.5 is number }} {{ true is number }} {{ 1 is integer }} {{ true is integer }} {{ 1.0 is float }} {{ {} is mapping }} {{ [] is mapping }} {{ 'a' is iterable }} {{ 1 is iterable }} {{ y is iterable }} {{ [] is sequence }} {{ 'a' is sequence }} {{ {} is sequence }} {{ 1 is sequence }}"),
    ("more tests", "{{ true is boolean }} {{ 1 is boolean }} {{ true is true }} {{ 1 is true }} {{ false is false }} {{ 3 is odd }} {{ 4 is even }} {{ 9 is divisibleby 3 }} {{ 9 is divisibleby(4) }} {{ x is not none }} {{ 'abc' is lower }} {{ 'ABC' is upper }} {{ 1 is eq 1 }} {{ 2 is gt 1 }} {{ 1 is lt 1 }} {{ 'a' is in 'abc' }} {{ none is sameas none }} {{ range is callable }} {{ 'trim' is filter }} {{ 'odd' is test }} {{ 1 is ne 2 }} {{ 2 is ge 2 }} {{ 2 is le 1 }}"),
    ("test on message content", "{% for m in msgs %}{{ m.content is string }}{{ m.tool is defined }}{{ m.content is mapping or m.content is iterable }} {% endfor %}"),
    # filters
    ("trim", "[{{ '  a b \n'|trim }}] [{{ 'xxaxx'|trim('x') }}] [{{ nothing|trim }}] [{{ 5|trim }}] [{{ '\u3000a\u00a0'|trim }}]"),
    ("length and count", "{{ 'abc'|length }} {{ [1,2]|length }} {{ {'a':1}|count }} {{ nothing|length }} {{ s|count }}"),
    ("case filters", "{{ 'hello wORLD'|upper }} {{ 'HeLLo'|lower }} {{ 'hello wORLD-foo (bar'|title }} {{ 'hello WORLD'|capitalize }} {{ none|upper }}"),
    ("join", "{{ [1,2,3]|join }} {{ ['a','b']|join(', ') }} {{ users|join(', ', attribute='name') }} {{ 'abc'|join('-') }} [{{ nothing|join(',') }}] {{ [1, none, 'x']|join('|') }}"),
    ("first and last", "{{ [1,2,3]|first }} {{ [1,2,3]|last }} {{ 'abc'|first }} [{{ []|first }}] {{ {'a':1,'b':2}|last }} {{ msgs|last|attr('x') is undefined }}"),
    ("default", "{{ nothing|default('dflt') }} [{{ ''|default('dflt') }}] {{ ''|default('dflt', true) }} {{ none|default('x') }} {{ nothing|d('short') }} {{ 0|default(5, boolean=true) }} [{{ nothing|default }}]"),
    ("tojson", "{{ data|tojson }}"),
    ("tojson indent", "{{ data|tojson(indent=2) }}"),
    ("tojson indent sort_keys", "{{ data|tojson(indent=4, sort_keys=true) }}"),
    ("tojson options", "{{ 'é\u2028'|tojson(ensure_ascii=true) }} {{ [1,2]|tojson(separators=(',', ':')) }} {{ {}|tojson(indent=2) }} {{ []|tojson(indent=2) }} {{ (1,2)|tojson }} {{ {1: 'a', true: 'b'}|tojson }} {{ 1e16|tojson }} {{ 'tab\tnl\nq\"bs\\\\'|tojson }}"),
    ("string filter", "{{ 1|string }} {{ none|string }} {{ [1,'a']|string }} {{ 1.0|string }} {{ true|string }}"),
    ("int and float", "{{ '42'|int }} {{ ' 7 '|int }} {{ '4.7'|int }} {{ 'x'|int }} {{ 'x'|int(5) }} {{ 3.9|int }} {{ -3.9|int }} {{ true|int }} {{ 'ff'|int(base=16) }} {{ '3.5'|float }} {{ 'x'|float }} {{ 2|float }} {{ '1e3'|float }} {{ none|int }}"),
    ("list", "{{ 'ab'|list }} {{ {'a':1}|list }} {{ (1,2)|list }} {{ nothing|list }}"),
    ("replace", "{{ 'aaa'|replace('a', 'b') }} {{ 'aaa'|replace('a', 'b', 2) }} {{ 'abc'|replace('', '-') }} {{ 123|replace('2', 'x') }}"),
    ("selectattr rejectattr map", "{{ msgs|selectattr('role', 'equalto', 'user')|map(attribute='content')|join(',') }} {{ msgs|rejectattr('role', 'eq', 'user')|list|length }} {{ msgs|selectattr('tool')|list|length }} {{ msgs|selectattr('tool', 'defined')|map(attribute='tool')|first }} {{ msgs|selectattr('role', 'in', ['system', 'user'])|list|length }}"),
    ("select reject map", "{{ [1,2,3,4]|select('odd')|list }} {{ [1,2,3,4]|reject('even')|list }} {{ [0,1,'',none,'a']|select|list }} {{ ['a','b']|map('upper')|list }} {{ msgs|map(attribute='missing', default='?')|list }} {{ nested|map(attribute='a.b')|list }} {{ [[1, 2], [3]]|map('length')|list }} {{ [1, 2, 3]|select('gt', 1)|list }}"),
    ("items", "{% for k, v in {'b': 1, 'a': 2}|items %}{{ k }}{{ v }}{% endfor %}[{% for k, v in nothing|items %}x{% endfor %}]"),
    ("dictsort", "{{ {'b': 1, 'A': 2, 'c': 0}|dictsort }} {{ {'b': 1, 'A': 2}|dictsort(true) }} {{ {'b': 1, 'a': 2}|dictsort(by='value') }} {{ {'b': 1, 'a': 2}|dictsort(reverse=true) }}"),
    ("reverse", "{{ 'abc'|reverse }} {{ [1,2,3]|reverse|list }} {{ s|reverse }}"),
    ("unique", "{{ ['a','A','b','a']|unique|list }} {{ ['a','A','b']|unique(case_sensitive=true)|list }} {{ msgs|unique(attribute='role')|map(attribute='role')|list }} {{ [1, 1.0, true, 2]|unique|list }}"),
    ("abs and round", "{{ -3|abs }} {{ -2.5|abs }} {{ 2.5|round }} {{ 3.5|round }} {{ 2.567|round(2) }} {{ 2.1|round(method='ceil') }} {{ 2.9|round(method='floor') }} {{ 7|round }} {{ 1250|round(-2) }} {{ 1234.5|round(-2) }} {{ true|abs }}"),
    ("sort min max sum", "{{ [3,1,2]|sort }} {{ ['b','A','c']|sort }} {{ ['b','A','c']|sort(case_sensitive=true) }} {{ [3,1,2]|sort(reverse=true) }} {{ [3,1,2]|min }} {{ [3,1,2]|max }} {{ ['b','A']|max }} {{ [1,2,3]|sum }} {{ [1.5, 2]|sum(start=1) }} {{ msgs|sort(attribute='role')|map(attribute='role')|join(',') }} [{{ []|min }}]"),
    ("indent", "{{ 'a\nb\n\nc'|indent }}|{{ 'a\nb'|indent(2, true) }}|{{ 'a\n\nb'|indent(2, blank=true) }}|{{ 'a\nb'|indent('> ') }}"),
    ("escape and safe", "{{ '<a href=\"x\">&\\'' |e }} {{ '<b>'|escape }} {{ '<b>'|safe }}"),
    ("filter chain", "{{ '  Hi  '|trim|upper|replace('H', 'J') }} {{ msgs|map(attribute='content')|map('lower')|join('+') }}"),
    # string methods
    ("strip methods", "[{{ '  x  '.strip() }}] [{{ 'xxhixx'.strip('x') }}] [{{ '  x'.lstrip() }}] [{{ 'x  '.rstrip() }}] [{{ '\n\nx\n'.lstrip('\n') }}] [{{ 'abcba'.strip('ab') }}]"),
    ("startswith endswith", "{{ 'hello'.startswith('he') }} {{ 'hello'.endswith('lo') }} {{ 'hello'.startswith(('x', 'h')) }} {{ 'hello'.endswith('x') }}"),
    ("split", "{{ 'a,b,,c'.split(',') }} {{ '  a  b '.split() }} {{ 'a b c'.split(' ', 1) }} {{ 'a</think>b'.split('</think>')[-1] }} {{ 'a-b-c'.rsplit('-', 1) }} {{ '  a  b  c '.split(none, 1) }} {{ 'x\ny\r\nz'.splitlines() }}"),
    ("case methods", "{{ 'Hello'.upper() }} {{ 'Hello'.lower() }} {{ 'hello world'.title() }} {{ \"they're bill's 1st\".title() }} {{ 'hELLO'.capitalize() }}"),
    ("replace format join", "{{ 'aXa'.replace('a', 'b') }} {{ 'aaa'.replace('a', 'b', 1) }} {{ '{} and {}'.format(1, 'two') }} {{ '{0}{1}{0}'.format('a', 'b') }} {{ '{name}!'.format(name='x') }} {{ '{{}}{}'.format(1) }} {{ '{!r}'.format('q') }} {{ '-'.join(['a','b']) }}"),
    ("find count predicates", "{{ 'hello'.find('l') }} {{ 'hello'.find('z') }} {{ 'hello'.rfind('l') }} {{ 'hello'.count('l') }} {{ '123'.isdigit() }} {{ 'abc'.isalpha() }} {{ 'a1'.isalnum() }} {{ ' '.isspace() }} {{ 'AB'.isupper() }} {{ 'ab'.islower() }}"),
    # globals
    ("range", "{{ range(3)|list }} {{ range(1, 4)|list }} {{ range(10, 0, -3)|list }} {{ range(0)|list }} {% for i in range(2) %}{{ i }}{% endfor %}"),
    ("dict global", "{{ dict(a=1, b='x') }}"),
    ("strftime_now", "{{ strftime_now('%Y-%m-%d %d %b %Y %B %A %a %H:%M:%S %I%p %-d %j %y') }}"),
    ("raise_exception", "ok{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}"),
    ("raise_exception on a later line", "line one\n{% if true %}\n  {{ raise_exception('bad at three') }}\n{% endif %}"),
    # undefined
    ("undefined prints empty", "[{{ nothing }}] [{{ nothing|length }}] [{{ nothing is defined }}] [{% if nothing %}t{% else %}f{% endif %}] [{{ nothing == nothing2 }}] [{{ nothing ~ 'x' }}] [{{ nothing != 1 }}]"),
    ("undefined attribute fails", "{{ nothing.attr }}"),
    ("undefined attribute of attribute fails", "{{ d.missing.attr }}"),
    ("undefined item fails", "{{ nothing['k'] }}"),
    ("undefined arithmetic fails", "{{ nothing + 1 }}"),
    ("undefined call fails", "{{ nothing() }}"),
    ("undefined ordering fails", "{{ nothing < 1 }}"),
    ("undefined tojson fails", "{{ nothing|tojson }}"),
    ("inline if without else is undefined", "[{{ ('a' if false) ~ 'b' }}]"),
    # syntax errors
    ("if without test", "{% if %}x{% endif %}"),
    ("dangling operator", "{{ 1 +\n }}"),
    ("for without iterable", "{% for x in %}{% endfor %}"),
    ("unclosed if", "{% if true %}\nno end"),
    ("stray endif", "a{% endif %}"),
    ("unterminated string", "{{ 'abc }}"),
    ("unknown tag", "{% frobnicate %}"),
    ("unknown filter", "{{ x|nosuchfilter }}"),
    ("unknown test", "{{ x is nosuchtest }}"),
    ("unclosed comment", "a {# never closed"),
    ("unbalanced parenthesis", "{{ (1 }}"),
    ("unbalanced bracket", "{{ [1, 2 }}"),
    ("assign to a literal", "{% set 1 = 2 %}"),
    ("default before plain macro argument", "{% macro m(a=1, b) %}{% endmacro %}"),
    ("wrong end tag", "{% for x in [1] %}{% endif %}"),
    ("break outside loop", "{% break %}"),
    ("unknown filter in untaken branch", "{% if false %}{{ x|nosuchfilter }}{% endif %}ok"),
    ("unknown filter in inline if", "{{ x|nosuchfilter if false else 'b' }}"),
    # render errors
    ("unknown filter in taken branch", "{% if true %}{{ x|nosuchfilter }}{% endif %}"),
    ("str plus int", "{{ 'a' + 1 }}"),
    ("division by zero", "{{ 1 / 0 }}"),
    ("concat binds tighter than plus", "{{ 'a' ~ 1 + 2 }}"),
    ("ordering list and str", "{{ [1] < 'a' }}"),
    ("length of int", "{{ 5|length }}"),
    ("iterate int", "{% for x in 5 %}{% endfor %}"),
    ("unpack too few", "{% set a, b = [1] %}"),
    ("items of a list", "{{ [1]|items|list }}"),
    ("set attribute of non-namespace", "{% set x = 1 %}{% set x.y = 2 %}"),
    ("mutating list method", "{{ d.b.append(3) }}"),
    ("mutating dict method", "{{ d.pop('a') }}"),
    ("in with int container", "{{ 1 in 5 }}"),
    ("macro extra argument", "{% macro m(a) %}{{ a }}{% endmacro %}{{ m(1, 2) }}"),
    ("macro unknown keyword", "{% macro m(a) %}{% endmacro %}{{ m(b=1) }}"),
]


def features():
    cases = []
    for name, template in FEATURES:
        case = {"name": name, "template": template}
        case.update(render(template, VARS))
        cases.append(case)
    return cases


def main():
    os.makedirs(OUT, exist_ok=True)
    write("llama2.json", {
        "name": LLAMA2["name"], "source": LLAMA2["source"], "reference": REFERENCE,
        "bos_token": LLAMA2["bos_token"], "eos_token": LLAMA2["eos_token"], "chat_template": LLAMA2["chat_template"],
        "cases": chat_cases(LLAMA2["chat_template"], LLAMA2["bos_token"], LLAMA2["eos_token"]),
    })

    with open(SHARED_CONFIG, encoding="utf-8") as f:
        config = json.load(f)
    template = config["chat_template"]
    bos, eos = token_text(config.get("bos_token")), token_text(config.get("eos_token"))
    write("shared-llama3.1.json", {
        "name": "shared-llama3.1",
        "source": "../shared/tokenizers/llama3.1/tokenizer_config.json (the template is read from there, not copied)",
        "reference": REFERENCE,
        "template_file": "llama3.1/tokenizer_config.json",
        "template_sha256": hashlib.sha256(template.encode("utf-8")).hexdigest(),
        "bos_token": bos, "eos_token": eos,
        "cases": chat_cases(template, bos, eos),
    })

    write("jinja2-features.json", {
        "reference": REFERENCE,
        "now": FIXED_NOW.isoformat(),
        "variables": VARS,
        "cases": features(),
    })

    if check_existing_goldens():
        sys.exit("jinja2 disagrees with an @huggingface/jinja golden (see DISAGREE lines)")


if __name__ == "__main__":
    main()
