"""The template dialect: syntax, escaping, truthiness, errors with positions, limits and safety."""

from __future__ import annotations

import html

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sendhouse.domain.templating import (
    compile_template,
    derive_text_source,
    escape_html,
    inline_css,
)
from sendhouse.errors import InvalidInput


def render(source: str, data: dict | None = None, **kwargs) -> str:
    return compile_template(source).render(data or {}, **kwargs)


def error_of(source: str, field: str = "html") -> dict:
    with pytest.raises(InvalidInput) as caught:
        compile_template(source, field=field)
    assert caught.value.code == "VALIDATION_FAILED"
    [detail] = caught.value.details
    return detail


def test_variables_nested_and_raw():
    data = {"first_name": "Ann", "company": {"address": {"city": "Lyon"}}, "snippet": "<b>hi</b>"}
    out = render("Hi {{first_name}} of {{ company.address.city }}: {{{snippet}}} / {{snippet}}", data)
    assert out == "Hi Ann of Lyon: <b>hi</b> / &lt;b&gt;hi&lt;/b&gt;"


def test_escape_false_keeps_text_as_is():
    template = compile_template("{{a}} & {{{b}}}", field="subject")
    assert template.render({"a": "<Tom & Jerry>", "b": '"x"'}, escape=False) == '<Tom & Jerry> & "x"'


def test_escaping_covers_attribute_breakers():
    assert render('<a title="{{t}}">', {"t": "\" onmouseover='x' `=`"}) == (
        '<a title="&quot; onmouseover&#x3D;&#x27;x&#x27; &#x60;&#x3D;&#x60;">'
    )


@pytest.mark.parametrize(
    ("source", "data", "expected"),
    [
        ('{{first_name | "there"}}', {}, "there"),
        ('{{first_name | "there"}}', {"first_name": ""}, "there"),
        ('{{first_name | "there"}}', {"first_name": None}, "there"),
        ('{{first_name | "there"}}', {"first_name": "Ann"}, "Ann"),
        ("{{ first_name|'you' }}", {}, "you"),
        ('{{x | "say \\"hi\\" <now>"}}', {}, "say &quot;hi&quot; &lt;now&gt;"),
        ('{{{x | "<b>raw</b>"}}}', {}, "<b>raw</b>"),
        ('{{n | "none"}}', {"n": 0}, "0"),
    ],
)
def test_fallbacks(source, data, expected):
    assert render(source, data) == expected


@pytest.mark.parametrize(
    ("value", "truthy"),
    [
        (None, False),
        (False, False),
        ("", False),
        (0, False),
        (0.0, False),
        ([], False),
        (True, True),
        ("0", True),
        ("no", True),
        (1, True),
        (-1, True),
        ([0], True),
        ({}, True),
        ({"a": 1}, True),
    ],
)
def test_handlebars_truthiness(value, truthy):
    assert render("{{#if x}}yes{{else}}no{{/if}}", {"x": value}) == ("yes" if truthy else "no")


def test_missing_condition_is_false_and_nesting_works():
    source = "{{#if a}}A{{#if b}}B{{else}}b{{/if}}{{else}}{{#if c}}C{{/if}}-{{/if}}!"
    assert render(source, {}) == "-!"
    assert render(source, {"a": 1}) == "Ab!"
    assert render(source, {"a": 1, "b": 1}) == "AB!"
    assert render(source, {"c": "x"}) == "C-!"
    assert render("{{#if a.b}}deep{{/if}}", {"a": {"b": [1]}}) == "deep"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, "true"),
        (False, "false"),
        (3, "3"),
        (2.0, "2"),
        (2.5, "2.5"),
        ([1, "a", None], "1,a,"),
        ({"k": 1}, ""),
    ],
)
def test_values_render_like_handlebars(value, expected):
    assert render("{{v}}", {"v": value}) == expected


def test_comments_render_nothing():
    assert render("a{{! a note }}b{{!-- another --}}c") == "abc"


def test_names_and_builtins_are_reported():
    template = compile_template("{{#if vip}}{{a.b}}{{/if}}{{{c}}} {{unsubscribe}}")
    assert template.names == frozenset({"vip", "a", "c", "unsubscribe"})
    assert template.uses("unsubscribe", "unsubscribe_preference")
    assert not compile_template("{{email}}").uses("unsubscribe", "unsubscribe_preference")


