"""A broker that is down is said once, not once per reconnect: librdkafka's own lines stay off stderr.

librdkafka logs every failed connection at level 3 on the process's stderr,
many a second per client. The API's readiness probe and a host's
enforcement feed keep their clients for the process's life, so an outage
filled the API's log, and the host service's, with these lines. Each runs
here in a child process against a loopback port nothing listens on (a real
"connection refused"), and its whole stderr is read.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

from tests.integration.services import free_port

SCRIPT = textwrap.dedent(
    """
    import asyncio, logging, sys, time
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="LOG %(levelname)s %(message)s")
    from failstream.api.readiness import KafkaProbe
    from failstream.producer import enforcement
    from failstream.settings import Settings

    settings = Settings(_env_file=None, kafka_bootstrap_servers="127.0.0.1:{port}", enforce_stale_after_s=1.0)
    print("probe:", asyncio.run(KafkaProbe(settings)()), flush=True)

    enforcement.PROBE_EVERY_S = 0.2

    class Counting(enforcement.DecisionFeed):
        looks = 0

        def _say_reachability(self, now):
            self.looks += 1
            super()._say_reachability(now)

    feed = Counting(settings, enforcement.DecisionTable())
    feed.start()
    deadline = time.monotonic() + 60
    while feed.looks < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    feed.stop(timeout_s=10)
    print("feed looks:", feed.looks, "ready:", feed.ready, flush=True)
    """
)


def test_the_api_probe_and_the_enforcement_feed_report_a_down_broker_once_without_librdkafka_lines() -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT.format(port=free_port())],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "probe: error:" in done.stdout, done.stdout
    assert "ready: False" in done.stdout, done.stdout
    lines = done.stderr.splitlines()
    assert not [line for line in lines if "rdkafka" in line or line.startswith("%")], done.stderr
    looks = int(done.stdout.split("feed looks:")[1].split()[0])
    assert looks >= 3, done.stdout  # the feed looked again after saying so
    said = [line for line in lines if "decisions topic unreachable" in line]
    assert len(said) == 1, done.stderr
    assert said[0].startswith("LOG WARNING") and "enforcement is open" in said[0]
