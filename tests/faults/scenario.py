"""One fault under traffic, and what the pipeline must show once it is over.

A phase: steady traffic from the benign addresses (each well below the
rule's threshold), malformed messages put on the failures topic, then

* at F-6 s an attacker bursts (far above the threshold; its alert is on its
  way when the fault hits) and at F-2 s a near-miss address sends 3/4 of the
  threshold across the fault (a double count after a crash or a replay
  would make it fire);
* at F the fault; one more attacker bursts while the fault lasts;
* when the dependency is back (or the killed process is up again) a last
  attacker bursts, traffic runs a few seconds more and stops.

Then ``check_phase`` waits for the counts and emails to settle and compares
them with ``expected``. Every address is used by one phase only, except the
benign ones, which send through the whole run.
"""

from __future__ import annotations

import base64
import os
import signal
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import httpx

from failstream.events import DeadLetter
from tests.faults.expected import RULE, Expectation, count_problems, emailed_alerts, expect
from tests.faults.pipeline import THRESHOLD, Exit, Pipeline, answers
from tests.faults.traffic import Outcomes, Traffic, client_ips
from tests.integration.services import wait_until
from tests.integration.stream_app.kafka_io import produce, read_all

#: 120 addresses at 1.75 requests/s: 210 failures/s, ~18 per rule window (threshold 40)
BENIGN_IPS = client_ips(1, 120)
BENIGN_RATE = 1.75
#: an attacker: 60 failures in 4 s; a near miss: 30 in 4 s (3/4 of the threshold)
BURST_S = 4.0
ATTACK_RATE = 15.0
NEAR_MISS_RATE = 7.5
LEAD_S = 8.0
TAIL_S = 10.0


@dataclass
class Fault:
    """``inject`` does the damage; ``restore`` brings the dependency back (or waits for the process)."""

    name: str
    inject: Callable[[Pipeline], None]
    restore: Callable[[Pipeline], None]
    outage_s: float = 0.0  # down this long from the start of ``inject`` before ``restore``
    kills: str = ""  # the top-level service the test kills (its exit is expected)
    during_after_s: float = 1.0  # the attacker during the fault starts this long after it


@dataclass
class Run:
    """Everything a fault run has sent and done so far, across phases."""

    pipeline: Pipeline
    outcomes: Outcomes = field(default_factory=Outcomes)
    malformed: set[bytes] = field(default_factory=set)
    demo_kills_ms: list[int] = field(default_factory=list)
    _attackers: int = 0

    def next_ip(self) -> str:
        self._attackers += 1
        return client_ips(2, self._attackers)[-1]


@dataclass
class Phase:
    fault: Fault
    started_at: float
    fault_at: float
    returned_at: float
    stopped_at: float
    attackers: list[str]
    near_miss: str
    attempts: int
    answered: int
    notes: list[str]  # what did not come back when it should have


def inject_malformed(run: Run, tag: str) -> None:
    values = [f"not json at all {tag}".encode(), f'{{"v": 1, "event_id": "incomplete-{tag}"}}'.encode()]
    produce(
        run.pipeline.settings,
        run.pipeline.settings.topic_failed_requests,
        [(b"malformed", v) for v in values],
    )
    run.malformed.update(values)


def run_phase(
    run: Run, fault: Fault, *, benign: Sequence[str] = BENIGN_IPS, benign_rate: float = BENIGN_RATE
) -> Phase:
    p = run.pipeline
    inject_malformed(run, f"{fault.name}-{time.time_ns()}")
    attempts_before, answered_before = run.outcomes.attempts(), run.outcomes.answered_total()
    traffic = Traffic("127.0.0.1", p.settings.demo_port, run.outcomes).start()
    traffic.steady(benign, benign_rate)
    started = time.time()
    fault_at = started + LEAD_S
    before, near_miss = run.next_ip(), run.next_ip()
    traffic.burst(before, fault_at - 6, BURST_S, ATTACK_RATE)
    traffic.burst(near_miss, fault_at - 2, BURST_S, NEAR_MISS_RATE)
    time.sleep(max(0.0, fault_at - time.time()))
    fault_at = time.time()
    fault.inject(p)
    if fault.kills == "demo-app":
        run.demo_kills_ms.append(int(fault_at * 1000))
    during = run.next_ip()
    traffic.burst(during, fault_at + fault.during_after_s, BURST_S, ATTACK_RATE)
    time.sleep(max(0.0, fault_at + fault.outage_s - time.time()))
    notes = []
    try:
        fault.restore(p)
    except AssertionError as exc:  # traffic goes on; check_phase reports it with what it left behind
        notes.append(str(exc))
    returned_at = time.time()
    after = run.next_ip()
    traffic.burst(after, returned_at + 2, BURST_S, ATTACK_RATE)
    time.sleep(max(TAIL_S, 2 + BURST_S + 2))
    traffic.stop()
    return Phase(
        fault,
        started,
        fault_at,
        returned_at,
        traffic.stopped_at,
        [before, during, after],
        near_miss,
        run.outcomes.attempts() - attempts_before,
        run.outcomes.answered_total() - answered_before,
        notes,
    )


