"""Text from a hostile bucket, made safe to write anywhere.

Two kinds of trouble come from names and sidecars:

- **Text that cannot be encoded.** A file name that is not UTF-8 reaches Python with its bad
  bytes as lone surrogates (``os.fsdecode``: byte 0xFF becomes U+DCFF), and a JSON string may
  hold a lone surrogate escape (``"\\ud800"`` is valid JSON syntax). Neither can be written as
  UTF-8. :func:`scrub` spells them out as visible escapes (``\\xff``, ``\\ud800``), so every
  report, stream and the ledger can hold them.
- **Text that misleads a reader.** Control characters (a newline followed by ``::error`` is a
  GitHub workflow command), bidirectional overrides (which reorder what is shown) and
  zero-width characters (a name that looks like another). :func:`printable` escapes them for
  the formats people and CI runners read line by line (text, github).
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

_SURROGATE = re.compile("[\ud800-\udfff]")

# Bidirectional embedding/override/isolate marks, and the characters that show nothing.
BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
ZERO_WIDTH = frozenset(
    "\u00ad\u034f\u115f\u1160\u17b4\u17b5\u180e\u200b\u200c\u200d\u2060\u2061\u2062\u2063\u2064\ufeff"
)
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029" + "".join(sorted(BIDI | ZERO_WIDTH)) + "\ud800-\udfff]")


def _surrogate(match: re.Match[str]) -> str:
    code = ord(match.group())
    if 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8, as os.fsdecode keeps it
        return f"\\x{code - 0xDC00:02x}"
    return f"\\u{code:04x}"


def scrub(text: str) -> str:
    """``text`` with every lone surrogate written out as an escape; encodable as UTF-8."""
    if text.isascii():
        return text
    return _SURROGATE.sub(_surrogate, text)


def scrub_obj(value: Any) -> Any:
    """:func:`scrub` applied to every string (keys too) of a JSON-like value."""
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, dict):
        return {scrub(k) if isinstance(k, str) else k: scrub_obj(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub_obj(v) for v in value]
    return value


def has_surrogates(text: str) -> bool:
    return not text.isascii() and _SURROGATE.search(text) is not None


def needs_scrub(value: Any) -> bool:
    """Whether any string (or key) of a JSON-like value holds a lone surrogate."""
    if isinstance(value, str):
        return has_surrogates(value)
    if isinstance(value, dict):
        return any(needs_scrub(k) or needs_scrub(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(needs_scrub(v) for v in value)
    return False


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    if 0xD800 <= code <= 0xDFFF:
        return _surrogate(match)
    if code <= 0xFF:
        return {"\n": "\\n", "\r": "\\r", "\t": "\\t"}.get(char, f"\\x{code:02x}")
    return f"\\u{code:04x}"


def printable(text: str) -> str:
    """``text`` with control, bidirectional-override and zero-width characters (and lone
    surrogates) escaped, so one line of output stays one line and shows what it holds."""
    if text.isascii() and text.isprintable():
        return text
    return _UNSAFE.sub(_escape, text)


def invisible_characters(text: str) -> list[str]:
    """The characters of ``text`` that a reader cannot see or that reorder what is shown:
    controls, bidirectional marks, zero-width and other format characters, as ``U+XXXX NAME``."""
    if text.isascii() and text.isprintable():
        return []  # printable ASCII has no control, format, bidirectional or zero-width character
    found: dict[str, None] = {}
    for char in text:
        if char in BIDI or char in ZERO_WIDTH or unicodedata.category(char) in ("Cc", "Cf", "Cs", "Zl", "Zp"):
            name = unicodedata.name(char, "") if unicodedata.category(char) != "Cs" else "SURROGATE"
            found[f"U+{ord(char):04X}{' ' + name if name else ''}"] = None
    return list(found)
