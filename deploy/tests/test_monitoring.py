"""No panel or alert on a metric that does not exist: every metric the dashboard and the alert
rules query is one our services export (read off a running suite: metrics/services.txt, kept
honest by `just test`), one daprd exports (Dapr v1.18.3's own source), one the kubelet's
cAdvisor exports (its own table), or one Prometheus adds to every scrape. And the scrape
configs select what the chart deploys."""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path

import pytest

from conftest import REPO, app_ids, by_kind, dapr_dir, environment_path, load_yaml_documents, render, workloads
from metric_names import (
    cadvisor_metric_names, daprd_metric_names, prometheus_synthetic_names, promql_metric_names, read_services_list,
)

MONITORING = REPO / "deploy/monitoring"


def rules() -> list[dict]:
    [rule_object] = load_yaml_documents(MONITORING / "prometheus-rules.yaml")
    return [rule for group in rule_object["spec"]["groups"] for rule in group["rules"]]


def dashboard() -> dict:
    return json.loads((MONITORING / "grafana/todo-suite.json").read_text())


def dashboard_queries() -> list[tuple[str, str]]:
    """(where, PromQL) for every panel target and templating query."""
    queries = []
    def visit(panels):
        for panel in panels:
            for target in panel.get("targets", []):
                queries.append((f"panel {panel['title']!r}", target["expr"]))
            visit(panel.get("panels", []))
    visit(dashboard()["panels"])
    for variable in dashboard()["templating"]["list"]:
        if variable["type"] == "query":
            query = variable["query"]["query"] if isinstance(variable["query"], dict) else variable["query"]
            queries.append((f"variable {variable['name']}", query))
    return queries


@cache
def known_metrics() -> dict[str, str]:
    """metric name -> where it comes from."""
    known = {}
    for name, family in read_services_list().items():
        for sample in family.sample_names(name):
            known[sample] = f"our services ({','.join(sorted(family.apps))})"
    for name in daprd_metric_names(dapr_dir()):
        known.setdefault(name, "daprd")
    for name in cadvisor_metric_names(environment_path("TODO_CADVISOR_DIR", "github.com/google/cadvisor's metric table")):
        known.setdefault(name, "cAdvisor")
    for name in prometheus_synthetic_names(environment_path("TODO_PROMETHEUS_DIR", "github.com/prometheus/prometheus")):
        known.setdefault(name, "Prometheus")
    for rule in rules():
        if "record" in rule:
            known.setdefault(rule["record"], "a recording rule")
    return known


def test_the_sources_of_metric_names_are_read():
    known = known_metrics()
    for name, source in {
        "todo_grpc_server_handled_total": "our services",
        "todo_notification_reminder_lateness_seconds_bucket": "our services",
        "dapr_component_pubsub_ingress_count": "daprd",
        "dapr_component_state_latencies_bucket": "daprd",
        "container_memory_working_set_bytes": "cAdvisor",
        "up": "Prometheus",
    }.items():
        assert known.get(name, "").startswith(source), f"{name}: {known.get(name)}"


def test_promql_names_are_read_as_prometheus_would():
    expr = 'histogram_quantile(0.99, sum by (app, le) (rate(a_seconds_bucket{x="b", y=~"c|d"}[5m]))) / on (app) group_left b_total > bool 1 and label_values(c_total, namespace)'
    assert promql_metric_names(expr) == {"a_seconds_bucket", "b_total", "c_total"}


@pytest.mark.parametrize("source", ["rules", "dashboard"])
def test_every_queried_metric_is_exported(source):
    queries = (
        [(rule.get("alert") or rule["record"], rule["expr"]) for rule in rules()]
        if source == "rules" else dashboard_queries()
    )
    assert queries
    missing = []
    for where, expr in queries:
        for name in sorted(promql_metric_names(expr)):
            if name not in known_metrics():
                missing.append(f"{where}: {name}")
    assert not missing, "queried but exported by nothing we run:\n" + "\n".join(missing)


