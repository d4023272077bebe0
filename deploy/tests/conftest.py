"""Shared fixtures of the Kubernetes checks (`just check-k8s` runs them with the venv's pytest).

The real tools and sources come from the environment `just check-k8s` sets:
TODO_HELM (helm built from helm.sh/helm/v4), TODO_DAPR_DIR (github.com/dapr/dapr@v1.18.3 in the
Go module cache: its CRDs, injector, metrics), TODO_COMPONENTS_CONTRIB_DIR (components-contrib
v1.18.4: every component's metadata.yaml), TODO_CADVISOR_DIR and TODO_PROMETHEUS_DIR (metric
names), TODO_KUBERNETES_VALIDATE (the venv's kubernetes-validate).
"""

from __future__ import annotations

import functools
import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "helm/todo-suite"
NAMESPACE = "todo-suite"
# The values files the chart is checked with: its defaults, and each target's.
TARGETS = {
    "defaults": [],
    "minikube": [CHART / "values-minikube.yaml"],
    "gke": [CHART / "values-gke.yaml"],
}


def environment_path(name: str, what: str) -> Path:
    """The path in environment variable `name`, which `just check-k8s` sets."""
    value = os.environ.get(name)
    if not value:
        pytest.fail(f"{name} is not set: run these tests through `just check-k8s` ({what})", pytrace=False)
    path = Path(value)
    if not path.exists():
        pytest.fail(f"{name}={value} does not exist ({what})", pytrace=False)
    return path


def helm() -> Path:
    return environment_path("TODO_HELM", "helm built from helm.sh/helm/v4 by tools/go-tool.sh")


def dapr_dir() -> Path:
    return environment_path("TODO_DAPR_DIR", "github.com/dapr/dapr@v1.18.3 in the Go module cache")


def components_contrib_dir() -> Path:
    return environment_path("TODO_COMPONENTS_CONTRIB_DIR", "github.com/dapr/components-contrib@v1.18.4")


def run(command: list[str | Path], **kwargs) -> subprocess.CompletedProcess:
    """Runs `command`, capturing its output as text."""
    return subprocess.run([str(part) for part in command], capture_output=True, text=True, **kwargs)


def helm_template_command(values_files=(), sets=(), namespace=NAMESPACE) -> list:
    command = [helm(), "template", "todo-suite", CHART, "--namespace", namespace]
    for values_file in values_files:
        command += ["--values", values_file]
    for assignment in sets:
        command += ["--set", assignment]
    return command


@functools.cache
def render(target: str = "defaults", sets: tuple[str, ...] = (), namespace: str = NAMESPACE) -> tuple[dict, ...]:
    """The objects `helm template` renders for a target (and extra --set assignments)."""
    result = run(helm_template_command(TARGETS[target], sets, namespace))
    if result.returncode != 0:
        pytest.fail(f"helm template ({target}, {sets}) failed:\n{result.stderr}", pytrace=False)
    return tuple(doc for doc in yaml.safe_load_all(result.stdout) if doc)


def by_kind(objects, kind: str) -> dict[str, dict]:
    return {obj["metadata"]["name"]: obj for obj in objects if obj["kind"] == kind}


def workloads(objects) -> dict[str, dict]:
    """The Deployments and StatefulSets, by name."""
    return {**by_kind(objects, "Deployment"), **by_kind(objects, "StatefulSet")}


# --- facts read off the code ------------------------------------------------------------------

@functools.cache
def app_ids() -> tuple[str, ...]:
    """The suite's apps, as dapr.yaml (the run file `just up` starts) names them."""
    return tuple(app["appID"] for app in yaml.safe_load((REPO / "dapr.yaml").read_text())["apps"])


def rust_source(path: Path) -> str:
    """A Rust file without its `#[cfg(test)]` module (tests may name anything)."""
    text = path.read_text()
    return text.split("#[cfg(test)]", 1)[0]


def service_sources(app: str) -> str:
    return "\n".join(rust_source(path) for path in sorted((REPO / "services" / app / "src").rglob("*.rs")))


@functools.cache
def default_app_port(app: str) -> int:
    """The app port a service listens on by default (its config.rs)."""
    match = re.search(r"pub const DEFAULT_APP_PORT: u16 = (\d+);", (REPO / "services" / app / "src/config.rs").read_text())
    assert match, f"services/{app}/src/config.rs has no DEFAULT_APP_PORT"
    return int(match.group(1))


@functools.cache
def admin_port() -> int:
    """The admin port every service serves /metrics, /healthz and /readyz on."""
    match = re.search(r"pub const DEFAULT_ADMIN_PORT: u16 = (\d+);", (REPO / "libs/telemetry/src/admin.rs").read_text())
    assert match, "libs/telemetry/src/admin.rs has no DEFAULT_ADMIN_PORT"
    return int(match.group(1))


def load_yaml_documents(path: Path) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
