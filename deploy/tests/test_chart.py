"""The chart as real tools read it: helm lint --strict, every rendered Kubernetes object against
the Kubernetes schemas (kubernetes-validate --strict), every Dapr object (the chart's, and the
component files themselves) against Dapr v1.18.3's own CRD schemas, and values.schema.json
refusing wrong values."""

from __future__ import annotations

import copy
import functools
import os

import jsonschema
import pytest
import yaml

from conftest import CHART, REPO, TARGETS, dapr_dir, helm, helm_template_command, load_yaml_documents, render, run

KUBERNETES_VERSIONS = ["1.36.0", "1.37.0"]


@pytest.mark.parametrize("target", TARGETS)
def test_helm_lint_strict_passes(target):
    command = [helm(), "lint", "--strict", CHART]
    for values_file in TARGETS[target]:
        command += ["--values", values_file]
    result = run(command)
    assert result.returncode == 0, f"helm lint --strict ({target}):\n{result.stdout}{result.stderr}"
    assert "0 chart(s) failed" in result.stdout


@pytest.mark.parametrize("target", TARGETS)
def test_the_chart_renders_every_kind_it_should(target):
    kinds = {obj["kind"] for obj in render(target)}
    expected = {
        "Deployment", "StatefulSet", "Service", "ServiceAccount", "Role", "RoleBinding", "Secret",
        "HorizontalPodAutoscaler", "PodDisruptionBudget", "NetworkPolicy", "Ingress", "Job",
        "Component", "Configuration", "Resiliency",
    }
    if target == "minikube":
        expected.discard("HorizontalPodAutoscaler")  # one replica each
    assert expected <= kinds, f"missing: {sorted(expected - kinds)}"