def test_error_names_line_and_column():
    source = "<p>\n  hello\n  <div>{{#if vip}}\n</div>"
    assert error_of(source) == {"field": "html", "message": "line 3, column 8: unclosed {{#if}}"}
    assert (
        error_of("ab\n\n          {{#if x}}", field="text")["message"]
        == "line 3, column 11: unclosed {{#if}}"
    )


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("{{else}}", "line 1, column 1: {{else}} outside {{#if}}"),
        ("x{{/if}}", "line 1, column 2: {{/if}} without {{#if}}"),
        ("{{#if a}}{{else}}{{else}}{{/if}}", "line 1, column 18: second {{else}} in one {{#if}}"),
        ("{{#each items}}{{/each}}", "line 1, column 1: unsupported block {{#each}} (only {{#if}} exists)"),
        ("{{#if}}{{/if}}", "line 1, column 1: {{#if}} needs one variable name"),
        ("{{#if a b}}{{/if}}", "line 1, column 1: {{#if}} needs one variable name"),
        ("{{#if a}}{{/unless}}", "line 1, column 10: unexpected {{/unless}} (only {{/if}} closes a block)"),
        ("hi {{name", "line 1, column 4: unclosed {{ (expected }})"),
        ("hi {{{name}}", "line 1, column 4: unclosed {{{ (expected }}})"),
        ("{{ }}", "line 1, column 3: empty tag"),
        (
            "{{__class__}}",
            "line 1, column 3: invalid variable name '__class__': names start with a letter (letters, digits, _)",
        ),
        (
            "{{email.__class__}}",
            "line 1, column 3: invalid variable name 'email.__class__': names start with a letter (letters, digits, _)",
        ),
        (
            "{{1st}}",
            "line 1, column 3: invalid variable name '1st': names start with a letter (letters, digits, _)",
        ),
        (
            "{{a..b}}",
            "line 1, column 3: invalid variable name 'a..b': names start with a letter (letters, digits, _)",
        ),
        ("{{a-b}}", "line 1, column 3: invalid variable name 'a-b'"),
        ("{{a | there}}", 'line 1, column 3: a fallback is a quoted string: {{name | "default"}}'),
        ('{{a | "open}}', 'line 1, column 3: a fallback is a quoted string: {{name | "default"}}'),
        ("{{a b}}", "line 1, column 3: unexpected text in tag 'a b'"),
    ],
)
def test_malformed_sources(source, message):
    assert error_of(source)["message"] == message


def test_error_field_is_the_one_given():
    assert error_of("{{", field="subject")["field"] == "subject"


def test_non_string_source_is_invalid():
    assert error_of(None)["message"] == "must be a string"  # type: ignore[arg-type]


def test_only_plain_dicts_are_walked():
    class Thing:
        secret = "leak"

        def __getitem__(self, key):
            return "leak"

    class Sneaky(dict):
        def get(self, key, default=None):
            return "leak"

    data = {"email": "a@b.c", "obj": Thing(), "items": [1, 2], "d": {}, "sub": Sneaky(x=1), "n": 5}
    source = "{{email.upper}}{{obj.secret}}{{items.append}}{{d.keys}}{{d.items}}{{sub.x}}{{n.real}}{{obj}}"
    assert render(source, data) == ""


def test_output_cap_is_a_clean_error():
    template = compile_template("{{a}}{{a}}")
    assert template.render({"a": "x" * 5}, max_output=10) == "x" * 10
    with pytest.raises(InvalidInput) as caught:
        template.render({"a": "x" * 5}, max_output=9)
    assert caught.value.code == "TEMPLATE_OUTPUT_TOO_LARGE"
    assert caught.value.details == [{"field": "html", "message": "rendered output exceeds 9 characters"}]
    with pytest.raises(InvalidInput):
        compile_template("constant text").render({}, max_output=5)


def test_escape_html_matches_render():
    assert escape_html("a&b<c>") == render("{{v}}", {"v": "a&b<c>"}) == "a&amp;b&lt;c&gt;"


def test_compile_once_render_many_is_independent():
    template = compile_template("{{#if vip}}VIP {{/if}}{{name}}")
    assert [template.render({"name": n, "vip": n == "b"}) for n in "abc"] == ["a", "VIP b", "c"]


