"""The dashboards are well-formed Grafana JSON and every query is valid PromQL."""

from __future__ import annotations

import json
import subprocess
from itertools import combinations
from pathlib import Path

import pytest
import yaml

from failstream.infra.debian import ensure_binary
from failstream.infra.prometheus import CONFIG_DIR
from failstream.settings import ROOT
from tests.unit.observability.dashboards import dashboard_files, load, panel_queries, panels

PANEL_TYPES = {"timeseries", "stat", "bargauge", "gauge", "table", "row"}
#: Every panel and query names the dashboard's data source variable, never a uid of one
#: Grafana: so a dashboard imports into any Grafana and still provisions in compose.
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
PROVISIONED_UID = "prometheus"


@pytest.fixture(params=dashboard_files(), ids=lambda p: p.stem)
def dashboard(request: pytest.FixtureRequest) -> dict:
    return load(request.param)


def test_there_are_an_overview_and_a_pipeline_health_dashboard() -> None:
    uids = {load(p)["uid"] for p in dashboard_files()}
    assert {"failstream-overview", "failstream-pipeline-health"} <= uids
    assert len(uids) == len(dashboard_files())


def test_dashboard_has_the_fields_grafana_provisioning_needs(dashboard: dict) -> None:
    for key, kind in (("uid", str), ("title", str), ("schemaVersion", int), ("panels", list), ("time", dict)):
        assert isinstance(dashboard.get(key), kind), key
    assert dashboard["panels"], "a dashboard without panels"
    assert len(dashboard["uid"]) <= 40  # Grafana's limit


def test_panels_have_unique_ids_a_known_type_and_the_datasource_variable(dashboard: dict) -> None:
    ids = [p["id"] for p in panels(dashboard)]
    assert len(ids) == len(set(ids))
    for panel in panels(dashboard):
        assert panel["type"] in PANEL_TYPES, panel["title"]
        if panel["type"] == "row":
            continue
        assert panel["title"].strip()
        assert panel["datasource"] == DATASOURCE, panel["title"]
        targets = panel["targets"]
        assert targets, f"{panel['title']}: no query"
        ref_ids = [t["refId"] for t in targets]
        assert len(ref_ids) == len(set(ref_ids)), panel["title"]
        for target in targets:
            assert target["expr"].strip(), panel["title"]
            assert target.get("datasource", panel["datasource"]) == DATASOURCE, panel["title"]


def test_dashboard_declares_a_prometheus_datasource_variable_and_its_import_input(dashboard: dict) -> None:
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    variable = variables["datasource"]
    assert (variable["type"], variable["query"]) == ("datasource", "prometheus")
    # no fixed current value: provisioned, it resolves to the default Prometheus data source
    assert not variable.get("current")
    ds_input = {i["name"]: i for i in dashboard["__inputs"]}["DS_PROMETHEUS"]
    assert (ds_input["type"], ds_input["pluginId"]) == ("datasource", "prometheus")


def test_dashboard_names_no_fixed_datasource_anywhere(dashboard: dict) -> None:
    """Annotations, variables and nested rows included; ``${DS_PROMETHEUS}`` too, since file
    provisioning would leave it unreplaced (only the import dialog fills ``__inputs`` in)."""

    def datasources(node: object) -> list[object]:
        if isinstance(node, dict):
            found = [node["datasource"]] if "datasource" in node else []
            return found + [d for v in node.values() for d in datasources(v)]
        if isinstance(node, list):
            return [d for v in node for d in datasources(v)]
        return []

    used = datasources(dashboard)
    assert used, "no datasource at all"
    assert all(d == DATASOURCE for d in used), [d for d in used if d != DATASOURCE]
    assert "DS_PROMETHEUS}" not in json.dumps(dashboard)


def test_panels_fit_the_24_column_grid_without_overlapping(dashboard: dict) -> None:
    boxes = []
    for panel in panels(dashboard):
        g = panel["gridPos"]
        assert g["w"] > 0 and g["h"] > 0 and g["x"] >= 0 and g["y"] >= 0, panel["title"]
        assert g["x"] + g["w"] <= 24, panel["title"]
        boxes.append((panel["title"], g))
    for (a, ga), (b, gb) in combinations(boxes, 2):
        apart = (
            ga["x"] + ga["w"] <= gb["x"]
            or gb["x"] + gb["w"] <= ga["x"]
            or ga["y"] + ga["h"] <= gb["y"]
            or gb["y"] + gb["h"] <= ga["y"]
        )
        assert apart, f"{a!r} overlaps {b!r}"


def test_no_query_groups_by_an_unbounded_label() -> None:
    for query in panel_queries():
        for label in ("ip", "client_ip", "path", "event_id", "request_id", "alert_key"):
            assert f"{label}}}" not in query.expr and f"({label})" not in query.expr, str(query)


def test_every_panel_query_is_valid_promql(tmp_path: Path) -> None:
    """promtool parses each query (as a recording rule): a typo fails here, not on a wall screen."""
    queries = panel_queries()
    rules = {
        "groups": [
            {
                "name": "dashboard-queries",
                "rules": [{"record": f"dashboard:query_{i}", "expr": q.expr} for i, q in enumerate(queries)],
            }
        ]
    }
    path = tmp_path / "dashboard_queries.yml"
    path.write_text(yaml.safe_dump(rules))
    promtool = ensure_binary("promtool", "prometheus")
    result = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(queries)} rules found" in result.stdout


def test_grafana_provisioning_points_the_dashboards_at_the_prometheus_datasource() -> None:
    datasources = yaml.safe_load((ROOT / "grafana/provisioning/datasources/prometheus.yml").read_text())
    (source,) = datasources["datasources"]
    assert (source["uid"], source["type"]) == (PROVISIONED_UID, "prometheus")
    assert source["isDefault"] is True  # what the dashboards' ${datasource} variable picks
    providers = yaml.safe_load((ROOT / "grafana/provisioning/dashboards/failstream.yml").read_text())
    assert providers["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"


def test_compose_runs_prometheus_and_grafana_with_this_provisioning() -> None:
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    prometheus_mounts = services["prometheus"]["volumes"]
    assert "./prometheus/prometheus.yml:/etc/prometheus/prometheus.yml:ro" in prometheus_mounts
    assert "./prometheus/rules:/etc/prometheus/rules:ro" in prometheus_mounts
    grafana_mounts = services["grafana"]["volumes"]
    assert "./grafana/provisioning:/etc/grafana/provisioning:ro" in grafana_mounts
    assert "./grafana/dashboards:/var/lib/grafana/dashboards:ro" in grafana_mounts
    assert (CONFIG_DIR / "prometheus.yml").is_file()
