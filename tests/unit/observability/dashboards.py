"""The Grafana dashboards and their PromQL, read from the JSON files themselves."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from failstream.settings import ROOT

DASHBOARD_DIR = ROOT / "grafana" / "dashboards"


@dataclass(frozen=True)
class PanelQuery:
    dashboard: str
    panel: str
    ref_id: str
    expr: str

    def __str__(self) -> str:
        return f"{self.dashboard} / {self.panel} [{self.ref_id}]: {self.expr}"


def dashboard_files() -> list[Path]:
    return sorted(DASHBOARD_DIR.glob("*.json"))


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    """Every panel, rows' nested panels included."""
    found: list[dict[str, Any]] = []
    for panel in dashboard.get("panels", []):
        found.append(panel)
        found.extend(panel.get("panels", []))
    return found


def panel_queries() -> list[PanelQuery]:
    """Every target expression of every panel of every dashboard file."""
    queries = []
    for path in dashboard_files():
        dashboard = load(path)
        for panel in panels(dashboard):
            for target in panel.get("targets", []):
                queries.append(
                    PanelQuery(dashboard["title"], panel["title"], target["refId"], target["expr"])
                )
    return queries
