"""One pipeline for the whole fault suite, rebuilt only after a fault left it broken.

The faults run one after another on one pipeline (starting a broker, a
FerretDB and four processes per fault would cost minutes). A fault whose test
failed (or failed as expected) may have left the pipeline broken, say a dead
persister, so the next test gets a new pipeline instead of inheriting that
damage: each test's verdict is about its own fault.
"""

from __future__ import annotations

import time
from collections.abc import Generator, Iterator
from typing import Any

import pytest

from tests.faults.pipeline import Pipeline
from tests.faults.scenario import Run
from tests.faults.traffic import Traffic, client_ips
from tests.integration.services import wait_until


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Generator[None, Any, None]:
    outcome = yield
    report = outcome.get_result()
    if report.when == "call":
        item.stash[CALL_REPORT] = report


CALL_REPORT = pytest.StashKey[pytest.TestReport]()


def start_run(pipeline: Pipeline) -> Run:
    """Start the pipeline and prove the whole path works before any fault: requests to stored counts."""
    pipeline.start()
    run = Run(pipeline)
    traffic = Traffic("127.0.0.1", pipeline.settings.demo_port, run.outcomes).start()
    traffic.burst(client_ips(3, 1)[0], time.time(), 2, 5)
    time.sleep(2.5)
    traffic.stop()
    warmup = {ip: len(sent) for ip, sent in run.outcomes.answered.items()}
    assert warmup, "the demo service answered no warm-up request"
    wait_until(lambda: pipeline.stored_totals() == warmup, 120, "the warm-up failures stored")
    return run


class Runs:
    def __init__(self, factory: pytest.TempPathFactory) -> None:
        self.factory = factory
        self.current: Run | None = None
        self.broken = False

    def get(self) -> Run:
        if self.current is not None and self.broken:
            self.close()
        if self.current is None:
            pipeline = Pipeline(self.factory.mktemp("faults"))
            try:
                self.current = start_run(pipeline)
            except BaseException:
                pipeline.close()
                raise
            self.broken = False
        return self.current

    def close(self) -> None:
        if self.current is not None:
            self.current.pipeline.close()
            self.current = None


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runs]:
    holder = Runs(tmp_path_factory)
    yield holder
    holder.close()


@pytest.fixture
def run(runs: Runs, request: pytest.FixtureRequest) -> Iterator[Run]:
    current = runs.get()
    yield current
    report = request.node.stash.get(CALL_REPORT, None)
    if report is None or not report.passed:  # an xfail is reported as skipped: rebuilt as well
        runs.broken = True
