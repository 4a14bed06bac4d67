"""Budgets in a person's phrasing: what parses, to what rate, and what is refused."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.calibrate.budget import UNITS, Budget, BudgetError, parse_budget

_SPELLINGS = {
    "hour": ["hour", "hours", "h", "hr", "HRS"],
    "day": ["day", "days", "d", "Day"],
    "week": ["week", "weeks", "wk", "w"],
    "month": ["month", "months", "mo", "Month"],
    "year": ["year", "years", "yr", "y"],
}
_NOUNS = ["", "false alarms ", "false alarm ", "alerts ", "alarm ", "FALSE ALERTS "]
_PER = ["per", "a", "an", "every", "each", "/"]

numbers = st.one_of(
    st.integers(1, 10_000).map(float),
    st.floats(0.001, 1e4, allow_nan=False, allow_infinity=False).map(lambda x: round(x, 3)),
).filter(lambda x: x > 0)


def _text(x: float) -> str:
    return f"{x:g}" if "e" not in f"{x:g}" else f"{x:.6f}"


@settings(max_examples=200, deadline=None)
@given(
    count=numbers,
    every=st.one_of(st.none(), numbers),
    unit=st.sampled_from(sorted(UNITS)),
    data=st.data(),
)
def test_every_phrasing_parses_to_its_rate(
    count: float, every: float | None, unit: str, data: st.DataObject
) -> None:
    spelling = data.draw(st.sampled_from(_SPELLINGS[unit]))
    noun = data.draw(st.sampled_from(_NOUNS))
    per = data.draw(st.sampled_from(_PER))
    gap = data.draw(st.sampled_from([" ", "  ", ""]))
    period = spelling if every is None else f"{_text(every)}{gap}{spelling}"
    text = f" {_text(count)} {noun}{per} {period} "
    budget = parse_budget(text)
    c, e = float(_text(count)), float(_text(every)) if every is not None else 1.0
    assert budget.count == c
    assert math.isclose(budget.seconds, e * UNITS[unit])
    assert math.isclose(budget.expected(budget.seconds), c)
    again = parse_budget(str(budget))  # printing it gives a budget that parses the same
    assert math.isclose(again.count, budget.count)
    assert math.isclose(again.seconds, budget.seconds)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40))
def test_any_text_parses_or_is_refused_with_a_budget_error(text: str) -> None:
    try:
        budget = parse_budget(text)
    except BudgetError as exc:
        assert "budget" in str(exc)
    else:
        assert isinstance(budget, Budget) and budget.count > 0 and budget.seconds > 0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "expected '<count> per <period>'"),
        ("two per week", "expected '<count> per <period>'"),
        ("2 per fortnight", "unknown unit 'fortnight'"),
        ("0 per month", "the count must be above 0"),
        ("2 per 0 days", "the period must be longer than 0"),
        ("-1 per week", "expected '<count> per <period>'"),
        ("1 per week please", "expected '<count> per <period>'"),
        ("1e3 per week", "expected '<count> per <period>'"),
    ],
)
def test_bad_budgets_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(BudgetError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_budget(text)


def test_the_examples_of_the_issue() -> None:
    assert parse_budget("1 per week").expected(7 * 86400.0) == pytest.approx(1.0)
    assert parse_budget("2 per 30 days").expected(15 * 86400.0) == pytest.approx(1.0)
    assert parse_budget("0.5 per month").expected(60 * 86400.0) == pytest.approx(1.0)
    assert str(parse_budget("2 per 30 days")) == "2 per 30 days"
