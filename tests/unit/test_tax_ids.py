"""Pure identifier rules: the GSTIN check character (property tests) and the patterns."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from masterdata.server.domain.tax_ids import (
    GST_STATE_CODES,
    GSTIN_ALPHABET,
    cin_problem,
    currency_problem,
    email_problem,
    gstin_check_character,
    gstin_problem,
    ifsc_problem,
    pan_problem,
)

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
DIGITS = "0123456789"


def chars(alphabet: str, n: int) -> st.SearchStrategy[str]:
    return st.text(alphabet=alphabet, min_size=n, max_size=n)


pans = st.builds(lambda a, d, z: a + d + z, chars(LETTERS, 5), chars(DIGITS, 4), chars(LETTERS, 1))


@st.composite
def valid_gstins(draw: st.DrawFn) -> str:
    state = draw(st.sampled_from(sorted(GST_STATE_CODES)))
    entity = draw(st.sampled_from(GSTIN_ALPHABET[1:]))
    letter = draw(st.sampled_from(LETTERS))
    body = state + draw(pans) + entity + letter
    return body + gstin_check_character(body)


@pytest.mark.parametrize(
    "known",
    ["27AAPFU0939F1ZV", "29AAGCB7383J1Z4", "07AAACR5055K1Z9"],
)
def test_published_gstins_are_valid(known: str) -> None:
    assert gstin_problem(known) is None


@given(valid_gstins())
def test_generated_gstins_pass(gstin: str) -> None:
    assert gstin_problem(gstin) is None
    assert gstin_problem(gstin, pan=gstin[2:12]) is None


@settings(max_examples=60)
@given(valid_gstins(), st.integers(min_value=0, max_value=14), st.data())
def test_every_single_character_change_fails(
    gstin: str, position: int, data: st.DataObject
) -> None:
    others = [c for c in GSTIN_ALPHABET if c != gstin[position]]
    replacement = data.draw(st.sampled_from(others))
    changed = gstin[:position] + replacement + gstin[position + 1 :]
    assert gstin_problem(changed) is not None


@settings(max_examples=20)
@given(valid_gstins())
def test_exhaustively_every_substitution_of_one_gstin_fails(gstin: str) -> None:
    for position in range(15):
        for replacement in GSTIN_ALPHABET:
            if replacement != gstin[position]:
                changed = gstin[:position] + replacement + gstin[position + 1 :]
                assert gstin_problem(changed) is not None, changed


def test_gstin_reasons() -> None:
    valid = "27AAPFU0939F1ZV"
    assert gstin_problem(valid[:-1] + "W").reason == "GSTIN_CHECKSUM"  # type: ignore[union-attr]
    assert gstin_problem("00" + valid[2:]).reason == "GSTIN_STATE_CODE"  # type: ignore[union-attr]
    assert gstin_problem(valid[:14]).reason == "INVALID_GSTIN"  # type: ignore[union-attr]
    assert gstin_problem(valid.lower()).reason == "INVALID_GSTIN"  # type: ignore[union-attr]
    mismatch = gstin_problem(valid, pan="AAGCB7383J")
    assert mismatch is not None and mismatch.reason == "GSTIN_PAN_MISMATCH"


@pytest.mark.parametrize(
    ("check", "good", "bad", "reason"),
    [
        (pan_problem, "AAPFU0939F", "AAPFU09391", "INVALID_PAN"),
        (cin_problem, "L17110MH1973PLC019786", "L17110MH1973PLC01978", "INVALID_CIN"),
        (ifsc_problem, "SBIN0000001", "SBIN1000001", "INVALID_IFSC"),
        (currency_problem, "INR", "ABC", "INVALID_CURRENCY"),
        (email_problem, "accounts@example.co.in", "accounts@@example.co.in", "INVALID_EMAIL"),
    ],
)
def test_identifier_patterns(check, good: str, bad: str, reason: str) -> None:  # type: ignore[no-untyped-def]
    assert check(good) is None
    problem = check(bad)
    assert problem is not None and problem.reason == reason and problem.description
