"""Parsing a sidecar's bytes into JSON, strictly, with what is wrong and where.

Python's ``json`` is more lenient than the JSON aind-data-schema and the rest of AIND's tools
read, so a file it accepts may still be refused downstream. :func:`parse_json_bytes` gives
every such file a verdict (M202) naming the problem, its line and column and, for problems
inside the document, the JSON path:

- a UTF-8 byte order mark: ``Model.model_validate_json`` rejects it ("expected value at line
  1 column 1");
- ``NaN``, ``Infinity`` and ``-Infinity``: not JSON numbers (RFC 8259);
- a key given twice in one object: parsers disagree about which value wins;
- a string holding a lone UTF-16 surrogate (``"\\ud800"``): not a Unicode character;
  ``model_validate_json`` rejects it;
- an integer with more digits than Python converts (``sys.get_int_max_str_digits()``, 4300 by
  default), which would otherwise raise in every rule that reads the file;
- nesting deeper than the parser's recursion limit.

The common case costs one ``json.loads`` (its hooks fire only on the rare problems); the
slower scan that finds *where* a problem is runs only once one is known to exist.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from linter.safetext import has_surrogates

BOM = "\ufeff"
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89abAB][0-9a-fA-F]{2}|\\u[dD][c-fC-F][0-9a-fA-F]{2}")
_TOKEN = re.compile(
    r"""(?P<ws>[ \t\n\r]+)
      | (?P<string>"(?:[^"\\]|\\.)*")
      | (?P<punct>[{}\[\]:,])
      | (?P<number>-?(?:0|[1-9][0-9]*)(?P<frac>\.[0-9]+)?(?P<exp>[eE][+-]?[0-9]+)?)
      | (?P<constant>NaN|-?Infinity)
      | (?P<word>true|false|null)
    """,
    re.VERBOSE | re.DOTALL,
)


@dataclass(frozen=True, slots=True)
class ParsedJson:
    """``data`` when the bytes are one strict JSON value; else ``error`` says what is wrong
    (a phrase that follows "<file> is ...") and ``details`` where."""

    data: Any
    error: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    text: str | None = None


class _Found(Exception):
    def __init__(self, kind: str, value: str = "") -> None:
        super().__init__(kind)
        self.kind = kind
        self.value = value


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise _Found("duplicate")
    return obj


def _constant(name: str) -> float:
    raise _Found("constant", name)


def parse_json_bytes(raw: bytes) -> ParsedJson:
    """Decode ``raw`` as UTF-8 and parse it as strict JSON (see the module's docstring)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return ParsedJson(None, f"not UTF-8 (invalid byte at offset {exc.start})", {"offset": exc.start})
    if text.startswith(BOM):
        return ParsedJson(
            None,
            "not valid JSON: it starts with a UTF-8 byte order mark (U+FEFF), which aind-data-schema's "
            "model_validate_json rejects (expected value at line 1, column 1); save it as UTF-8 without BOM",
            {"line": 1, "column": 1, "problem": "bom"},
            text,
        )
    try:
        data = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_constant)
    except _Found:
        return _located(text)
    except json.JSONDecodeError as exc:
        return ParsedJson(
            None,
            # json's "Unterminated string starting at" / "Invalid control character at" end in "at"
            f"not valid JSON: {exc.msg.removesuffix(' starting at').removesuffix(' at')} "
            f"at line {exc.lineno}, column {exc.colno}",
            {"line": exc.lineno, "column": exc.colno},
            text,
        )
    except RecursionError:
        return ParsedJson(None, "not valid JSON: nested too deeply", {"problem": "depth"}, text)
    except ValueError:  # an integer beyond int()'s digit limit
        return _located(text)
    if _SURROGATE_ESCAPE.search(text) and _holds_surrogate(data):
        return _located(text)
    return ParsedJson(data, None, {}, text)


def _holds_surrogate(value: Any) -> bool:
    """Whether a string (or key) of the parsed value holds a lone surrogate; walks iteratively."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if has_surrogates(item):
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def json_path(parts: Iterable[str | int]) -> str:
    """JSONPath as the M2xx findings write it: ``$.a.b[0]['odd key']``."""
    out = ["$"]
    for part in parts:
        if isinstance(part, int):
            out.append(f"[{part}]")
        elif _IDENTIFIER.match(part):
            out.append(f".{part}")
        else:
            out.append("['" + part.replace("\\", "\\\\").replace("'", "\\'") + "']")
    return "".join(out)


def _located(text: str) -> ParsedJson:
    """Scan ``text`` token by token for the first strict-JSON problem and say where it is."""
    limit = sys.get_int_max_str_digits() or 0
    # a stack of containers: [kind, keys seen, current key or index, expecting a key]
    stack: list[list[Any]] = []
    for match in _TOKEN.finditer(text):
        kind = match.lastgroup
        token = match.group()
        if kind == "ws":
            continue
        where = match.start()
        top = stack[-1] if stack else None
        if kind == "punct":
            if token in "{[":
                stack.append(["object" if token == "{" else "array", set(), 0 if token == "[" else None, token == "{"])
            elif token in "}]":
                if stack:
                    stack.pop()
            elif token == "," and top is not None:
                if top[0] == "array":
                    top[2] += 1
                else:
                    top[3] = True
            continue
        path = [frame[2] for frame in stack if frame[2] is not None]
        if kind == "string" and top is not None and top[0] == "object" and top[3]:
            key = json.loads(token)
            top[3] = False
            outer = [frame[2] for frame in stack[:-1] if frame[2] is not None]
            if has_surrogates(key):
                return _problem(text, where, "surrogate", outer, token)
            if key in top[1]:
                return _problem(text, where, "duplicate", outer, key)
            top[1].add(key)
            top[2] = key
            continue
        if kind == "string" and _SURROGATE_ESCAPE.search(token) and has_surrogates(json.loads(token)):
            return _problem(text, where, "surrogate", path, token)
        if kind == "constant":
            return _problem(text, where, "constant", path, token)
        if kind == "number" and limit and not match.group("frac") and not match.group("exp"):
            digits = len(token.lstrip("-"))
            if digits > limit:
                return _problem(text, where, "integer", path, str(digits))
    return ParsedJson(None, "not valid JSON", {"problem": "unknown"}, text)


def _problem(text: str, offset: int, kind: str, path: list[str | int], value: str) -> ParsedJson:
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    at = f"line {line}, column {column}"
    where = json_path(path)
    details: dict[str, Any] = {"line": line, "column": column, "json_path": where, "problem": kind}
    if kind == "duplicate":
        message = (
            f"not valid JSON for AIND: key {value!r} appears twice in the object at {where} ({at}); "
            "parsers disagree about which value counts"
        )
        details["key"] = value
    elif kind == "constant":
        message = f"not valid JSON: {value} at {where} ({at}) is not a JSON number (RFC 8259)"
        details["value"] = value
    elif kind == "surrogate":
        shown = value if len(value) <= 40 else value[:37] + '..."'
        message = (
            f"not valid JSON for AIND: the string {shown} at {where} ({at}) holds a lone UTF-16 surrogate, "
            "which is not a character; aind-data-schema's model_validate_json rejects it"
        )
    else:
        limit = sys.get_int_max_str_digits()
        message = (
            f"not valid JSON for AIND: an integer of {value} digits at {where} ({at}), beyond the "
            f"{limit} digits a parser converts; aind-data-schema's model_validate_json rejects it as out of range"
        )
        details["digits"] = int(value)
    return ParsedJson(None, message, details, text)