# --- the faults ------------------------------------------------------------


def _back(p: Pipeline, service: str, old_pid: int) -> None:
    wait_until(lambda: p.supervisor.pid(service) != old_pid, 30, f"{service} restarted by its supervisor")
    if service == "demo-app":
        wait_until(lambda: answers(f"{p.demo_url}/healthz"), 60, "the demo service back")
    elif service == "api":
        key = p.settings.api_read_keys[0].get_secret_value()

        def summary_answers() -> bool:
            try:
                url = f"{p.api_url}/api/v1/stats/summary"
                return httpx.get(url, headers={"X-API-Key": key}, timeout=5).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(summary_answers, 60, "the API back, answering stats from MongoDB")
    elif service == "stream":
        wait_until(lambda: p.persister() is not None, 60, "the new worker's persister")


def kill_process(service: str) -> Fault:
    pids: dict[str, int] = {}

    def inject(p: Pipeline) -> None:
        pids[service] = p.supervisor.kill(service)

    return Fault(f"sigkill-{service}", inject, lambda p: _back(p, service, pids[service]), kills=service)


def kill_persister() -> Fault:
    """SIGKILL of the persister child alone: its parent must start a new one (the test never does)."""
    pids: dict[str, int] = {}

    def inject(p: Pipeline) -> None:
        pid = p.persister()
        assert pid is not None, "no persister child to kill"
        pids["persister"], pids["stream"] = pid, p.supervisor.pid("stream")
        os.kill(pid, signal.SIGKILL)

    def restore(p: Pipeline) -> None:
        def restarted() -> bool:
            child = p.persister()
            return child is not None and child != pids["persister"]

        wait_until(restarted, 60, "the stream worker to restart its persister child")

    return Fault("sigkill-persister", inject, restore)


def mongodb_down(seconds: float) -> Fault:
    return Fault(
        "mongodb-down", lambda p: p.mongo.stop(), lambda p: p.mongo.start(), seconds, during_after_s=20
    )


def broker_down(seconds: float, *, sigkill: bool) -> Fault:
    def inject(p: Pipeline) -> None:
        p.broker.kill() if sigkill else p.broker.stop()

    return Fault(
        "kafka-sigkill" if sigkill else "kafka-sigterm",
        inject,
        lambda p: p.broker.start(),
        seconds,
        during_after_s=20,
    )


def smtp_down(seconds: float) -> Fault:
    return Fault("smtp-down", lambda p: p.smtp.stop(), lambda p: p.smtp.start(), seconds, during_after_s=20)


# --- what must hold after each phase -----------------------------------------


def dead_letter_values(run: Run) -> tuple[list[bytes], list[str]]:
    """Original values of the dead letters in MongoDB and on the topic; and dead letters that carry none."""
    values, other = [], []
    for doc in run.pipeline.db.dead_letters.find({}):
        if "value_b64" in doc:
            values.append(base64.b64decode(doc["value_b64"]))
        else:
            other.append(str({k: doc[k] for k in list(doc)[:8]}))
    for _, raw in read_all(run.pipeline.settings, run.pipeline.settings.topic_dead_letters):
        values.append(base64.b64decode(DeadLetter.model_validate_json(raw).value_b64))
    return values, other


def _tail(run: Run, name: str, lines: int = 25) -> str:
    log = run.pipeline.group.log(name).splitlines()
    return f"--- {name}.log (last {lines} lines)\n" + "\n".join(log[-lines:])


