"""Faults one at a time under 200+ failures/s from 120+ addresses: nothing lost, counted or emailed twice.

Each test injects one fault mid-traffic into the pipeline of ``conftest``
(private broker, FerretDB and SMTP server; the four processes supervised as
compose's ``restart: always`` would) and then checks, over everything sent
so far: per-IP totals in ``ip_stats`` equal what was answered, the alert
emails equal the sliding-window oracle's alerts, no subject is emailed
twice, dead letters hold only the malformed input, and no process exited
except the one the test killed (see ``scenario``). The demo service's kill
comes last: after it, counts may be short by what its in-memory queue held.
"""

from __future__ import annotations

import pytest

from tests.faults.scenario import (
    Run,
    broker_down,
    check_phase,
    kill_persister,
    kill_process,
    mongodb_down,
    run_phase,
    smtp_down,
)

pytestmark = [pytest.mark.integration, pytest.mark.faults]

OUTAGE_S = 60.0


def test_sigkill_of_the_stream_worker_loses_and_doubles_nothing(run: Run) -> None:
    check_phase(run, run_phase(run, kill_process("stream")))


def test_sigkill_of_the_persister_child_is_repaired_by_its_parent(run: Run) -> None:
    check_phase(run, run_phase(run, kill_persister()))


def test_sigkill_of_alerting_sends_every_alert_once(run: Run) -> None:
    check_phase(run, run_phase(run, kill_process("alerting")))


def test_sigkill_of_the_api_leaves_the_pipeline_untouched(run: Run) -> None:
    check_phase(run, run_phase(run, kill_process("api")))


def test_mongodb_down_60s_then_back(run: Run) -> None:
    check_phase(run, run_phase(run, mongodb_down(OUTAGE_S)))


def test_kafka_broker_sigterm_down_60s_then_back(run: Run) -> None:
    check_phase(run, run_phase(run, broker_down(OUTAGE_S, sigkill=False)))


def test_kafka_broker_sigkill_down_60s_then_back(run: Run) -> None:
    check_phase(run, run_phase(run, broker_down(OUTAGE_S, sigkill=True)))


def test_smtp_down_60s_then_back(run: Run) -> None:
    check_phase(run, run_phase(run, smtp_down(OUTAGE_S)))


def test_sigkill_of_the_demo_service_keeps_what_it_answered_a_second_before(run: Run) -> None:
    check_phase(run, run_phase(run, kill_process("demo-app")))
