"""Sendhouse's template dialect (AutoSend's Handlebars-style merge tags), compiled once, rendered often.

Syntax: ``{{var}}`` and ``{{a.b}}`` (HTML-escaped unless rendered with ``escape=False``),
``{{{raw}}}`` (never escaped), ``{{#if x}}…{{else}}…{{/if}}`` (nestable, Handlebars truthiness),
fallbacks ``{{first_name | "there"}}``, comments ``{{! … }}``. Variable names start with a letter and
hold letters, digits and ``_``; dots walk nested dicts. Look-ups are plain dict look-ups: nothing but
the data given is reachable (no attributes, no methods, no indexing).

Compilation turns the source into a flat list of ops (literal, variable, if-jump, jump) so rendering is
one forward pass: linear in the template, it cannot loop, and it stops at ``max_output`` characters.
Malformed input raises ``InvalidInput`` naming the line and column.

Also here: HTML tools run on template *sources* (CSS inlining, deriving the text part) with the tags
swapped for placeholders an HTML parser leaves in place, then put back and checked.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import css_inline
from inscriptis import get_text
from inscriptis.model.config import ParserConfig

from sendhouse.errors import InvalidInput

DEFAULT_MAX_OUTPUT = 8 * 1024 * 1024
BUILTINS = frozenset({"email", "date", "unsubscribe", "unsubscribe_preference"})

_LIT, _VAR, _IF, _JUMP = 0, 1, 2, 3
_NAME = r"[A-Za-z][A-Za-z0-9_]*"
_INTERNAL_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_STRING = r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\''
_ESCAPES = {
    "&": "&amp;",
    "<": "&lt;",
    ">": "&gt;",
    '"': "&quot;",
    "'": "&#x27;",
    "`": "&#x60;",
    "=": "&#x3D;",
}
_ESCAPE_RE = re.compile(r"[&<>\"'`=]")
_TAG_RE = re.compile(r"\{\{\{.*?\}\}\}|\{\{.*?\}\}", re.DOTALL)
_PLACEHOLDER_RE = re.compile(r"<!--shtpl(\d+)-->|&lt;!--shtpl(\d+)--&gt;|shtpl(\d+)x")
_INLINER = css_inline.CSSInliner(keep_style_tags=True, load_remote_stylesheets=False)
_TEXT_CONFIG = ParserConfig(display_links=True)
_BLANK_RUN_RE = re.compile(r"\n{3,}")


class _Syntax(Exception):
    """A compile error at a source offset (turned into InvalidInput with line and column)."""

    def __init__(self, offset: int, message: str):
        super().__init__(message)
        self.offset = offset
        self.message = message


@dataclass(frozen=True)
class Template:
    """A compiled template: flat ops plus the top-level names it reads."""

    ops: tuple
    names: frozenset
    field: str = "html"
    constant: str | None = None

    def uses(self, *names: str) -> bool:
        """Whether the template reads any of these top-level names."""
        return any(name in self.names for name in names)

    def render(self, data: dict, *, escape: bool = True, max_output: int = DEFAULT_MAX_OUTPUT) -> str:
        """Fill the template from `data`; InvalidInput past `max_output` characters.

        Only plain dicts are walked (`{{a.b}}` on anything else is empty): no attribute is ever read.
        """
        if self.constant is not None:
            if len(self.constant) > max_output:
                raise _too_large(self.field, max_output)
            return self.constant
        if type(data) is not dict:
            data = dict(data)
        return _run(self.ops, data, escape, max_output, self.field)


def compile_template(source: str, *, field: str = "html", internal: bool = False) -> Template:
    """Compile `source`; InvalidInput with `details=[{field, message}]` naming line and column if malformed.

    `internal=True` also admits names starting with `_` (slots that Sendhouse splices into its own
    copies of already-validated sources); user input is always compiled without it.
    """
    if not isinstance(source, str):
        raise InvalidInput.field(field, "must be a string")
    try:
        ops, names = _Compiler(source, internal).run()
    except _Syntax as err:
        line, column = _position(source, err.offset)
        raise InvalidInput.field(field, f"line {line}, column {column}: {err.message}") from None
    constant = "".join(op[1] for op in ops) if all(op[0] == _LIT for op in ops) else None
    return Template(ops=tuple(ops), names=frozenset(names), field=field, constant=constant)


def escape_html(value: str) -> str:
    """HTML-escape a string the way `{{var}}` does (Handlebars' set of characters)."""
    return _ESCAPE_RE.sub(_escape_one, value) if _ESCAPE_RE.search(value) else value


def _escape_one(match: re.Match) -> str:
    return _ESCAPES[match.group()]


def _run(ops: tuple, data: dict, escape: bool, max_output: int, field: str) -> str:
    """The one forward pass over the ops: jumps only go forward, so it is linear in the template."""
    out: list[str] = []
    size = 0
    i, n = 0, len(ops)
    while i < n:
        op = ops[i]
        kind = op[0]
        if kind == _IF:
            i = i + 1 if _truthy(_lookup(data, op[1])) else op[2]
            continue
        if kind == _JUMP:
            i = op[1]
            continue
        piece = op[1] if kind == _LIT else _variable(op, data, escape)
        size += len(piece)
        if size > max_output:
            raise _too_large(field, max_output)
        out.append(piece)
        i += 1
    return "".join(out)


def _variable(op: tuple, data: dict, escape: bool) -> str:
    """One `{{var}}` op: (kind, path, fallback, raw, single name or None)."""
    value = data.get(op[4]) if op[4] is not None else _lookup(data, op[1])
    if type(value) is not str:
        value = _stringify(value)
    if not value and op[2] is not None:
        value = op[2]
    return escape_html(value) if escape and not op[3] else value


def _too_large(field: str, limit: int) -> InvalidInput:
    return InvalidInput.field(
        field, f"rendered output exceeds {limit} characters", code="TEMPLATE_OUTPUT_TOO_LARGE"
    )


def _position(source: str, offset: int) -> tuple[int, int]:
    line = source.count("\n", 0, offset) + 1
    return line, offset - (source.rfind("\n", 0, offset) + 1) + 1


def _lookup(data, path: tuple):
    value = data
    for key in path:
        if type(value) is not dict:
            return None
        value = value.get(key)
    return value


def _truthy(value) -> bool:
    """Handlebars: false, missing, null, "", 0 and [] are false; everything else (even {}) is true."""
    if value is None or value is False:
        return False
    if isinstance(value, (str, list, tuple)):
        return len(value) > 0
    if isinstance(value, float):
        return value != 0 and not math.isnan(value)
    if isinstance(value, int):
        return value != 0
    return True


def _stringify(value) -> str:
    if type(value) is str:
        return value
    if value is None or isinstance(value, dict):
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, (list, tuple)):
        return ",".join(_stringify(item) for item in value)
    return ""


