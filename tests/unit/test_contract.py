"""The server parts agree with the capture through the shared contract, never through its internals.

Parsed, not imported: an import inside a function counts as much as one at
the top. Two modules outside the capture library may use it on purpose:
``failstream/cli.py`` serves the demo host app (``failstream demo-app``),
which is a capture user like any host service, and ``failstream/doctor.py``
explains the capture's Kafka errors with the capture's own table.
"""

from __future__ import annotations

import ast
from pathlib import Path

from failstream.settings import ROOT

PACKAGE = ROOT / "failstream"
CAPTURE = "failstream.producer"
#: server packages: none of their modules imports the capture library
SERVER_PARTS = ("stream_app", "alerting", "api", "decisions")
#: the capture's deliberate users outside it (see the module docstring)
ALLOWED = {"cli.py", "doctor.py"}


def _capture_imports(path: Path, root: Path = ROOT) -> list[str]:
    found: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
        else:
            continue
        found += [f"{path.relative_to(root)}:{node.lineno} {name}" for name in names if _is_capture(name)]
    return sorted(set(found))


def _is_capture(name: str) -> bool:
    return name == CAPTURE or name.startswith(CAPTURE + ".")


def _modules_outside_the_capture() -> list[Path]:
    return [
        p
        for p in PACKAGE.rglob("*.py")
        if p.relative_to(PACKAGE).parts[0] != "producer" and str(p.relative_to(PACKAGE)) not in ALLOWED
    ]


def test_no_server_part_imports_the_capture_library() -> None:
    modules = [p for part in SERVER_PARTS for p in (PACKAGE / part).rglob("*.py")]
    assert len(modules) > 100  # the walk found the packages
    assert [hit for p in modules for hit in _capture_imports(p)] == []


def test_shared_modules_import_no_capture_internals_either() -> None:
    """Settings, the contract, Kafka config: what every server process imports."""
    assert [hit for p in _modules_outside_the_capture() for hit in _capture_imports(p)] == []


def test_the_check_finds_every_spelling_of_a_capture_import(tmp_path: Path) -> None:
    source = tmp_path / "probe.py"
    source.write_text(
        "import failstream.producer.sink\n"
        "from failstream.producer import events\n"
        "from failstream import producer\n"
        "from failstream import events as contract\n"
        "def later():\n"
        "    from failstream.producer.sink import KafkaSink\n"
    )
    hits = _capture_imports(source, tmp_path)
    assert {int(h.split(" ")[0].split(":")[1]) for h in hits} == {1, 2, 3, 6}