def test_the_listed_metrics_are_still_in_the_code():
    """services.txt is refreshed from a running suite; between refreshes, a metric renamed in the
    code fails here already."""
    declared = set()
    for path in list((REPO / "services").rglob("*.rs")) + list((REPO / "libs").rglob("*.rs")):
        declared |= set(re.findall(r'pub const [A-Z_]+: &str = "(todo_[a-z0-9_]+)";', path.read_text()))
    listed = set(read_services_list())
    assert listed - declared == set(), f"listed but declared nowhere: {sorted(listed - declared)}"


def test_the_alerts_the_issue_asks_for_exist():
    alerts = {rule["alert"]: rule for rule in rules() if "alert" in rule}
    for alert in ("TodoSuiteHighErrorRate", "TodoSuiteHighLatency", "TodoSuiteDeadLetterTraffic",
                  "TodoSuiteRemindersLate", "TodoSuiteSidecarDown"):
        assert alert in alerts
    for name, rule in alerts.items():
        assert rule["labels"]["severity"] in ("warning", "critical"), name
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], name


def test_the_dashboard_covers_what_the_issue_asks_for():
    board = dashboard()
    assert board["uid"] == "todo-suite"
    titles, ids = [], []
    def visit(panels):
        for panel in panels:
            titles.append(panel["title"])
            ids.append(panel["id"])
            if panel["type"] != "row":
                assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
            visit(panel.get("panels", []))
    visit(board["panels"])
    assert len(ids) == len(set(ids)), "panel ids repeat"
    queried = set().union(*(promql_metric_names(expr) for _, expr in dashboard_queries()))
    for metric in ("todo_grpc_server_handled_total", "todo_grpc_server_handling_seconds_bucket",
                   "dapr_component_pubsub_egress_count", "dapr_component_pubsub_ingress_count",
                   "todo_notification_reminder_lateness_seconds_bucket", "todo_sync_active_watchers",
                   "dapr_component_state_latencies_bucket", "container_cpu_usage_seconds_total",
                   "container_memory_working_set_bytes"):
        assert metric in queried, f"no panel on {metric}"


def test_the_pod_monitors_select_the_charts_pods_and_ports():
    monitors = {m["metadata"]["name"]: m for m in load_yaml_documents(MONITORING / "podmonitors.yaml")}
    injector_consts = (dapr_dir() / "pkg/injector/consts/consts.go").read_text()
    daprd_metrics_port = re.search(r'SidecarMetricsPortName\s*=\s*"([^"]+)"', injector_consts).group(1)
    expected_ports = {"todo-suite-apps": "admin", "todo-suite-sidecars": daprd_metrics_port}
    for target in ("minikube", "gke"):
        pods = {name: w["spec"]["template"] for name, w in workloads(render(target)).items()}
        assert sorted(pods) == sorted(app_ids())
        for name, monitor in monitors.items():
            selector = monitor["spec"]["selector"]["matchLabels"]
            [endpoint] = monitor["spec"]["podMetricsEndpoints"]
            assert endpoint["port"] == expected_ports[name]
            jobs = [r["replacement"] for r in endpoint["relabelings"] if r.get("targetLabel") == "job"]
            assert jobs == [name], f"{name} does not name its job {name}: the rules select by it"
            for app, pod in pods.items():
                labels = pod["metadata"]["labels"]
                assert all(labels.get(k) == v for k, v in selector.items()), f"{name} does not select {app}"
                if endpoint["port"] == "admin":
                    assert "admin" in {p["name"] for p in pod["spec"]["containers"][0]["ports"]}
                else:
                    assert pod["metadata"]["annotations"]["dapr.io/enable-metrics"] == "true"
                    assert pod["metadata"]["annotations"]["dapr.io/metrics-port"] == "9090"
    rule_text = (MONITORING / "prometheus-rules.yaml").read_text()
    for name in monitors:
        assert f'job="{name}"' in rule_text


def test_the_chart_lets_prometheus_scrape_both_ports():
    for policy in by_kind(render("gke"), "NetworkPolicy").values():
        scrape_rules = [rule for rule in policy["spec"]["ingress"] if {"port": 9464, "protocol": "TCP"} in rule["ports"]]
        assert scrape_rules and {"port": 9090, "protocol": "TCP"} in scrape_rules[0]["ports"], policy["metadata"]["name"]
