"""Pathfinder's selector dialect, checked and translated into Playwright selectors (sans-I/O).

Beyond CSS, guides use `:contains("text")`, `:has(...)`, `:nth-match(n)`, `:text("...")`,
`grafana:` tokens (resolved with *this* Grafana's selector table: Pathfinder's
`grafana:path:id` and `{grafana:path:id}`, and our older `grafana:path(id)`), and, for `button`
actions, plain button text. A reference target comes from a peer, so it is parsed here by
a strict grammar of exactly that dialect and rebuilt from the pieces it understood: nothing
else (Playwright's `xpath=`, `internal:`, `>>`, `:text-matches`, pseudo-elements, ...)
reaches a page. The result is an ordered list of Playwright selectors: the first one that
matches wins (Pathfinder's button rule: exact text first, then substring).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from bridge.browser.contract import ContractError, GrafanaSelectors
from bridge.errors import BridgeError

MAX_SELECTOR = 2000
#: Bounds on how much work one selector may ask of a page.
MAX_COMPOUNDS = 32
MAX_LIST = 16
MAX_HAS = 4
MAX_TEXT_FILTERS = 8

_TOKEN = re.compile(r"grafana:([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)+)(?:\(([^()]*)\))?")
_PATH = r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)+"
_BRACED_TOKEN = re.compile(r"\{grafana:(" + _PATH + r")(?::([^}]+))?\}")
_WHOLE_TOKEN = re.compile(r"grafana:(" + _PATH + r")(?::(.+))?", re.DOTALL)
_JS_REGEX_SPECIAL = re.compile(r"[.*+?^${}()|[\]\\/]")
_SELECTOR_HINT = re.compile(r"""[\[\]#.>:=~+*"']""")

_ESCAPE = r"\\(?:[0-9a-fA-F]{1,6}[ \t]?|[^\n\r\f0-9a-fA-F])"
_NAME_CHAR = rf"(?:[-_a-zA-Z0-9]|[^\x00-\x7f]|{_ESCAPE})"
_IDENT = re.compile(rf"(?:--|-?(?:[_a-zA-Z]|[^\x00-\x7f]|{_ESCAPE})){_NAME_CHAR}*")
_STRING = re.compile(r""""(?:[^"\\\n\r\f]|\\[^\n\r\f])*"|'(?:[^'\\\n\r\f]|\\[^\n\r\f])*'""")
_BARE_TEXT = re.compile(r"""[^()"'\\]*""")
_AN_PLUS_B = re.compile(r"\s*(?:odd|even|[+-]?\d*n(?:\s*[+-]\s*\d+)?|[+-]?\d+)\s*", re.I)
_ATTR_OP = re.compile(r"[~|^$*]?=")
_WS = re.compile(r"[ \t]+")
_COMBINATOR = re.compile(r"[ \t]*([>+~])[ \t]*|[ \t]+")
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")

#: Standard CSS pseudo-classes a guide may use (the browser matches them natively).
_PLAIN_PSEUDO = frozenset(
    [
        "first-child",
        "last-child",
        "only-child",
        "first-of-type",
        "last-of-type",
        "only-of-type",
        "empty",
        "root",
        "checked",
        "disabled",
        "enabled",
        "focus",
        "focus-within",
        "focus-visible",
        "hover",
        "active",
        "link",
        "any-link",
        "required",
        "optional",
        "read-only",
        "read-write",
        "placeholder-shown",
        "default",
        "indeterminate",
        "valid",
        "invalid",
    ]
)
_NTH_PSEUDO = frozenset(("nth-child", "nth-last-child", "nth-of-type", "nth-last-of-type"))
_LOGICAL_PSEUDO = frozenset(("not", "is", "where"))


class LocateError(BridgeError):
    """A reference target that cannot be turned into a selector."""


@dataclass(frozen=True)
class FastQuery:
    """Standard CSS, optionally narrowed to elements whose text contains `contains`."""

    css: str
    contains: str | None = None

    def to_json(self) -> dict[str, str | None]:
        return {"css": self.css, "contains": self.contains}


@dataclass(frozen=True)
class Target:
    """Where an action applies: Playwright selectors tried in order, and the original text."""

    candidates: tuple[str, ...]
    reftarget: str
    #: The same target for one in-page call (querySelectorAll plus an optional text
    #: filter), when the selector allows it; None means Playwright's engine is needed.
    fast_query: FastQuery | None = None

    def __str__(self) -> str:
        return self.reftarget


def css_string(text: str) -> str:
    """`text` as a double-quoted CSS string."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _css_unescape(text: str) -> str:
    def one(match: re.Match[str]) -> str:
        body = match.group(0)[1:]
        if re.fullmatch(r"[0-9a-fA-F]{1,6}[ \t]?", body):
            point = int(body.strip(), 16)
            return chr(point) if 0 < point <= 0x10FFFF and not 0xD800 <= point <= 0xDFFF else ""
        return body

    return re.sub(_ESCAPE, one, text)


def looks_like_selector(text: str) -> bool:
    return text.startswith("grafana:") or bool(_SELECTOR_HINT.search(text))


def _expand_tokens(reftarget: str, grafana: GrafanaSelectors) -> str:
    selector = reftarget.strip()
    if not selector:
        raise LocateError("empty selector")
    if len(selector) > MAX_SELECTOR:
        raise LocateError(f"selector longer than {MAX_SELECTOR} characters")

    def resolve(path: str, argument: str | None) -> str:
        try:
            return grafana.css(path, argument)
        except ContractError as exc:
            raise LocateError(str(exc)) from None

    # Pathfinder's own forms: `{grafana:path[:id]}` inside a selector, `grafana:path[:id]`
    # as the whole of it (its resolveSelector).
    if "{grafana:" in selector:
        return _BRACED_TOKEN.sub(lambda m: resolve(m.group(1), m.group(2)), selector)
    whole = _WHOLE_TOKEN.fullmatch(selector)
    if whole:
        return resolve(whole.group(1), whole.group(2))

    # Ours, kept for guides written before: `grafana:path(arg)`, and a token followed by CSS.
    def token(match: re.Match[str]) -> str:
        argument = match.group(2)
        if argument is not None:
            argument = argument.strip().strip("'\"")
        return resolve(match.group(1), argument)

    return _TOKEN.sub(token, selector)


@dataclass
class _Budget:
    compounds: int = 0
    has: int = 0
    text_filters: int = 0


@dataclass
class _Parsed:
    """One selector as Playwright pieces, and what decides whether the in-page path can run it."""

    playwright: str
    #: Only plain CSS apart from one `:contains` that ends the selector (its text here).
    fast_css: str | None
    fast_contains: str | None = None
    budget: _Budget = field(default_factory=_Budget)


class _DialectParser:
    """A recursive-descent reader of the dialect; every accepted piece is copied or rebuilt,
    anything it does not know stops it with the position and the reason."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.budget = _Budget()
        # What decides the in-page fast path: top-level `:contains` texts, and whether any
        # other dialect piece (`:text`, `:nth-match`, a `:contains` in `:has`, a list) is used.
        self.contains: list[str] = []
        self.needs_playwright = False

    # -- helpers ------------------------------------------------------------------------------
    def fail(self, problem: str) -> LocateError:
        near = self.text[self.pos : self.pos + 20]
        where = f" at {near!r}" if near else " at the end"
        return LocateError(f"not Pathfinder's selector dialect: {problem}{where}")

    def peek(self, text: str) -> bool:
        return self.text.startswith(text, self.pos)

    def match(self, pattern: re.Pattern[str]) -> re.Match[str] | None:
        found = pattern.match(self.text, self.pos)
        if found:
            self.pos = found.end()
        return found

    def at_end(self) -> bool:
        return self.pos >= len(self.text)

    # -- grammar --------------------------------------------------------------------------------
    def selector_list(self, *, inside: str) -> str:
        """complex ("," complex)*, up to ")" when `inside` names a function, else to the end."""
        parts = [self.complex(inside=inside)]
        while self.peek(","):
            self.pos += 1
            self.match(_WS)
            parts.append(self.complex(inside=inside))
            if len(parts) > MAX_LIST:
                raise self.fail(f"more than {MAX_LIST} selectors in one list")
        return ", ".join(parts)

    def complex(self, *, inside: str) -> str:
        out = ""
        if inside == "has":
            relative = self.match(re.compile(r"[ \t]*([>+~])[ \t]*"))
            if relative:
                out += relative.group(0)
        out += self.compound(inside=inside)
        while not self.at_end() and not self.peek(",") and not self.peek(")"):
            if self.peek(":nth-match("):
                if inside:
                    raise self.fail(":nth-match(n) only applies to the whole selector")
                out += self.nth_match()
                continue
            combinator = self.match(_COMBINATOR)
            if combinator is None:
                raise self.fail("unexpected character")
            if self.at_end() or self.peek(",") or self.peek(")"):
                break  # trailing whitespace
            out += combinator.group(0)
            out += self.compound(inside=inside)
        return out

    def compound(self, *, inside: str) -> str:
        self.budget.compounds += 1
        if self.budget.compounds > MAX_COMPOUNDS:
            raise self.fail(f"more than {MAX_COMPOUNDS} compound selectors")
        start = self.pos
        out = ""
        if self.peek("*"):
            self.pos += 1
            out += "*"
        elif ident := self.match(_IDENT):
            out += ident.group(0)
        while not self.at_end():
            if self.peek("#") or self.peek("."):
                self.pos += 1
                ident = self.match(_IDENT)
                if ident is None:
                    raise self.fail("a name must follow '#' or '.'")
                out += self.text[self.pos - len(ident.group(0)) - 1 : self.pos]
            elif self.peek("["):
                out += self.attribute()
            elif self.peek(":nth-match("):
                break
            elif self.peek("::"):
                raise self.fail("pseudo-elements are not part of the dialect")
            elif self.peek(":"):
                out += self.pseudo(inside=inside)
            else:
                break
        if self.pos == start:
            raise self.fail("expected a selector")
        return out

    def attribute(self) -> str:
        start = self.pos
        self.pos += 1
        self.match(_WS)
        if self.match(_IDENT) is None:
            raise self.fail("expected an attribute name")
        self.match(_WS)
        if self.match(_ATTR_OP):
            self.match(_WS)
            if self.match(_STRING) is None and self.match(_IDENT) is None:
                raise self.fail("expected an attribute value")
            self.match(_WS)
            if self.match(re.compile(r"[iIsS](?![-\w])")):
                self.match(_WS)
        if not self.peek("]"):
            raise self.fail("expected ']'")
        self.pos += 1
        return self.text[start : self.pos]

    def text_argument(self) -> str:
        self.match(_WS)
        quoted = self.match(_STRING)
        if quoted:
            text = _css_unescape(quoted.group(0)[1:-1])
        else:
            bare = self.match(_BARE_TEXT)
            text = bare.group(0).strip() if bare else ""
        self.match(_WS)
        self.close()
        return text

    def close(self) -> None:
        if not self.peek(")"):
            raise self.fail("expected ')'")
        self.pos += 1

    def pseudo(self, *, inside: str) -> str:
        start = self.pos
        self.pos += 1
        name_match = self.match(_IDENT)
        if name_match is None:
            raise self.fail("expected a pseudo-class name")
        name = name_match.group(0).lower()
        if not self.peek("("):
            if name in _PLAIN_PSEUDO:
                return self.text[start : self.pos]
            self.pos = start
            raise self.fail(f":{name} is not part of the dialect")
        self.pos += 1
        if name in ("contains", "text"):
            if inside in _LOGICAL_PSEUDO:
                self.pos = start
                raise self.fail(f":{name}() cannot be used inside :{inside}()")
            self.budget.text_filters += 1
            if self.budget.text_filters > MAX_TEXT_FILTERS:
                raise self.fail(f"more than {MAX_TEXT_FILTERS} text filters")
            text = self.text_argument()
            if name == "contains" and inside == "":
                self.contains.append(text)
            else:
                self.needs_playwright = True
            if name == "contains":
                return f":has-text({css_string(text)})"
            # Pathfinder's :text("x") is the element's whole text, trimmed, case-insensitive
            # (not Playwright's :text(), a substring); the pattern is ours, its text escaped.
            pattern = r"^\s*" + _JS_REGEX_SPECIAL.sub(r"\\\g<0>", text.strip()) + r"\s*$"
            return f':text-matches({css_string(pattern)}, "i")'
        if name == "has":
            if inside:
                self.pos = start
                raise self.fail(f":has() cannot be used inside :{inside}()")
            self.budget.has += 1
            if self.budget.has > MAX_HAS:
                raise self.fail(f"more than {MAX_HAS} :has()")
            self.match(_WS)
            inner = self.selector_list(inside="has")
            self.match(_WS)
            self.close()
            return f":has({inner})"
        if name in _LOGICAL_PSEUDO:
            if inside in _LOGICAL_PSEUDO:
                self.pos = start
                raise self.fail(f":{name}() cannot be nested in :{inside}()")
            self.match(_WS)
            inner = self.selector_list(inside=name)
            self.match(_WS)
            self.close()
            return f":{name}({inner})"
        if name in _NTH_PSEUDO:
            formula = self.match(_AN_PLUS_B)
            if formula is None:
                raise self.fail(f":{name}() takes an+b")
            self.close()
            return self.text[start : self.pos]
        self.pos = start
        raise self.fail(f":{name}() is not part of the dialect")

    def nth_match(self) -> str:
        self.pos += len(":nth-match(")
        number = self.match(re.compile(r"[ \t]*(\d{1,6})[ \t]*"))
        if number is None:
            raise self.fail(":nth-match() takes a number")
        self.close()
        index = int(number.group(1))
        if index < 1:
            raise LocateError(":nth-match counts from 1")
        self.needs_playwright = True
        out = f" >> nth={index - 1}"
        if self.at_end():
            return out
        # Pathfinder: what follows is searched inside the nth match.
        if self.match(_WS) is None or self.at_end():
            if self.at_end():
                return out
            raise self.fail("after :nth-match(n), a space and a descendant selector")
        if self.peek(">") or self.peek("+") or self.peek("~") or self.peek(","):
            raise self.fail("after :nth-match(n), a space and a descendant selector")
        return out + " >> " + self.compound(inside="")


def parse_selector(reftarget: str, grafana: GrafanaSelectors) -> _Parsed:
    """Check one dialect selector and rebuild it for Playwright, or raise LocateError."""
    selector = _expand_tokens(reftarget, grafana)
    if _CONTROL.search(selector):
        raise LocateError("selector contains control characters")
    if ">>" in selector:  # Playwright's chaining, even inside a string: never needed by a guide
        raise LocateError("not Pathfinder's selector dialect: '>>'")
    parser = _DialectParser(selector)
    parser.match(_WS)
    output = parser.selector_list(inside="")
    if not parser.at_end():
        raise parser.fail("unexpected ')'" if parser.peek(")") else "unexpected character")
    fast_css, fast_contains = None, None
    if not parser.needs_playwright and not parser.contains:
        fast_css = output
    elif not parser.needs_playwright and len(parser.contains) == 1 and "," not in output:
        # One `:contains` that ends the selector: CSS, then a text filter (the in-page path).
        fast_contains = parser.contains[0]
        piece = f":has-text({css_string(fast_contains)})"
        if output.endswith(piece) and output.count(":has-text(") == 1:
            fast_css = output[: -len(piece)]
            if not fast_css or fast_css.endswith((" ", ">", "+", "~")):
                fast_css += "*"
    return _Parsed(output, fast_css, fast_contains if fast_css else None, parser.budget)


def fast_query(reftarget: str, grafana: GrafanaSelectors) -> FastQuery | None:
    """The in-page form of a selector: plain CSS, or CSS ending in one `:contains(text)`."""
    parsed = parse_selector(reftarget, grafana)
    if parsed.fast_css is None:
        return None
    return FastQuery(parsed.fast_css, parsed.fast_contains)


def translate_selector(reftarget: str, grafana: GrafanaSelectors) -> str:
    """One dialect selector as one Playwright selector string."""
    return parse_selector(reftarget, grafana).playwright


def _target(reftarget: str, grafana: GrafanaSelectors) -> Target:
    parsed = parse_selector(reftarget, grafana)
    fast = None if parsed.fast_css is None else FastQuery(parsed.fast_css, parsed.fast_contains)
    return Target((parsed.playwright,), reftarget, fast)


def button_target(reftarget: str, grafana: GrafanaSelectors) -> Target:
    """Pathfinder's `button` rule: a selector, or button text (exact first, then substring)."""
    text = reftarget.strip()
    if looks_like_selector(text):
        return _target(text, grafana)
    if not text or len(text) > 500:
        raise LocateError("button text must be 1-500 characters")
    if _CONTROL.search(text):
        raise LocateError("button text contains control characters")
    pattern = css_string(r"^\s*" + _JS_REGEX_SPECIAL.sub(r"\\\g<0>", text) + r"\s*$")
    exact = f'button:text-matches({pattern}, "i")'
    return Target((exact, f"button:has-text({css_string(text)})"), reftarget)


def element_target(reftarget: str, grafana: GrafanaSelectors) -> Target:
    return _target(reftarget, grafana)
