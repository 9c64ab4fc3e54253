"""Restarts of dead processes: bounded within a period, with backoff, and said once each."""

from __future__ import annotations

import pytest

from failstream.restarts import GaveUp, ProcessSupervisor, RestartBudget


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


class Proc:
    """A process whose exit code the test sets (``poll`` is all the supervisor reads)."""

    def __init__(self) -> None:
        self.code: int | None = None

    def poll(self) -> int | None:
        return self.code


def test_process_supervisor_restarts_a_dead_process_after_its_backoff_and_says_so() -> None:
    now = [0.0]
    started: list[Proc] = []
    said: list[str] = []

    def start(name: str) -> Proc:
        started.append(Proc())
        return started[-1]

    supervisor = ProcessSupervisor(start, clock=lambda: now[0], say=said.append)  # type: ignore[arg-type]
    supervisor.launch("alerting")
    supervisor.check()
    assert len(started) == 1 and said == []
    started[0].code = -9
    supervisor.check()
    assert len(started) == 1 and said[0].startswith("alerting exited (code -9); restarting it in ")
    now[0] = 1.0  # the first delay is at most a second
    supervisor.check()
    assert len(started) == 2 and supervisor.procs["alerting"] is started[1]


def test_process_supervisor_gives_up_past_the_restart_budget() -> None:
    now = [0.0]
    started: list[Proc] = []

    def start(name: str) -> Proc:
        started.append(Proc())
        started[-1].code = 1  # dies at once, every time
        return started[-1]

    supervisor = ProcessSupervisor(start, clock=lambda: now[0], say=lambda line: None)  # type: ignore[arg-type]
    supervisor.launch("api")
    with pytest.raises(GaveUp, match="api exited"):
        for _ in range(100):
            supervisor.check()
            now[0] += 2.0
    assert len(started) == 6  # the first start and five restarts
