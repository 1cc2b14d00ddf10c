"""Normalize Yahoo Finance symbols the same way everywhere they enter kabuflow.

Symbols are text, never numbers: Tokyo codes with letters (`130A`) exist since 2024.

The one mapping rule: a bare Tokyo securities code becomes a `.T` symbol. JPX issues
four-character codes in which the 1st and 3rd characters are digits (the 1st is 1-9,
codes run from 1300) and the 2nd and 4th are digits or one of the 19 capital letters
JPX uses (A-Z without B, E, I, O, Q, V and Z, which read like digits). So `7203`,
`130A`, `285A` and `1A2C` are Tokyo codes; `AAPL`, `BRK` and `0700` are not.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from kabuflow.errors import InvalidRequestError

MAX_SYMBOL_LENGTH = 32
TOKYO_SUFFIX = ".T"

_JPX_LETTERS = "ACDFGHJKLMNPRSTUWXY"
_TOKYO_CODE = re.compile(rf"[1-9][0-9{_JPX_LETTERS}][0-9][0-9{_JPX_LETTERS}]")
# Letters, digits and the punctuation Yahoo uses: `.` exchange suffix, `-` share class
# or pair, `^` index prefix, `=` FX/futures suffix, `&` (e.g. `M&M.NS`).
_YAHOO_SYMBOL = re.compile(r"\^?[A-Z0-9&](?:[A-Z0-9.&=-]*[A-Z0-9])?")


def normalize_symbol(raw: str) -> str:
    """Return `raw` trimmed, upper-cased, with a bare Tokyo code mapped to `.T`.

    Raises `InvalidRequestError` (field `symbol`) for a non-string, an empty value,
    whitespace inside, a character Yahoo never uses, or more than 32 characters.
    """
    if not isinstance(raw, str):
        kind = type(raw).__name__
        raise InvalidRequestError("symbol", f"expected a string, got {kind}")
    symbol = raw.strip().upper()

    _check_shape(raw, symbol)

    if _TOKYO_CODE.fullmatch(symbol):
        symbol += TOKYO_SUFFIX
    if len(symbol) > MAX_SYMBOL_LENGTH:
        raise InvalidRequestError(
            "symbol", f"{len(symbol)} characters, more than {MAX_SYMBOL_LENGTH}"
        )
    return symbol


def normalize_symbols(raw: Sequence[str]) -> list[str]:
    """Normalize every symbol, keep the first occurrence of each, keep the order.

    Duplicates are found after normalization, so `"7203"`, `" 7203.t "` and `"7203.T"`
    count once. Raises `InvalidRequestError` (field `symbols`) naming the index of
    the first bad item, or when `raw` is not a list.
    """
    if isinstance(raw, str | bytes) or not isinstance(raw, Sequence):
        raise InvalidRequestError(
            "symbols", f"expected a list of strings, got {type(raw).__name__}"
        )
    unique: dict[str, None] = {}
    for index, item in enumerate(raw):
        try:
            unique.setdefault(normalize_symbol(item), None)
        except InvalidRequestError as err:
            raise InvalidRequestError(
                "symbols", f"item {index}: {err.message}"
            ) from err
    return list(unique)


def is_tokyo_symbol(symbol: str) -> bool:
    """Return whether a normalized symbol is listed in Tokyo (ends in `.T`)."""
    return symbol.endswith(TOKYO_SUFFIX)


def _check_shape(raw: str, symbol: str) -> None:
    if not symbol:
        raise InvalidRequestError("symbol", "must not be empty")
    if any(char.isspace() for char in symbol):
        raise InvalidRequestError("symbol", f"{raw!r} contains whitespace")
    if not _YAHOO_SYMBOL.fullmatch(symbol) or symbol.count("=") > 1:
        raise InvalidRequestError(
            "symbol", f"{raw!r} is not a Yahoo symbol (letters, digits and . - ^ = &)"
        )