def check_phase(run: Run, phase: Phase, *, converge_s: float = 120, alerts_s: float = 60) -> Expectation:
    """Wait for counts and emails to settle, then assert the phase left them exact."""
    p = run.pipeline
    expected = expect(run.outcomes, run.demo_kills_ms)
    problems: list[str] = list(phase.notes)

    # the traffic really was what the issue asks for
    seconds = phase.stopped_at - phase.started_at
    if phase.attempts / seconds < 200:
        problems.append(f"traffic offered only {phase.attempts / seconds:.0f} failures/s")
    if run.outcomes.other_status:
        problems.append(f"answers other than 401: {dict(run.outcomes.other_status)}")
    shaped = set(phase.attackers) | {phase.near_miss}
    if expected.undecidable & shaped:
        problems.append(f"addresses too close to call: {sorted(expected.undecidable & shaped)}")

    # per-IP totals
    try:
        wait_until(lambda: not count_problems(p.stored_totals(), expected), converge_s, "per-IP totals")
    except AssertionError:
        wrong = count_problems(p.stored_totals(), expected)
        shown = dict(list(wrong.items())[:8])
        problems.append(
            f"{len(wrong)} of {len(expected.may_store)} addresses stored outside [must, may] "
            f"{converge_s:.0f}s after traffic stopped, (stored, must, may): {shown}; "
            f"stored {sum(p.stored_totals().values())} of {sum(expected.must_store.values())} answered"
        )

    # emails: wait for every alert that must come, then a little longer for any that must not
    def emailed() -> Counter[str]:
        found = emailed_alerts(m for _, m in p.mail.messages())
        return Counter(subject for _, subject, state in found if state == "firing")

    try:
        wait_until(lambda: not (expected.fire - emailed()), alerts_s, "every alert email due")
    except AssertionError:
        pass
    time.sleep(3)
    alerts = emailed_alerts(m for _, m in p.mail.messages())
    firing = emailed()
    missing = sorted((expected.fire - firing).elements())
    if missing:
        problems.append(f"alert emails missing for {missing}")
    unexpected = sorted(ip for ip in firing if ip in expected.quiet or ip not in expected.may_store)
    if unexpected:
        problems.append(f"alert emails for addresses that never crossed the threshold: {unexpected}")
    twice = {ip: n for ip, n in firing.items() if n > 1}
    if twice:
        problems.append(f"subjects emailed more than once: {twice}")
    other = [a for a in alerts if a[0] != RULE or a[2] != "firing"]
    if other:
        problems.append(f"emails for alerts no rule here should send: {other[:5]}")

    # dead letters: exactly the malformed input, every piece of it
    try:
        wait_until(
            lambda: set(dead_letter_values(run)[0]) >= run.malformed, 30, "malformed input dead-lettered"
        )
    except AssertionError:
        pass
    values, carries_none = dead_letter_values(run)
    if run.malformed - set(values):
        problems.append(f"malformed input not dead-lettered: {sorted(run.malformed - set(values))[:4]}")
    if set(values) - run.malformed or carries_none:
        not_malformed = sorted(set(values) - run.malformed)[:4]
        problems.append(f"dead letters that are not malformed input: {not_malformed} {carries_none[:3]}")

    # every process rode the fault out: none exited but the one the test killed
    exits: list[Exit] = p.supervisor.unexpected_exits(phase.started_at)
    if exits:
        problems.append(
            "processes exited and were restarted by the test's supervisor: "
            + "; ".join(map(str, exits))
            + "\n"
            + "\n".join(_tail(run, e.name) for e in {e.service: e for e in exits}.values())
        )

    stored = p.stored_totals()
    must, may = sum(expected.must_store.values()), sum(expected.may_store.values())
    exits_here = [str(e) for e in p.supervisor.exits if e.at >= phase.started_at]
    print(
        f"{phase.fault.name}: {phase.attempts / seconds:.0f} failures/s sent, {phase.answered} answered, "
        f"fault at +{phase.fault_at - phase.started_at:.1f}s, "
        f"back at +{phase.returned_at - phase.started_at:.1f}s; "
        f"stored {sum(stored.values())} over {len(stored)} addresses (must {must}, may {may}); "
        f"emailed {sorted(firing)}; expected {sorted(expected.fire)}; "
        f"undecidable {sorted(expected.undecidable)}; {len(values)} dead letters; "
        f"exits {exits_here}; logs in {p.group.log_dir}"
    )
    if problems:
        raise AssertionError(
            f"after {phase.fault.name} ({phase.answered} failures answered of {phase.attempts} sent, "
            f"threshold {THRESHOLD}):\n- " + "\n- ".join(problems)
        )
    return expected
