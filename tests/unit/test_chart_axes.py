"""The review's weekly charts label both axes on round steps (services/audit/chart_axes.py):
the money axis from 0, the 环比 axis with as many labels, so each lines up with one."""

from __future__ import annotations

import pytest

from services.audit.chart_axes import labels_matching, labels_over, round_step


@pytest.mark.parametrize(
    ("span", "intervals", "step"),
    [(1_620_000, 5, 500_000), (100, 4, 25), (135, 4, 50), (7, 5, 2), (0, 5, 1), (3, 1, 5)],
)
def test_round_steps(span: float, intervals: int, step: int) -> None:
    assert round_step(span, intervals) == step


def test_money_labels_start_at_zero_and_cover_the_top() -> None:
    assert labels_over(0, 1_620_000) == [0, 500_000, 1_000_000, 1_500_000, 2_000_000]
    assert labels_over(-5_000, 840_000)[:2] == [-200_000, 0]
    assert labels_over(0, 0) == [0, 1, 2]  # a week of nothing still has two steps


@pytest.mark.parametrize(
    ("low", "high", "count"),
    [(-100, -100, 5), (-100, 35, 5), (0, 900, 5), (-3, 2, 3), (-100, 1250, 7), (12.5, 12.5, 4)],
)
def test_change_labels_match_the_money_labels(low: float, high: float, count: int) -> None:
    labels = labels_matching(low, high, count)
    steps = {b - a for a, b in zip(labels, labels[1:], strict=False)}
    assert len(labels) == count and len(steps) == 1
    assert labels[0] <= min(low, 0) and labels[-1] >= max(high, 0)
    assert 0 in labels  # 0% is a label: growth above it, decline below
    assert all(float(x).is_integer() for x in labels)


def test_a_week_that_lost_everything_is_labelled_in_quarters() -> None:
    assert labels_matching(-100, -100, 5) == [-100, -75, -50, -25, 0]
