"""``docs/settings.md``: every setting, by the process that reads it, with its default and why.

An operator configuring one process needs to know which ``FAILSTREAM_*``
variables it reads; the one ``Settings`` class does not say. ``READERS`` does,
per field name prefix or name, and the comment above each field in
``failstream/settings.py`` is its description. The page is generated
(``python -m failstream.settings_reference > docs/settings.md``) and a test
fails when it is stale or when a new setting names no reader.
"""

from __future__ import annotations

import ast
import inspect
import sys
from pathlib import Path

from pydantic import SecretStr
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from failstream import settings as settings_module
from failstream.settings import ROOT, Settings

PROCESSES = {
    "capture": "Capture (the middleware in a host service)",
    "stream": "Stream worker and its persister (`failstream stream`)",
    "alerting": "Alerting (`failstream alerting`)",
    "api": "API and dashboard (`failstream api`)",
    "local": "Local tools (`failstream infra`, `failstream demo`, `failstream demo-app`)",
}

_ALL = ("capture", "stream", "alerting", "api", "local")
_SERVERS = ("stream", "alerting", "api")

#: field name (exact) or prefix ending in "_" -> the processes that read it; the first match wins
READERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("kafka_", _ALL),
    ("topic_failed_requests", ("capture", "stream", "api")),
    ("topic_email_events", ("capture", "stream", "alerting")),
    ("topic_decisions", ("capture", "alerting")),
    ("topic_", _SERVERS),
    ("log_", (*_SERVERS, "local")),
    ("service_name", ("capture",)),
    ("trusted_proxies", ("capture",)),
    ("forwarded_header", ("capture",)),
    ("capture_", ("capture",)),
    ("enforce", ("capture",)),
    ("producer_", ("capture",)),
    ("mongo_", _SERVERS),
    ("failures_retention_days", ("stream",)),
    ("minute_counts_retention_days", ("stream",)),
    ("ip_stats_retention_days", ("stream",)),
    ("dead_letters_retention_days", ("stream",)),
    ("stream_", ("stream",)),
    ("rule_", ("stream",)),
    ("repeat_interval_s", ("stream",)),
    ("grace_s", ("stream",)),
    ("allowlist", ("stream", "alerting")),
    ("smtp_", ("alerting",)),
    ("oncall_recipients", ("alerting",)),
    ("recipients_", ("alerting",)),
    ("group_wait_s", ("alerting",)),
    ("send_attempts", ("alerting",)),
    ("rate_limit_", ("alerting",)),
    ("fence_lease_s", ("alerting",)),
    ("dashboard_url", ("alerting",)),
    ("alerting_", ("alerting",)),
    ("notify_resolved_rules", ("alerting",)),
    ("report_timezone", ("alerting", "api")),
    ("report_", ("alerting",)),
    ("receiver", ("alerting",)),
    ("decision_", ("alerting",)),
    ("silence_max_days", ("api",)),
    ("api_", ("api",)),
    ("demo_", ("local",)),
    ("infra_", ("local",)),
    ("metrics_host", ("stream", "alerting")),
    ("metrics_stream_port", ("stream",)),
    ("metrics_persister_port", ("stream",)),
    ("metrics_alerting_port", ("alerting",)),
    ("metrics_", ("stream", "alerting")),
)


def readers(name: str) -> tuple[str, ...]:
    for key, processes in READERS:
        prefix = key if key.endswith("_") else key + "_"
        if name in (key, key + "s") or name.startswith(prefix):
            return processes
    return ()


def field_comments() -> dict[str, str]:
    """The ``#`` comment lines right above each field of ``Settings``, joined."""
    source = inspect.getsource(settings_module)
    lines = source.splitlines()
    tree = ast.parse(source)
    found: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name == "Settings":
            for item in node.body:
                if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                    above: list[str] = []
                    row = item.lineno - 2
                    while row >= 0 and lines[row].strip().startswith("#"):
                        text = lines[row].strip().lstrip("#:").strip()
                        if not text.startswith("---"):  # a section rule, not a description
                            above.insert(0, text)
                        row -= 1
                    inline = lines[item.lineno - 1].partition("  # ")[2].strip()
                    found[item.target.id] = " ".join([*above, inline]).strip()
    return found


def _default(info: FieldInfo) -> str:
    if info.default_factory is not None:
        return "computed at start-up"
    value = info.default
    if value is PydanticUndefined:
        return "required"
    if isinstance(value, SecretStr) or (
        isinstance(value, tuple | list) and value and isinstance(value[0], SecretStr)
    ):
        return "a development value (secret: set your own)"
    if isinstance(value, Path):
        try:
            return f"`<repo>/{value.relative_to(ROOT)}`"
        except ValueError:
            return f"`{value}`"
    if isinstance(value, tuple | list):
        return "`" + ",".join(map(str, value)) + "`" if value else "empty"
    return f"`{value}`" if value != "" else "empty"


def render() -> str:
    comments = field_comments()
    out = [
        "# Settings by process",
        "",
        "Every setting is an environment variable `FAILSTREAM_<NAME>` (or a line in `.env`).",
        "Generated from `failstream/settings.py` by `python -m failstream.settings_reference`;",
        "a test fails when this page is stale. Kafka settings are read by every process.",
        "",
    ]
    for process, title in PROCESSES.items():
        out += [f"## {title}", "", "| variable | default | what it does |", "|---|---|---|"]
        for name, info in Settings.model_fields.items():
            if process in readers(name):
                what = (comments.get(name) or info.description or "").replace("|", "\\|")
                out.append(f"| `FAILSTREAM_{name.upper()}` | {_default(info)} | {what} |")
        out.append("")
    return "\n".join(out)


if __name__ == "__main__":
    sys.stdout.write(render())