class _Compiler:
    """One pass over the source: literals and tags into flat ops, blocks resolved into forward jumps."""

    def __init__(self, source: str, internal: bool):
        self.source = source
        name = _INTERNAL_NAME if internal else _NAME
        self.path_re = re.compile(rf"{name}(?:\.{name})*")
        self.var_re = re.compile(rf"\s*({name}(?:\.{name})*)\s*(?:\|\s*({_STRING})\s*)?")
        self.if_re = re.compile(rf"#if\s+({name}(?:\.{name})*)\s*")
        self.ops: list = []
        self.names: set[str] = set()
        self.blocks: list[list] = []  # [if_index, tag_offset, else_jump_index or None]

    def run(self) -> tuple[list, set]:
        source, pos = self.source, 0
        while True:
            start = source.find("{{", pos)
            if start < 0:
                self._literal(source[pos:])
                break
            self._literal(source[pos:start])
            pos = self._tag(start)
        if self.blocks:
            raise _Syntax(self.blocks[-1][1], "unclosed {{#if}}")
        return self.ops, self.names

    def _literal(self, text: str) -> None:
        if text:
            self.ops.append((_LIT, text))

    def _tag(self, start: int) -> int:
        source = self.source
        if source.startswith("{{{", start):
            end = source.find("}}}", start + 3)
            if end < 0:
                raise _Syntax(start, "unclosed {{{ (expected }}})")
            self._variable(source[start + 3 : end], start + 3, raw=True)
            return end + 3
        end = source.find("}}", start + 2)
        if end < 0:
            raise _Syntax(start, "unclosed {{ (expected }})")
        self._dispatch(source[start + 2 : end], start)
        return end + 2

    def _dispatch(self, body: str, start: int) -> None:
        stripped = body.strip()
        if stripped.startswith("!"):
            return
        if stripped.startswith("#"):
            self._open_if(stripped, start)
        elif stripped == "else":
            self._else(start)
        elif stripped.startswith("/"):
            self._close(stripped, start)
        else:
            self._variable(body, start + 2, raw=False)

    def _variable(self, body: str, offset: int, *, raw: bool) -> None:
        match = self.var_re.fullmatch(body)
        if not match:
            raise _Syntax(offset, _explain(body))
        path = tuple(match.group(1).split("."))
        fallback = _unquote(match.group(2)) if match.group(2) else None
        self.names.add(path[0])
        self.ops.append((_VAR, path, fallback, raw, path[0] if len(path) == 1 else None))

    def _open_if(self, stripped: str, start: int) -> None:
        match = self.if_re.fullmatch(stripped)
        if not match:
            helper = stripped.split()[0] if stripped.split() else stripped
            if helper != "#if":
                raise _Syntax(start, f"unsupported block {{{{{helper}}}}} (only {{{{#if}}}} exists)")
            raise _Syntax(start, "{{#if}} needs one variable name")
        path = tuple(match.group(1).split("."))
        self.names.add(path[0])
        self.blocks.append([len(self.ops), start, None])
        self.ops.append((_IF, path, -1))

    def _else(self, start: int) -> None:
        if not self.blocks:
            raise _Syntax(start, "{{else}} outside {{#if}}")
        block = self.blocks[-1]
        if block[2] is not None:
            raise _Syntax(start, "second {{else}} in one {{#if}}")
        block[2] = len(self.ops)
        self.ops.append((_JUMP, -1))
        if_op = self.ops[block[0]]
        self.ops[block[0]] = (_IF, if_op[1], len(self.ops))

    def _close(self, stripped: str, start: int) -> None:
        if re.fullmatch(r"/\s*if", stripped) is None:
            raise _Syntax(start, f"unexpected {{{{{stripped}}}}} (only {{{{/if}}}} closes a block)")
        if not self.blocks:
            raise _Syntax(start, "{{/if}} without {{#if}}")
        if_index, _, jump_index = self.blocks.pop()
        end = len(self.ops)
        if jump_index is None:
            self.ops[if_index] = (_IF, self.ops[if_index][1], end)
        else:
            self.ops[jump_index] = (_JUMP, end)


