"""infra build steps: a build tool's own output goes to its log file, not to `make demo`'s terminal."""

from __future__ import annotations

from pathlib import Path

import pytest

from failstream.infra.process import InfraError, run_step


def test_a_logged_step_writes_only_what_it_does_to_the_terminal(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "logs" / "build.log"
    run_step(["sh", "-c", "printf '\\033[0mcolour\\n'; echo noise >&2"], what="building x", log=log)
    out, err = capfd.readouterr()
    assert out == f"[infra] building x; output in {log}\n" and err == ""
    assert log.read_text() == "\033[0mcolour\nnoise\n"
    assert log.stat().st_mode & 0o777 == 0o600


def test_a_failed_logged_step_says_why_with_the_end_of_its_log(tmp_path: Path) -> None:
    log = tmp_path / "build.log"
    with pytest.raises(InfraError, match=r"(?s)building x failed \(exit 3\).*no such artifact"):
        run_step(["sh", "-c", "echo no such artifact; exit 3"], what="building x", log=log)