def test_css_inlining_keeps_tags_in_tables_and_attributes():
    source = (
        "<html><head><style>td{color:red}</style></head><body><table>{{#if vip}}<tr><td>{{name}}</td></tr>"
        '{{/if}}</table><a href="https://x.test/?u={{id}}&amp;v=1" title="{{t | "a"}}">x</a></body></html>'
    )
    inlined = inline_css(source)
    assert 'style="color: red;"' in inlined
    out = compile_template(inlined).render({"vip": True, "name": "Ann", "id": "7"})
    assert '<tr><td style="color: red;">Ann</td></tr>' in out
    assert 'href="https://x.test/?u=7&amp;v=1"' in out and 'title="a"' in out
    assert "VIP" not in compile_template(inlined).render({"name": "Zed"}) and "Zed" not in compile_template(
        inlined
    ).render({"name": "Zed"})


def test_css_inlining_skipped_without_style():
    assert inline_css("<p>{{a}}</p>") == "<p>{{a}}</p>"


def test_text_source_is_derived_with_tags_in_place():
    text = derive_text_source(
        '<h1>Hi {{first_name | "there"}}</h1><p>Go <a href="https://x.test/{{id}}">here</a></p>'
    )
    assert compile_template(text).render({"id": "9"}, escape=False).split() == [
        "Hi",
        "there",
        "Go",
        "[here](https://x.test/9)",
    ]


# -- properties ------------------------------------------------------------------------------

_PIECES = st.sampled_from(
    [
        "{{",
        "}}",
        "{{{",
        "}}}",
        "#if ",
        "else",
        "/if",
        "a",
        "b.c",
        "_x",
        "9",
        "|",
        '"q"',
        "'",
        '"',
        "\\",
        " ",
        "\n",
        "!",
        "#each",
        "<p>",
        "&",
        "{",
        "}",
        "é",
        "\r",
        ".",
    ]
)
SOURCES = st.one_of(st.text(max_size=60), st.lists(_PIECES, max_size=25).map("".join))
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(["a", "b", "c", "x"]), inner, max_size=3)
    ),
    max_leaves=10,
)
DATA = st.dictionaries(st.sampled_from(["a", "b", "c", "x", "_x", "email"]), JSON, max_size=5)


@settings(max_examples=400, deadline=None)
@given(SOURCES)
def test_any_source_compiles_or_is_invalid_input(source):
    try:
        compile_template(source)
    except InvalidInput as err:
        assert err.details[0]["message"].startswith("line ")


@settings(max_examples=300, deadline=None)
@given(SOURCES, DATA, st.integers(min_value=0, max_value=40), st.booleans())
def test_output_never_exceeds_the_cap(source, data, cap, escape):
    try:
        template = compile_template(source)
    except InvalidInput:
        return
    try:
        out = template.render(data, escape=escape, max_output=cap)
    except InvalidInput as err:
        assert err.code == "TEMPLATE_OUTPUT_TOO_LARGE"
        return
    assert len(out) <= cap


@given(st.text(max_size=80).filter(lambda s: "{{" not in s))
def test_text_without_tags_renders_unchanged(source):
    assert render(source) == source


@given(st.text(max_size=50))
def test_escaped_values_cannot_open_markup(value):
    out = render("<a title='{{v}}'>{{v}}</a>", {"v": value})
    assert out.count("<") == 2 and out.count("'") == 2
    assert html.unescape(out) == f"<a title='{value}'>{value}</a>"


class _Thing:
    secret = "leak"
    upper = "leak"

    def __getitem__(self, key):
        return "leak"


_ATTRIBUTES = st.sampled_from(
    ["upper", "keys", "items", "real", "append", "mro", "format", "secret", "get", "x"]
)


@given(st.lists(_ATTRIBUTES, min_size=1, max_size=3))
def test_attribute_names_never_resolve(path):
    data = {"s": "text", "n": 5, "f": 1.5, "l": [1], "d": {}, "o": _Thing(), "t": (1,), "b": True}
    for root in data:
        assert render("{{" + ".".join([root, *path]) + "}}", data) == ""
        assert render("{{#if " + ".".join([root, *path]) + "}}leak{{/if}}", data) == ""
