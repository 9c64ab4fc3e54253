"""Recovery after each fault at 500 failures/s: backlog drained, overdue alerts sent.

    .venv/bin/python -m benchmarks.fault_recovery [--rate 500] [--outage-s 60] [--faults mongodb-down,...]

The fault suite's pipeline and phases (``tests.faults``): a private broker,
FerretDB and SMTP sink, the four processes under a compose-like supervisor,
bad-token traffic through the demo service from 250 loopback addresses plus
attackers; the faults one after another. For each fault, from the moment the
dependency is back (for a SIGKILL: the killed process, or the persister
child, running again):

* drained: until the lag of the stream worker's group and of the persister's
  group (partition end minus committed offset, read as
  ``failstream.metrics.consumer_lag`` reads it) is back to its level under
  the same traffic before the fault (Faust commits every few seconds, so
  under traffic the lag is never exactly zero); also the time to zero lag
  once traffic has stopped;
* alerts: until the last overdue alert email arrived at the SMTP sink (an
  alert is overdue when its address crossed the threshold before the return).

Targets (issue 17): drained within 30 s, overdue alerts within 15 s.
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from pathlib import Path

from confluent_kafka import KafkaException

from failstream.metrics.consumer_lag import ConsumerLagReader
from stream_app.persister import persist_group
from tests.faults.conftest import start_run
from tests.faults.expected import emailed_alerts, expect
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
    """The stream worker's and the persister's group lag, summed over partitions, every 0.5 s."""

    def __init__(self, pipeline: Pipeline) -> None:
        s = pipeline.settings
        topics = [s.topic_failed_requests, s.topic_email_events]
        self.readers = [ConsumerLagReader(s, g, topics) for g in (s.stream_app_id, persist_group(s))]
        self.samples: list[tuple[float, int]] = []  # (time, the larger of the two groups' lag)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            try:
                lag = max(sum(r.read().values()) for r in self.readers)
            except KafkaException:
                continue  # the broker is away: no reading
            self.samples.append((time.time(), lag))

    def first(self, after: float, at_most: int) -> float | None:
        return next((t for t, lag in self.samples if t >= after and lag <= at_most), None)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=20)
        for r in self.readers:
            r.close()


def measure(run: Run, fault: Fault, rate: int) -> str:
    benign = client_ips(1, 250)
    sampler = LagSampler(run.pipeline)
    try:
        phase = run_phase(run, fault, benign=benign, benign_rate=rate / len(benign))
        deadline = time.time() + 180
        while sampler.first(phase.stopped_at, 0) is None and time.time() < deadline:
            time.sleep(0.5)
    finally:
        sampler.close()
    before = [lag for t, lag in sampler.samples if phase.started_at + 3 <= t < phase.fault_at]
    steady = max(before, default=0)
    drained = sampler.first(phase.returned_at, steady)
    zero = sampler.first(phase.stopped_at, 0)

    expected = expect(run.outcomes, run.demo_kills_ms)
    crossed = {
        ip: sorted(s for s, _ in run.outcomes.answered[ip])[THRESHOLD - 1]
        for ip in phase.attackers
        if expected.fire[ip]
    }
    overdue = {ip for ip, at_ms in crossed.items() if at_ms / 1000 < phase.returned_at}
    arrived: dict[str, float] = {}
    deadline = time.time() + 60
    while overdue - set(arrived) and time.time() < deadline:
        for at, message in run.pipeline.mail.messages():
            for _, subject, state in emailed_alerts([message]):
                if state == "firing":
                    arrived.setdefault(subject, at)
        time.sleep(0.5)
    overdue -= {ip for ip, at in arrived.items() if at < phase.fault_at}  # sent before the fault hit
    last = max((arrived[ip] for ip in overdue if ip in arrived), default=None)
    missing = sorted(overdue - set(arrived))

    def since_return(t: float | None) -> str:
        return "never" if t is None else f"{max(t - phase.returned_at, 0.0):5.1f}s"

    seconds = phase.stopped_at - phase.started_at
    return (
        f"{fault.name:18} {phase.answered / seconds:5.0f}/s answered  "
        f"drained {since_return(drained)} (to steady lag {steady})  "
        f"zero lag {max((zero or 0) - phase.stopped_at, 0):4.1f}s after traffic stopped  "
        f"overdue alerts {len(overdue)}, last {since_return(last)}"
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
