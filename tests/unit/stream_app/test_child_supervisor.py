"""The persister's restart budget: restarts within a period are bounded, old ones age out."""

from __future__ import annotations

from stream_app.child_supervisor import RestartBudget


def test_restart_budget_refuses_past_its_limit_within_the_period() -> None:
    budget = RestartBudget(max_restarts=3, period_s=60)
    assert [budget.allow(t) for t in (0, 1, 2)] == [True, True, True]
    assert not budget.allow(30)


def test_restart_budget_allows_again_once_old_restarts_age_out() -> None:
    budget = RestartBudget(max_restarts=2, period_s=60)
    assert budget.allow(0) and budget.allow(10)
    assert not budget.allow(59)
    assert budget.allow(60)  # the restart at 0 is a period old
    assert not budget.allow(65)
