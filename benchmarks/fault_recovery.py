"""Recovery after each fault at 500 failures/s: backlog drained, overdue alerts sent.

    .venv/bin/python -m benchmarks.fault_recovery [--rate 500] [--outage-s 60] [--faults mongodb-down,...]

The fault suite's pipeline and phases (``tests.faults``): a private broker,
FerretDB and SMTP sink, the four processes under a compose-like supervisor,
bad-token traffic through the demo service from 250 loopback addresses plus
attackers; the faults one after another. For each fault, from the moment the
dependency is back (for a SIGKILL: the killed process, or the persister
child, running again):

* drained: until every failure answered before the return is on the
  failures topic (a host's spool has replayed what it held) and the lag of
  the stream worker's group and of the persister's group (partition end
  minus committed offset, as ``failstream.metrics.consumer_lag`` computes
  it) is back to its level under the same traffic before the fault (the
  groups commit every few seconds, so under traffic the lag is never zero);
  also each group's time to zero lag once traffic has stopped;
* alerts: how long after the return the last overdue alert email (its
  address crossed the threshold before the return) arrived at the SMTP sink;
  and the latest of all the phase's attackers' emails, counted from when it
  was both due and possible (the crossing, or the return if later).

Targets (issue 17): drained within 30 s, overdue alerts within 15 s.
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from pathlib import Path

from confluent_kafka import Consumer, KafkaException, TopicPartition

from failstream.kafka_config import confluent_config
from failstream.metrics.consumer_lag import partition_lag
from failstream.stream_app.persister import persist_group
from tests.faults.conftest import start_run
from tests.faults.expected import KILL_LOSS_MS, emailed_alerts, expect
from tests.faults.pipeline import THRESHOLD, Pipeline
from tests.faults.scenario import (
    Fault,
    Run,
    broker_down,
    kill_persister,
    kill_process,
    mongodb_down,
    run_phase,
    smtp_down,
)
from tests.faults.traffic import client_ips

DRAIN_TARGET_S = 30.0
ALERT_TARGET_S = 15.0


def all_faults(outage_s: float) -> list[Fault]:
    return [
        mongodb_down(outage_s),
        broker_down(outage_s, sigkill=False),
        broker_down(outage_s, sigkill=True),
        smtp_down(outage_s),
        kill_process("stream"),
        kill_persister(),
        kill_process("alerting"),
        kill_process("api"),
        kill_process("demo-app"),
    ]


class LagSampler:
    """Every 0.5 s: each group's lag (summed over partitions) and the failures topic's end offsets.

    Lag as ``failstream.metrics.consumer_lag`` computes it, read with a client
    that never joins the groups and keeps quiet while the broker is away.
    """

    def __init__(self, pipeline: Pipeline) -> None:
        s = pipeline.settings
        self.topic = s.topic_failed_requests
        self.groups = {"stream": s.stream_app_id, "persister": persist_group(s)}
        self._clients = {
            name: Consumer(
                {**confluent_config(s), "group.id": g, "enable.auto.commit": False, "log_level": 0}
            )
            for name, g in self.groups.items()
        }
        # (time, {"stream": lag, "persister": lag}, messages on the failures topic)
        self.samples: list[tuple[float, dict[str, int], int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _read(self) -> tuple[dict[str, int], int]:
        lags, ends = {}, 0
        for name, client in self._clients.items():
            parts = client.list_topics(self.topic, timeout=5).topics[self.topic].partitions
            committed = client.committed([TopicPartition(self.topic, p) for p in parts], timeout=5)
            lags[name], ends = 0, 0
            for tp in committed:
                low, high = client.get_watermark_offsets(TopicPartition(self.topic, tp.partition), timeout=5)
                lags[name] += partition_lag(low, high, tp.offset)
                ends += high
        return lags, ends

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            try:
                lags, ends = self._read()
            except KafkaException:
                continue  # the broker is away: no reading
            self.samples.append((time.time(), lags, ends))

    def first(self, after: float, *, at_most: dict[str, int], ends_at_least: int = 0) -> float | None:
        for t, lags, ends in self.samples:
            if t >= after and ends >= ends_at_least and all(lags[g] <= at_most[g] for g in lags):
                return t
        return None

    def steady(self, start: float, end: float) -> dict[str, int]:
        before = [lags for t, lags, _ in self.samples if start <= t < end]
        return {g: max((lags[g] for lags in before), default=0) for g in self.groups}

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        for client in self._clients.values():
            client.close()


def measure(run: Run, fault: Fault, rate: int) -> str:
    benign = client_ips(1, 250)
    sampler = LagSampler(run.pipeline)
    zeros = {g: 0 for g in sampler.groups}
    try:
        phase = run_phase(run, fault, benign=benign, benign_rate=rate / len(benign))
        deadline = time.time() + 180
        while sampler.first(phase.stopped_at, at_most=zeros) is None and time.time() < deadline:
            time.sleep(0.5)
    finally:
        sampler.close()
    # drained: every failure answered before the return is on the topic (a host's spool has
    # replayed it) and both groups' lag is back to where the same traffic kept it before the fault
    returned_ms = phase.returned_at * 1000
    before_return = len(run.malformed) + sum(
        1
        for answered in run.outcomes.answered.values()
        for _, at in answered
        if at < returned_ms and not any(k - KILL_LOSS_MS <= at <= k for k in run.demo_kills_ms)
    )
    steady = sampler.steady(phase.started_at + 3, phase.fault_at)
    drained = sampler.first(phase.returned_at, at_most=steady, ends_at_least=before_return)
    zero = sampler.first(phase.stopped_at, at_most=zeros)
    zero_by_group = {
        g: next((t for t, lags, _ in sampler.samples if t >= phase.stopped_at and lags[g] == 0), None)
        for g in sampler.groups
    }

    # alerts: each attacker's email, late by how long after it was both due and possible
    # (its crossing of the threshold, or the return if it crossed before)
    expected = expect(run.outcomes, run.demo_kills_ms)
    crossed = {
        ip: sorted(s for s, _ in run.outcomes.answered[ip])[THRESHOLD - 1] / 1000
        for ip in phase.attackers
        if expected.fire[ip]
    }
    arrived: dict[str, float] = {}
    deadline = time.time() + 60
    while set(crossed) - set(arrived) and time.time() < deadline:
        for at, message in run.pipeline.mail.messages():
            for _, subject, state in emailed_alerts([message]):
                if state == "firing":
                    arrived.setdefault(subject, at)
        time.sleep(0.5)
    lateness = {
        ip: arrived[ip] - max(at, phase.returned_at)
        for ip, at in crossed.items()
        if ip in arrived and arrived[ip] >= phase.fault_at  # not sent before the fault hit
    }
    overdue = [ip for ip, at in crossed.items() if at < phase.returned_at and ip in lateness]
    missing = sorted(set(crossed) - set(arrived))

    def since(t: float | None, origin: float) -> str:
        return "never" if t is None else f"{max(t - origin, 0.0):5.1f}s"

    seconds = phase.stopped_at - phase.started_at
    return (
        f"{fault.name:18} {phase.answered / seconds:4.0f}/s answered  "
        f"drained {since(drained, phase.returned_at)} after the return (steady lag {steady})  "
        f"zero lag {since(zero, phase.stopped_at)} after traffic stopped "
        f"({', '.join(f'{g} {since(t, phase.stopped_at).strip()}' for g, t in zero_by_group.items())})  "
        f"alerts: overdue {len(overdue)}, "
        f"last overdue {max((lateness[ip] for ip in overdue), default=0):.1f}s after the return, "
        f"latest of all {max(lateness.values(), default=0):.1f}s after due"
        + (f"  MISSING {missing}" if missing else "")
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rate", type=int, default=500, help="benign failures/s (attackers come on top)")
    ap.add_argument("--outage-s", type=float, default=60)
    ap.add_argument("--faults", default="", help="comma-separated fault names (default: all)")
    args = ap.parse_args()
    faults = all_faults(args.outage_s)
    if args.faults:
        wanted = args.faults.split(",")
        faults = [f for f in faults if f.name in wanted]
    pipeline = Pipeline(Path(tempfile.mkdtemp(prefix="fault-recovery-")))
    try:
        run = start_run(pipeline)
        print(f"pipeline up; logs in {pipeline.group.log_dir}", flush=True)
        for fault in faults:
            print(measure(run, fault, args.rate), flush=True)
    finally:
        pipeline.close()
    print(
        f"targets: drained within {DRAIN_TARGET_S:.0f}s, "
        f"overdue alerts within {ALERT_TARGET_S:.0f}s of the return"
    )


if __name__ == "__main__":
    main()
