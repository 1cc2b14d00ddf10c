"""Symbol normalization: case Y9 (codes with letters) and D1 (a repeated symbol)."""

from __future__ import annotations

import pytest

from kabuflow.errors import InvalidRequestError
from kabuflow.symbols import is_tokyo_symbol, normalize_symbol, normalize_symbols


def test_y9_letter_codes_trimming_and_case_before_deduplication():
    raw = ["130A.T", "285A.T", "7203.t", " 7203.T ", "7203"]

    assert normalize_symbols(raw) == ["130A.T", "285A.T", "7203.T"]


def test_d1_repeated_symbol_counted_once():
    assert normalize_symbols(["7203.T", "7203.T"]) == ["7203.T"]


def test_order_of_first_occurrence_is_kept():
    raw = ["AAPL", "7203", "^N225", "aapl", "7203.T", "USDJPY=X"]

    assert normalize_symbols(raw) == ["AAPL", "7203.T", "^N225", "USDJPY=X"]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("7203", "7203.T"),
        (" 7203.t ", "7203.T"),
        ("130a", "130A.T"),
        ("285A", "285A.T"),
        ("1A2C", "1A2C.T"),
        ("9A76", "9A76.T"),
        ("1301", "1301.T"),
    ],
)
def test_bare_tokyo_code_maps_to_dot_t(raw, expected):
    assert normalize_symbol(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "AAPL",  # letters first
        "BRK",  # three characters
        "0700",  # JPX codes start at 1300: no leading zero
        "130B",  # B is never used by JPX (reads like 8)
        "13A0",  # a letter in the 3rd place is not a JPX code
        "72031",  # five characters
        "F",
    ],
)
def test_other_symbols_are_not_mapped_to_tokyo(raw):
    assert normalize_symbol(raw) == raw.upper()
    assert not is_tokyo_symbol(normalize_symbol(raw))


@pytest.mark.parametrize(
    "raw",
    ["7203.T", "130A.T", "^N225", "USDJPY=X", "BRK-B", "JPYUSD=X", "M&M.NS", "ES=F"],
)
def test_any_yahoo_symbol_is_accepted_unchanged(raw):
    assert normalize_symbol(raw) == raw


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("72 03.T", "whitespace"),
        ("7203\t.T", "whitespace"),
        ("7203.T;DROP", "not a Yahoo symbol"),
        ("AAPL/", "not a Yahoo symbol"),
        ("7203.", "not a Yahoo symbol"),
        ("N225^", "not a Yahoo symbol"),
        ("A=B=C", "not a Yahoo symbol"),
        ("トヨタ", "not a Yahoo symbol"),
        ("A" * 33, "more than 32"),
    ],
)
def test_bad_symbols_are_rejected_with_a_reason(raw, words):
    with pytest.raises(InvalidRequestError) as caught:
        normalize_symbol(raw)
    assert caught.value.field == "symbol"
    assert words in caught.value.message


def test_thirty_two_characters_is_the_longest_accepted():
    assert normalize_symbol("A" * 31 + "1") == "A" * 31 + "1"


@pytest.mark.parametrize(("items", "index"), [(["7203.T", 7203], 1), ([None], 0)])
def test_non_string_items_are_rejected_naming_the_index(items, index):
    with pytest.raises(InvalidRequestError) as caught:
        normalize_symbols(items)
    assert caught.value.field == "symbols"
    assert f"item {index}" in caught.value.message
    assert "expected a string" in caught.value.message


@pytest.mark.parametrize("raw", ["7203.T", b"7203.T", {"7203.T": 1}, 7203, None])
def test_symbols_must_be_a_list(raw):
    with pytest.raises(InvalidRequestError) as caught:
        normalize_symbols(raw)
    assert caught.value.field == "symbols"


def test_empty_list_normalizes_to_empty_list():
    assert normalize_symbols([]) == []