def _unquote(literal: str) -> str:
    return re.sub(r"\\(.)", r"\1", literal[1:-1], flags=re.DOTALL)


def _explain(body: str) -> str:
    """A short reason why a tag body is not a variable."""
    text = body.strip()
    if not text:
        return "empty tag"
    head = re.split(r"[\s|]", text, maxsplit=1)[0]
    if not re.fullmatch(r"[A-Za-z0-9_.]+", head):
        return f"invalid variable name {head[:40]!r}"
    if not re.fullmatch(rf"{_NAME}(?:\.{_NAME})*", head):
        return f"invalid variable name {head[:40]!r}: names start with a letter (letters, digits, _)"
    if "|" in text:
        return 'a fallback is a quoted string: {{name | "default"}}'
    return f"unexpected text in tag {text[:40]!r}"


# HTML tools over template sources


def inline_css(source: str) -> str:
    """`source` with its <style> rules inlined, template tags intact; `source` itself if that fails."""
    if "<style" not in source.lower():
        return source
    protected, tags = _protect(source, in_tags=True)
    try:
        inlined = _INLINER.inline(protected)
    except (ValueError, css_inline.InlineError):
        return source
    return _restore(inlined, tags) or source


def derive_text_source(html_source: str) -> str | None:
    """A text-part template made from the HTML template once, or None if tags did not survive in order."""
    protected, tags = _protect(html_source, in_tags=False)
    return _restore(_tidy(get_text(protected, _TEXT_CONFIG)), tags)


def html_to_text(html: str) -> str:
    """The text part of one rendered HTML body (the slow path, when no text template could be made)."""
    return _tidy(get_text(html, _TEXT_CONFIG))


def _tidy(text: str) -> str:
    """No spaces at line ends, at most one empty line in a row, no empty lines at the ends."""
    lines = [line.rstrip() for line in text.splitlines()]
    return _BLANK_RUN_RE.sub("\n\n", "\n".join(lines)).strip("\n") + "\n"


def _protect(source: str, *, in_tags: bool) -> tuple[str, list[str]]:
    """Swap template tags for placeholders an HTML parser keeps in place (comments in text, words in tags)."""
    tags: list[str] = []

    def swap(match: re.Match) -> str:
        start = match.start()
        inside = in_tags and source.rfind("<", 0, start) > source.rfind(">", 0, start)
        tags.append(match.group())
        return f"shtpl{len(tags) - 1}x" if inside or not in_tags else f"<!--shtpl{len(tags) - 1}-->"

    return _TAG_RE.sub(swap, source), tags


def _restore(text: str, tags: list[str]) -> str | None:
    """Put the tags back; None unless every placeholder came back exactly once and in order."""
    seen: list[int] = []

    def back(match: re.Match) -> str:
        index = int(next(g for g in match.groups() if g is not None))
        seen.append(index)
        return tags[index] if index < len(tags) else match.group()

    restored = _PLACEHOLDER_RE.sub(back, text)
    return restored if seen == list(range(len(tags))) else None
