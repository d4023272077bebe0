"""The deployment scripts' --dry-run: each runs, prints every command it would run, and runs
none (gcloud, kubectl, helm, minikube and npm are shims here that record any call and fail)."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import pytest

from conftest import REPO, app_ids, run

SHIMMED = ["gcloud", "kubectl", "helm", "minikube", "npm", "docker"]


@pytest.fixture
def shims(tmp_path) -> tuple[dict, Path]:
    """An environment whose PATH has recording, failing shims of the cloud tools."""
    calls = tmp_path / "calls"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in SHIMMED:
        shim = bin_dir / tool
        shim.write_text(f'#!/bin/sh\necho "{tool} $*" >> "{calls}"\nexit 1\n')
        shim.chmod(shim.stat().st_mode | stat.S_IEXEC)
    env = dict(os.environ, PATH=f"{bin_dir}:/usr/bin:/bin")
    return env, calls


def dry_run(script: str, args: list[str], shims) -> str:
    env, calls = shims
    result = run([REPO / script, *args, "--dry-run"], env=env, cwd=REPO)
    assert result.returncode == 0, f"{script} --dry-run failed:\n{result.stdout}{result.stderr}"
    assert not calls.exists(), f"{script} --dry-run ran commands:\n{calls.read_text()}"
    return result.stdout


def commands(output: str) -> list[str]:
    return [line[2:] for line in output.splitlines() if line.startswith("+ ")]


def test_provision_dry_run_prints_every_step(shims):
    output = dry_run("deploy/gke/provision.sh", ["--project", "demo-project", "--github-repo", "acme/todo-suite"], shims)
    printed = "\n".join(commands(output))
    for expected in [
        "gcloud services enable container.googleapis.com artifactregistry.googleapis.com",
        "gcloud artifacts repositories create todo-suite --location europe-west1 --repository-format docker",
        "gcloud iam workload-identity-pools create github",
        "gcloud iam workload-identity-pools providers create-oidc github-actions",
        "assertion.repository\\ ==\\ \\'acme/todo-suite\\'",
        "--role roles/iam.workloadIdentityUser --member principalSet://iam.googleapis.com/projects/PROJECT_NUMBER/locations/global/workloadIdentityPools/github/attribute.repository/acme/todo-suite",
        "gcloud container clusters create todo-suite --location europe-west1",
        "--workload-pool demo-project.svc.id.goog",
        "--enable-dataplane-v2",
        "gcloud sql instances create todo-suite-pg",
        "--no-assign-ip",
        "helm upgrade --install dapr dapr/dapr --version 1.18.3",
        "helm upgrade --install redpanda redpanda/redpanda",
        "helm upgrade --install ingress-nginx",
        "helm upgrade --install kube-prometheus-stack",
        "kubectl create secret generic todo-suite --namespace todo-suite",
    ]:
        assert expected in printed, f"provision.sh --dry-run does not print: {expected}"
    # No JSON key is ever made, and no generated secret is printed.
    assert "keys create" not in printed
    assert not re.search(r"[0-9a-f]{64}", output), "a generated secret was printed"
    assert "GCP_WORKLOAD_IDENTITY_PROVIDER=projects/" in output


def test_provision_refuses_without_its_arguments(shims):
    env, _ = shims
    result = run([REPO / "deploy/gke/provision.sh", "--dry-run"], env=env, cwd=REPO)
    assert result.returncode == 2 and "--github-repo" in result.stderr


def test_up_minikube_dry_run_prints_every_step(shims):
    output = dry_run("deploy/minikube/up.sh", ["--with-monitoring"], shims)
    printed = commands(output)
    text = "\n".join(printed)
    for expected in [
        "minikube start",
        "helm upgrade --install dapr dapr/dapr --version 1.18.3 --namespace dapr-system",
        "helm upgrade --install redpanda redpanda/redpanda",
        "--values deploy/minikube/redpanda-values.yaml",
        "kubectl apply --namespace todo-suite -f deploy/minikube/postgres.yaml",
        "helm upgrade --install todo-suite helm/todo-suite --namespace todo-suite --values helm/todo-suite/values-minikube.yaml --rollback-on-failure --wait",
        "helm upgrade --install kube-prometheus-stack",
        "kubectl port-forward service/gateway 8080:8080",
    ]:
        assert expected in text, f"up.sh --dry-run does not print: {expected}"
    for app in app_ids():
        assert f"minikube image build . --tag todo-suite/{app}:dev --build-opt target={app}" in printed
        kind = "statefulset" if app == "sync" else "deployment"
        assert f"kubectl rollout status {kind}/{app} --namespace todo-suite --timeout 5m" in printed
    assert not re.search(r"[0-9a-f]{64}", output), "a generated secret was printed"


def test_down_minikube_dry_run(shims):
    printed = commands(dry_run("deploy/minikube/down.sh", [], shims))
    assert "helm uninstall todo-suite --namespace todo-suite --wait" in printed
    assert printed[-1] == "minikube stop"


def test_monitoring_apply_dry_run(shims):
    text = "\n".join(commands(dry_run("deploy/monitoring/apply.sh", [], shims)))
    assert "podmonitors.yaml" in text and "prometheus-rules.yaml" in text and "grafana_dashboard=1" in text


def test_every_place_pins_the_same_dapr():
    chart = (REPO / "helm/todo-suite/Chart.yaml").read_text()
    assert 'todo-suite/dapr-version: "1.18.3"' in chart
    for script in ("deploy/minikube/up.sh", "deploy/gke/provision.sh"):
        assert 'DAPR_VERSION="${DAPR_VERSION:-1.18.3}"' in (REPO / script).read_text(), script
    assert "github.com/dapr/dapr v1.18.3" in (REPO / "tools/dapr/go.mod").read_text()