@pytest.mark.parametrize("kubernetes_version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("target", TARGETS)
def test_every_kubernetes_object_validates_strictly(target, kubernetes_version, tmp_path):
    objects = [obj for obj in render(target) if not obj["apiVersion"].startswith("dapr.io/")]
    rendered = tmp_path / f"{target}.yaml"
    rendered.write_text(yaml.safe_dump_all(objects))
    validate = os.environ.get("TODO_KUBERNETES_VALIDATE", str(REPO / ".venv/bin/kubernetes-validate"))
    result = run([validate, "--strict", "-k", kubernetes_version, rendered])
    output = result.stdout + result.stderr
    problems = [line for line in output.splitlines() if line.startswith(("ERROR", "WARN", "CRITICAL"))]
    assert result.returncode == 0 and not problems, f"kubernetes-validate --strict -k {kubernetes_version}:\n" + "\n".join(problems or [output])
    passed = [line for line in output.splitlines() if " passed for resource " in line]
    assert len(passed) == len(objects), f"{len(passed)} of {len(objects)} objects reported as validated:\n{output}"


def test_the_minikube_postgres_manifest_validates_strictly():
    validate = os.environ.get("TODO_KUBERNETES_VALIDATE", str(REPO / ".venv/bin/kubernetes-validate"))
    result = run([validate, "--strict", "-k", KUBERNETES_VERSIONS[-1], REPO / "deploy/minikube/postgres.yaml"])
    assert result.returncode == 0 and "ERROR" not in result.stdout + result.stderr, result.stdout + result.stderr


# --- Dapr objects against Dapr's CRDs ----------------------------------------------------------

def strict(schema):
    """The CRD schema as the API server applies it with strict field validation (kubectl's
    default): an object with declared properties accepts no others, unless the schema says to
    keep unknown fields."""
    schema = copy.deepcopy(schema)

    def visit(node):
        if isinstance(node, dict):
            if (
                "properties" in node
                and "additionalProperties" not in node
                and not node.get("x-kubernetes-preserve-unknown-fields")
            ):
                node["additionalProperties"] = False
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for value in node:
                visit(value)

    visit(schema)
    return schema


def dapr_crd_validators():
    """(apiVersion, kind) -> a validator of Dapr v1.18.3's CRD schema for it."""
    validators = {}
    crds = sorted((dapr_dir() / "charts/dapr/crds").glob("*.yaml"))
    assert crds, f"no CRDs in {dapr_dir()}/charts/dapr/crds"
    for path in crds:
        for crd in load_yaml_documents(path):
            group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
            for version in crd["spec"]["versions"]:
                schema = strict(version["schema"]["openAPIV3Schema"])
                validators[(f"{group}/{version['name']}", kind)] = jsonschema.Draft7Validator(schema)
    return validators


# Dapr's own chart as deploy/minikube/up.sh and deploy/gke/provision.sh install it.
DAPR_CHART_INSTALLS = {"minikube": [], "gke": ["global.ha.enabled=true"]}


@functools.cache
def dapr_chart_render(install: str) -> tuple[dict, ...]:
    """The objects Dapr v1.18.3's own Helm chart (charts/dapr of its Go module, the chart the
    deploy scripts install from https://dapr.github.io/helm-charts at the same version) renders."""
    command = [helm(), "template", "dapr", dapr_dir() / "charts/dapr", "--namespace", "dapr-system"]
    for assignment in DAPR_CHART_INSTALLS[install]:
        command += ["--set", assignment]
    result = run(command)
    assert result.returncode == 0, f"helm template of Dapr's chart ({install}) failed:\n{result.stderr}"
    return tuple(doc for doc in yaml.safe_load_all(result.stdout) if doc)


def dapr_objects():
    """Every Dapr object that reaches a cluster: each target's render, the component files
    themselves (dapr-components/kubernetes, which the chart renders and anyone may apply), and
    those Dapr's own chart installs (its default Configuration). dapr-components/local is
    localdapr's and `dapr run`'s (no CRDs there) and is not checked."""
    for target in TARGETS:
        for obj in render(target):
            if obj["apiVersion"].startswith("dapr.io/"):
                yield f"{target}: {obj['kind']}/{obj['metadata']['name']}", obj
    for path in sorted((REPO / "dapr-components/kubernetes").glob("*.yaml")):
        for obj in load_yaml_documents(path):
            yield f"dapr-components/kubernetes/{path.name}", obj
    for install in DAPR_CHART_INSTALLS:
        for obj in dapr_chart_render(install):
            if obj["apiVersion"].startswith("dapr.io/"):
                yield f"Dapr's chart ({install}): {obj['kind']}/{obj['metadata']['name']}", obj


def schema_errors(validators, obj):
    key = (obj.get("apiVersion"), obj.get("kind"))
    if key not in validators:
        return [f"no Dapr v1.18.3 CRD for {key}"]
    return [f"{'/'.join(map(str, error.absolute_path)) or '(root)'}: {error.message}" for error in validators[key].iter_errors(obj)]


def test_every_dapr_object_validates_against_dapr_crds():
    validators = dapr_crd_validators()
    checked, failures = 0, []
    for where, obj in dapr_objects():
        checked += 1
        failures += [f"{where}: {error}" for error in schema_errors(validators, obj)]
    assert not failures, "\n".join(failures)
    assert checked >= 3 * 12 + 6, f"only {checked} Dapr objects checked"


@pytest.mark.parametrize("install", DAPR_CHART_INSTALLS)
def test_daprs_own_chart_installs_dapr_objects_that_are_checked(install):
    """Dapr's chart really renders Dapr objects (its default Configuration), so the check above
    covers them."""
    kinds = {obj["kind"] for obj in dapr_chart_render(install) if obj["apiVersion"].startswith("dapr.io/")}
    assert "Configuration" in kinds, f"Dapr's chart ({install}) renders no Configuration: {kinds}"


def test_the_dapr_schemas_reject_what_dapr_would():
    """The check is not vacuous: mistakes Dapr's API server would refuse are reported."""
    validators = dapr_crd_validators()
    component = load_yaml_documents(REPO / "dapr-components/kubernetes/pubsub.yaml")[0]
    mistakes = {
        "metadata as a map": lambda c: c["spec"].update(metadata={"brokers": "x"}),
        "no version": lambda c: c["spec"].pop("version"),
        "scopes under spec": lambda c: c["spec"].update(scopes=["sync"]),
        "a misspelt field": lambda c: c["spec"].update(initTimout="5s"),
    }
    for name, mistake in mistakes.items():
        wrong = copy.deepcopy(component)
        mistake(wrong)
        assert schema_errors(validators, wrong), f"accepted: {name}"


# --- values.schema.json ------------------------------------------------------------------------

WRONG_VALUES = [
    ("a replica count that is not a number", ["services.gateway.replicas=two"], "/services/gateway/replicas"),
    ("an app port the service does not listen on", ["services.todo-api.appPort=7009"], "/services/todo-api/appPort"),
    ("an unknown Kafka authentication", ["kafka.auth.type=sasl"], "/kafka/auth/type"),
    ("a writable root file system", ["containerSecurityContext.readOnlyRootFilesystem=false"], "/containerSecurityContext/readOnlyRootFilesystem"),
    ("an unknown service", ["services.reminders.appPort=7006"], "/services"),
    ("a misspelt top-level key", ["imag.tag=x"], "imag"),
    ("a host that is not a DNS name", ["ingress.host=Not_A_Host"], "/ingress/host"),
    ("a sampling rate above 1", ["tracing.samplingRate=2"], "/tracing/samplingRate"),
    ("an OTLP endpoint without a scheme", ["tracing.otlpEndpoint=collector:4317"], "/tracing/otlpEndpoint"),
    # Helm's validator misplaces a propertyNames error; the variable's name is in the message.
    ("the token variables overridden", ["services.audit.env.APP_API_TOKEN=x"], "APP_API_TOKEN"),
]


@pytest.mark.parametrize("case,assignments,path", WRONG_VALUES, ids=[case for case, _, _ in WRONG_VALUES])
def test_values_schema_rejects_a_wrong_value(case, assignments, path):
    command = helm_template_command(sets=assignments)
    result = run(command)
    assert result.returncode != 0, f"helm template accepted {case}: {assignments}"
    assert "values don't meet the specifications of the schema" in result.stderr, result.stderr
    assert path in result.stderr, f"the error does not name {path}:\n{result.stderr}"


def test_values_schema_accepts_the_right_values():
    result = run(helm_template_command(sets=["services.gateway.replicas=3", "kafka.auth.type=password", "tracing.samplingRate=0.25"]))
    assert result.returncode == 0, result.stderr
