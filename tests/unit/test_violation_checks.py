"""ViolationCollector.check: every bad field of a request is reported at once."""

from __future__ import annotations

import pytest

from masterdata.server.domain.errors import FieldViolation, InvalidArgument, ViolationCollector


def bad(field: str, reason: str = "BAD") -> InvalidArgument:
    return InvalidArgument(f"{field} is bad", violations=[FieldViolation(field, "bad", reason)])


def raise_(error: Exception) -> int:
    raise error


def test_checks_run_to_the_end_and_raise_together() -> None:
    problems = ViolationCollector()
    assert problems.check(lambda: raise_(bad("filter")), 0) == 0
    assert problems.check(lambda: 7, 0) == 7
    assert problems.check(lambda: raise_(bad("page_token", "OTHER")), 1) == 1
    with pytest.raises(InvalidArgument) as raised:
        problems.raise_if_any()
    assert [v.field for v in raised.value.violations] == ["filter", "page_token"]
    assert raised.value.reason == "INVALID_ARGUMENT"  # two reasons: the generic one


def test_one_problem_is_raised_as_it_was() -> None:
    problems = ViolationCollector()
    only = bad("order_by", "INVALID_ORDER_BY")
    problems.check(lambda: raise_(only), None)
    with pytest.raises(InvalidArgument) as raised:
        problems.raise_if_any()
    assert raised.value is only


def test_no_problem_raises_nothing_and_other_errors_pass_through() -> None:
    problems = ViolationCollector()
    problems.raise_if_any()
    with pytest.raises(ValueError):
        problems.check(lambda: raise_(ValueError("not a request problem")), 0)


def test_checked_errors_and_added_violations_are_raised_together() -> None:
    problems = ViolationCollector("location")
    problems.add("name", "required", "REQUIRED")
    problems.check(lambda: raise_(bad("page_token")), None)
    with pytest.raises(InvalidArgument) as raised:
        problems.raise_if_any("bad location")
    assert [v.field for v in raised.value.violations] == ["location.name", "page_token"]
    assert raised.value.message == "bad location"


def test_a_checked_error_without_violations_is_not_lost() -> None:
    problems = ViolationCollector()
    bare = InvalidArgument("bad in some way")
    problems.check(lambda: raise_(bare), None)
    with pytest.raises(InvalidArgument) as raised:
        problems.raise_if_any()
    assert raised.value is bare
