"""Pathfinder's selector dialect, translated into Playwright selectors (sans-I/O).

Beyond CSS, guides use `:contains("text")`, `:has(...)`, `:nth-match(n)`, `:text("...")`,
`grafana:` tokens (resolved with *this* Grafana's selector table: Pathfinder's
`grafana:path:id` and `{grafana:path:id}`, and our older `grafana:path(id)`), and, for
`button` actions, plain button text. The result is an ordered list of Playwright selectors: the
first one that matches wins (Pathfinder's button rule: exact text first, then substring).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from bridge.browser.contract import ContractError, GrafanaSelectors
from bridge.errors import BridgeError

MAX_SELECTOR = 2000
_TOKEN = re.compile(r"grafana:([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)+)(?:\(([^()]*)\))?")
_PATH = r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)+"
_BRACED_TOKEN = re.compile(r"\{grafana:(" + _PATH + r")(?::([^}]+))?\}")
_WHOLE_TOKEN = re.compile(r"grafana:(" + _PATH + r")(?::(.+))?", re.DOTALL)
_CONTAINS = re.compile(
    r""":contains\(\s*(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)'|([^)"']*))\s*\)"""
)
# Pathfinder's :text("x") is the element's whole text, trimmed, case-insensitive (not
# Playwright's :text(), a substring).
_TEXT = re.compile(r""":text\(\s*(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)'|([^)"']*))\s*\)""")
_NTH_MATCH = re.compile(r":nth-match\(\s*(\d+)\s*\)\s*$")
_PLAYWRIGHT_ONLY = re.compile(
    r":has-text\(|:text\(|:text-is\(|:text-matches\(|>>|:visible|:nth-match\("
)
_JS_REGEX_SPECIAL = re.compile(r"[.*+?^${}()|[\]\\/]")
_SELECTOR_HINT = re.compile(r"""[\[\]#.>:=~+*"']""")


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


def _quote(text: str) -> str:
    return json.dumps(text)


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


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


def fast_query(reftarget: str, grafana: GrafanaSelectors) -> FastQuery | None:
    """The in-page form of a selector: plain CSS, or CSS ending in one `:contains(text)`."""
    selector = _expand_tokens(reftarget, grafana)
    text = None
    matches = list(_CONTAINS.finditer(selector))
    if len(matches) == 1 and matches[0].end() == len(selector.rstrip()):
        match = matches[0]
        text = _unescape(next(g for g in match.groups() if g is not None))
        selector = selector[: match.start()]
        if not selector or selector.endswith((" ", ">", "+", "~")):
            selector += "*"
    elif matches:
        return None
    if _PLAYWRIGHT_ONLY.search(selector) or "javascript:" in selector.lower():
        return None
    return FastQuery(selector, text)


def translate_selector(reftarget: str, grafana: GrafanaSelectors) -> str:
    """One dialect selector as one Playwright selector string."""
    selector = _expand_tokens(reftarget, grafana)

    def contains(match: re.Match[str]) -> str:
        text = next(g for g in match.groups() if g is not None)
        return f":has-text({_quote(_unescape(text))})"

    def text_is(match: re.Match[str]) -> str:
        text = _unescape(next(g for g in match.groups() if g is not None)).strip()
        pattern = r"^\s*" + _JS_REGEX_SPECIAL.sub(r"\\\g<0>", text) + r"\s*$"
        return f':text-matches({_quote(pattern)}, "i")'

    selector = _CONTAINS.sub(contains, selector)
    selector = _TEXT.sub(text_is, selector)
    nth = _NTH_MATCH.search(selector)
    if nth:
        index = int(nth.group(1))
        if index < 1:
            raise LocateError(":nth-match counts from 1")
        selector = f"{selector[: nth.start()]} >> nth={index - 1}"
    if "javascript:" in selector.lower() or "\x00" in selector:
        raise LocateError("selector contains a forbidden sequence")
    return selector


def button_target(reftarget: str, grafana: GrafanaSelectors) -> Target:
    """Pathfinder's `button` rule: a selector, or button text (exact first, then substring)."""
    text = reftarget.strip()
    if looks_like_selector(text):
        return Target((translate_selector(text, grafana),), reftarget, fast_query(text, grafana))
    if not text or len(text) > 500:
        raise LocateError("button text must be 1-500 characters")
    pattern = _quote(r"^\s*" + _JS_REGEX_SPECIAL.sub(r"\\\g<0>", text) + r"\s*$")
    exact = f'button:text-matches({pattern}, "i")'
    return Target((exact, f"button:has-text({_quote(text)})"), reftarget)


def element_target(reftarget: str, grafana: GrafanaSelectors) -> Target:
    return Target(
        (translate_selector(reftarget, grafana),), reftarget, fast_query(reftarget, grafana)
    )
