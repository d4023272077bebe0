"""Metric names: what a Prometheus exposition holds, what a PromQL expression queries, and where
the names our dashboards and alerts may use come from (our services, daprd, cAdvisor, Prometheus).
Used by test_monitoring.py and live_metrics.py."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SERVICES_LIST = REPO / "deploy/monitoring/metrics/services.txt"

# Suffixes a histogram's or summary's samples add to the family name.
_SUFFIXES = {"histogram": ("_bucket", "_sum", "_count"), "summary": ("", "_sum", "_count")}


@dataclass
class Family:
    """A metric family: its type and the apps seen exporting it."""

    kind: str
    apps: set[str] = field(default_factory=set)

    def sample_names(self, name: str) -> set[str]:
        """The names its samples carry."""
        return {name + suffix for suffix in _SUFFIXES.get(self.kind, ("",))}


def parse_scrape(text: str) -> dict[str, Family]:
    """Families of a scrape written by grpcurl-smoke.sh (`<app>\\t<exposition line>` a line)."""
    families: dict[str, Family] = {}
    sampled: dict[str, set[str]] = {}
    for line in text.splitlines():
        if "\t" not in line:
            continue
        app, line = line.split("\t", 1)
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(None, 3)
            families.setdefault(name, Family(kind.strip())).apps.add(app)
        elif line and not line.startswith("#"):
            sampled.setdefault(re.split(r"[{\s]", line, maxsplit=1)[0], set()).add(app)
    # A family counts only if a sample of it was there (a described, never-recorded metric is
    # not exported).
    for name, family in list(families.items()):
        if not family.sample_names(name) & set(sampled):
            del families[name]
    return families


def read_services_list(path: Path = SERVICES_LIST) -> dict[str, Family]:
    """deploy/monitoring/metrics/services.txt: `<family> <type> <app>,<app>...` a line."""
    families = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, kind, apps = line.split()
            families[name] = Family(kind, set(apps.split(",")))
    return families


def format_services_list(families: dict[str, Family]) -> str:
    """The text of services.txt for `families`."""
    header = (
        "# The metric families our services export, read off a running suite's /metrics (every\n"
        "# app's admin port, after scripts/grpcurl-smoke.sh drove all six): <family> <type> <apps>.\n"
        "# `just test` checks it against a fresh scrape (deploy/tests/live_metrics.py --check);\n"
        "# after changing a metric, refresh it with `deploy/tests/live_metrics.py --update SCRAPE`.\n"
    )
    lines = [f"{name} {family.kind} {','.join(sorted(family.apps))}" for name, family in sorted(families.items())]
    return header + "\n".join(lines) + "\n"


# --- PromQL -----------------------------------------------------------------------------------

_KEYWORDS = {
    "and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right",
    "bool", "offset", "inf", "nan", "atan2", "start", "end",
}


def promql_metric_names(expr: str) -> set[str]:
    """The metric names `expr` selects (Grafana's label_values(metric, label) included)."""
    names = set(re.findall(r"label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*,", expr))
    expr = re.sub(r"label_values\([^)]*\)", " ", expr)
    expr = re.sub(r'"(\\.|[^"\\])*"|\'(\\.|[^\'\\])*\'|`[^`]*`', '""', expr)
    expr = re.sub(r"\{[^}]*\}", " ", expr)
    expr = re.sub(r"\[[^\]]*\]", " ", expr)
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", expr)
    for match in re.finditer(r"(?<![\w$.])([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?", expr):
        name, call = match.group(1), match.group(2)
        if call or name.lower() in _KEYWORDS:
            continue
        names.add(name)
    return names


# --- where names come from ---------------------------------------------------------------------

def daprd_metric_names(dapr_dir: Path) -> set[str]:
    """Every metric daprd can export, from Dapr's own source (pkg/diagnostics): each OpenCensus
    measure `x/y.z` is exported as `dapr_x_y_z` (reference/dapr.md §9), and a distribution also
    as `_bucket`, `_sum` and `_count`."""
    names = set()
    for source in (dapr_dir / "pkg/diagnostics").glob("*.go"):
        if source.name.endswith("_test.go"):
            continue
        for measure in re.findall(r'stats\.(?:Int64|Float64)\(\s*"([^"]+)"', source.read_text()):
            base = "dapr_" + re.sub(r"[/.]", "_", measure)
            names |= {base, base + "_bucket", base + "_sum", base + "_count"}
    return names


def cadvisor_metric_names(cadvisor_dir: Path) -> set[str]:
    """The container metrics the kubelet's cAdvisor exports, from cAdvisor's own table
    (docs/storage/prometheus.md)."""
    table = (cadvisor_dir / "docs/storage/prometheus.md").read_text()
    return set(re.findall(r"^`(container_[a-z0-9_]+)`", table, flags=re.MULTILINE))


def prometheus_synthetic_names(prometheus_dir: Path) -> set[str]:
    """The series Prometheus adds to every scrape (`up`, `scrape_*`), from its source."""
    source = (prometheus_dir / "scrape/scrape.go").read_text()
    return set(re.findall(r'name:\s*\[\]byte\("([a-z_]+)"', source))
