"""The Dapr wiring of the rendered chart, against the services' code and Dapr's own source:
annotations, component scopes and metadata, sync's per-pod consumer group, the Kafka topics, and
an access control that allows exactly the calls the services make."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from conftest import (
    NAMESPACE, REPO, TARGETS, admin_port, app_ids, by_kind, components_contrib_dir, dapr_dir,
    default_app_port, render, rust_source, service_sources, workloads,
)


def annotations(workload) -> dict[str, str]:
    return workload["spec"]["template"]["metadata"].get("annotations", {})


def container(workload) -> dict:
    containers = workload["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1, f"{workload['metadata']['name']}: one container expected (daprd is injected)"
    return containers[0]


def injector_annotations() -> set[str]:
    """Every annotation Dapr v1.18.3's sidecar injector reads."""
    source = (dapr_dir() / "pkg/injector/annotations/annotations.go").read_text()
    return set(re.findall(r'"(dapr\.io/[a-z0-9-]+)"', source))


@pytest.mark.parametrize("target", TARGETS)
def test_there_is_one_workload_per_app_of_the_suite(target):
    assert sorted(workloads(render(target))) == sorted(app_ids())


@pytest.mark.parametrize("target", TARGETS)
def test_every_workload_has_the_dapr_annotations_with_its_own_app_id_and_port(target):
    objects = render(target)
    configurations = by_kind(objects, "Configuration")
    secrets = by_kind(objects, "Secret")
    known = injector_annotations()
    for name, workload in workloads(objects).items():
        notes = annotations(workload)
        port = default_app_port(name)
        expected = {
            "dapr.io/enabled": "true",
            "dapr.io/app-id": name,
            "dapr.io/app-port": str(port),
            "dapr.io/app-protocol": "grpc",
            "dapr.io/enable-metrics": "true",
            "dapr.io/enable-app-health-check": "true",
            "dapr.io/log-as-json": "true",
        }
        for key, value in expected.items():
            assert notes.get(key) == value, f"{target}: {name}: {key} is {notes.get(key)!r}, not {value!r}"
        unknown = {key for key in notes if key.startswith("dapr.io/")} - known
        assert not unknown, f"{target}: {name}: annotations Dapr's injector does not read: {sorted(unknown)}"
        for key in ("dapr.io/sidecar-cpu-request", "dapr.io/sidecar-memory-request"):
            assert notes.get(key), f"{target}: {name}: no {key}"
        assert notes["dapr.io/config"] in configurations, f"{target}: {name}: no Configuration {notes['dapr.io/config']}"
        for key in ("dapr.io/api-token-secret", "dapr.io/app-token-secret"):
            secret = secrets.get(notes.get(key, ""))
            assert secret and "token" in secret["data"], f"{target}: {name}: {key} names no Secret with a token"

        app = container(workload)
        ports = {p["name"]: p["containerPort"] for p in app["ports"]}
        assert ports == {"app": port, "admin": admin_port()}, f"{target}: {name}: ports {ports}"
        env = {e["name"]: e for e in app["env"]}
        assert env["APP_PORT"]["value"] == str(port)
        assert env["TODO_ADMIN_PORT"]["value"] == str(admin_port())
        assert env["LOG_FORMAT"]["value"] == "json"
        for variable, key in (("DAPR_API_TOKEN", "dapr.io/api-token-secret"), ("APP_API_TOKEN", "dapr.io/app-token-secret")):
            reference = env[variable]["valueFrom"]["secretKeyRef"]
            assert (reference["name"], reference["key"]) == (notes[key], "token"), f"{target}: {name}: {variable}"
        for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz"), ("startupProbe", "/healthz")):
            assert app[probe]["httpGet"] == {"path": path, "port": "admin"}, f"{target}: {name}: {probe}"
        security = app["securityContext"]
        assert security["readOnlyRootFilesystem"] is True and security["allowPrivilegeEscalation"] is False
        assert security["capabilities"]["drop"] == ["ALL"]
        assert workload["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] is True
        assert app["resources"]["requests"], f"{target}: {name}: no resource requests"


# --- components --------------------------------------------------------------------------------

def components(target="defaults") -> dict[str, dict]:
    return by_kind(render(target), "Component")


@pytest.mark.parametrize("target", TARGETS)
def test_every_component_is_scoped_to_apps_of_the_suite(target):
    for name, component in components(target).items():
        scopes = component.get("scopes")
        assert scopes, f"{target}: component {name} has no scopes: every app would load it"
        assert set(scopes) <= set(app_ids()), f"{target}: {name} is scoped to unknown apps {set(scopes) - set(app_ids())}"


def metadata(component) -> dict[str, dict]:
    return {entry["name"]: entry for entry in component["spec"].get("metadata", [])}


@pytest.mark.parametrize("target", TARGETS)
def test_no_component_sets_a_shared_consumer_group(target):
    for name, component in components(target).items():
        assert "consumerGroup" not in metadata(component), f"{target}: {name} sets consumerGroup: its apps would compete for events"


def code_default(app: str, constant: str) -> str | None:
    """A `pub const <constant>: &str = "..."` of the service or of dapr-kit (None if it is not
    a string constant)."""
    for path in [REPO / "services" / app / "src/config.rs", REPO / "libs/dapr-kit/src/service_main.rs"]:
        match = re.search(rf'pub const {constant}: &str = "([^"]*)";', path.read_text())
        if match:
            return match.group(1)
    return None


def components_used_by(app: str) -> set[str]:
    """The components a service uses by default: every string DEFAULT_* its config.rs reads a
    variable with (`text(ENV_..., DEFAULT_...)`) that names a component of the chart."""
    config = rust_source(REPO / "services" / app / "src/config.rs")
    used = set()
    for constant in re.findall(r"\(\s*ENV_[A-Z_]+,\s*(DEFAULT_[A-Z_]+)\s*,?\s*\)", config):
        used.add(code_default(app, constant))
    return used & set(components())


def test_each_app_may_load_every_component_it_uses():
    everything = components()
    for app in app_ids():
        for name in components_used_by(app):
            assert app in everything[name]["scopes"], f"{app} uses {name}, which is not scoped to it"
    # The readers of the secret store are exactly the apps the chart lets read the app secret.
    readers = {app for app in app_ids() if "secretstore" in components_used_by(app)}
    role_binding = by_kind(render(), "RoleBinding")["todo-suite-app-secret-reader"]
    assert {subject["name"] for subject in role_binding["subjects"]} == readers
    assert set(everything["secretstore"]["scopes"]) == readers
    for name, workload in workloads(render()).items():
        reads = name in readers
        assert workload["spec"]["template"]["spec"]["automountServiceAccountToken"] is reads, name
        assert (annotations(workload).get("dapr.io/disable-builtin-k8s-secret-store") == "true") is (not reads), name


@pytest.mark.parametrize("target", TARGETS)
def test_sync_reads_through_a_per_pod_consumer_group(target):
    sync_pubsub = code_default("sync", "DEFAULT_PUBSUB")
    assert sync_pubsub in components_used_by("sync")
    component = components(target)[sync_pubsub]
    assert component["spec"]["type"] == "pubsub.kafka"
    assert component["scopes"] == ["sync"], f"{sync_pubsub} must be sync's alone"
    assert metadata(component)["consumerID"]["value"] == "{podName}"
    # Stable pod names keep the consumer groups stable across restarts.
    assert workloads(render(target))["sync"]["kind"] == "StatefulSet"


def test_the_outbox_publishes_through_a_pubsub_its_writers_may_use():
    everything = components()
    for name, component in everything.items():
        entries = metadata(component)
        if "outboxPublishTopic" not in entries:
            continue
        pubsub = everything[entries["outboxPublishPubsub"]["value"]]
        assert set(component["scopes"]) <= set(pubsub["scopes"]), f"{name}'s writers cannot publish on {pubsub['metadata']['name']}"
        assert entries["outboxDiscardWhenMissingState"]["value"] == "true"


# Keys daprd itself reads from any component's metadata (not in a component's metadata.yaml).
RUNTIME_METADATA = {
    "consumerID", "outboxPublishPubsub", "outboxPublishTopic", "outboxPubsub",
    "outboxDiscardWhenMissingState", "keyPrefix", "actorStateStore", "publishingScopes",
    "subscriptionScopes", "allowedTopics", "protectedTopics",
}


def contrib_metadata_names(kind: str, version: str) -> set[str]:
    """Every metadata field components-contrib v1.18.4 declares for a component type."""
    category, name = kind.split(".", 1)
    base = components_contrib_dir() / {"state": "state", "pubsub": "pubsub", "secretstores": "secretstores"}[category] / name.replace(".", "/")
    path = base / version / "metadata.yaml" if (base / version / "metadata.yaml").exists() else base / "metadata.yaml"
    declared = yaml.safe_load(path.read_text())
    assert declared["version"] == version, f"{path} is for {declared['version']}, not {version}"
    names = {field["name"] for field in declared.get("metadata", [])}
    for profile in declared.get("authenticationProfiles", []):
        names |= {field["name"] for field in profile.get("metadata", [])}
    for profile in declared.get("builtinAuthenticationProfiles", []):
        names |= {field["name"] for field in profile.get("metadata", [])}
    return names


@pytest.mark.parametrize("target", TARGETS)
def test_every_component_metadata_field_is_one_the_component_reads(target):
    for name, component in components(target).items():
        known = contrib_metadata_names(component["spec"]["type"], component["spec"]["version"]) | RUNTIME_METADATA
        unknown = set(metadata(component)) - known
        assert not unknown, f"{target}: {name} ({component['spec']['type']}): unknown metadata {sorted(unknown)}"


# --- topics ------------------------------------------------------------------------------------

def topics_in_code() -> dict[str, set[str]]:
    """topic -> the services naming it (their `pub const *_TOPIC: &str`)."""
    topics: dict[str, set[str]] = {}
    for app in app_ids():
        for topic in re.findall(r'pub const [A-Z_]*TOPIC: &str = "([^"]+)";', service_sources(app)):
            topics.setdefault(topic, set()).add(app)
    return topics


def created_topics(target: str) -> dict[str, str]:
    """topic -> retention ("" for the broker's default), as the chart's topic Job creates them."""
    job = by_kind(render(target), "Job")["todo-suite-kafka-topics"]
    args = job["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[1] == "kafka-topics", args
    return dict(arg.split(":", 1) for arg in args[2:])


@pytest.mark.parametrize("target", TARGETS)
def test_every_topic_a_service_uses_is_created(target):
    used = topics_in_code()
    assert {"task-events", "task-events-dlq", "reminders", "reminders-dlq"} <= set(used), used
    created = created_topics(target)
    missing = set(used) - set(created)
    assert not missing, f"{target}: topics used but not created: {sorted(missing)} (by {[used[t] for t in missing]})"
    # todo-api's outbox publishes through daprd's internal topic first.
    assert f"{NAMESPACE}todo-apitask-eventsoutbox" in created
    for topic, retention in created.items():
        if topic.endswith("-dlq"):
            assert retention, f"{target}: the dead-letter topic {topic} has no retention of its own"


# --- access control ----------------------------------------------------------------------------

def rpcs() -> dict[str, list[str]]:
    """todo.v1 service -> its RPCs, from the protos."""
    services = {}
    for proto in sorted((REPO / "proto/todo/v1").glob("*_service.proto")):
        text = proto.read_text()
        for service, body in re.findall(r"service (\w+) \{(.*?)\n\}", text, flags=re.DOTALL):
            services[service] = re.findall(r"rpc (\w+)\(", body)
    assert {"TaskService", "AuditService", "NotificationService", "SyncService"} <= set(services)
    return services


def snake(name: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()


def calls_in_code() -> set[tuple[str, str, str]]:
    """(caller app, callee app, /todo.v1.Service/Method) for every call a service makes through
    Dapr: the services it holds a generated client of, the methods of those it calls, and the app
    whose server.rs serves that service (the gateway serves them too, by forwarding: not a
    callee)."""
    owners = {}
    for app in app_ids():
        for service in re.findall(r"\.grpc_service\((\w+)Server::new", rust_source(REPO / "services" / app / "src/server.rs")):
            if app != "gateway":
                owners[service] = app
    calls = set()
    for app in app_ids():
        source = service_sources(app)
        for service in set(re.findall(r"\b(\w+Service)Client\b", source)):
            if service not in owners:
                continue
            for method in rpcs()[service]:
                if re.search(rf"\b{snake(method)}\s*\(", source):
                    calls.add((app, owners[service], f"/todo.v1.{service}/{method}"))
    return calls


def operation_matches(pattern: str, operation: str) -> bool:
    """Dapr's ACL trie (pkg/config/acl_trie.go): `/*` matches one path segment, `/**` the rest."""
    pattern_parts, operation_parts = pattern.strip("/").split("/"), operation.strip("/").split("/")
    for index, part in enumerate(pattern_parts):
        if part == "**":
            return True
        if index >= len(operation_parts) or (part != "*" and part != operation_parts[index]):
            return False
    return len(pattern_parts) == len(operation_parts)


def allowed(configuration: dict, caller: str, namespace: str, trust_domain: str, operation: str) -> bool:
    """Whether the callee's Configuration lets `caller` invoke `operation`, as
    isOperationAllowedByAccessControlPolicy in Dapr v1.18.3's pkg/acl/acl.go decides."""
    spec = configuration["spec"].get("accessControl")
    if not spec:
        return True
    action = (spec.get("defaultAction") or ("deny" if spec.get("policies") else "allow")).lower()
    policy = next((p for p in spec.get("policies", []) if p["appId"] == caller and p.get("namespace") == namespace), None)
    if policy is None or policy.get("trustDomain") != trust_domain:
        return action == "allow"
    action = policy.get("defaultAction") or action
    for operation_policy in policy.get("operations", []):
        if operation_matches(operation_policy["name"], operation):
            action = operation_policy["action"]
    return action.lower() == "allow"


@pytest.mark.parametrize("target", TARGETS)
def test_access_control_allows_exactly_the_calls_the_services_make(target):
    objects = render(target)
    configurations = by_kind(objects, "Configuration")
    expected = calls_in_code()
    assert ("recurring", "todo-api", "/todo.v1.TaskService/CreateTask") in expected
    assert ("gateway", "sync", "/todo.v1.SyncService/WatchTasks") in expected
    operations = [f"/todo.v1.{service}/{method}" for service, methods in rpcs().items() for method in methods]
    operations += ["/grpc.health.v1.Health/Check", "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"]
    trust_domain = "public"
    granted = set()
    for callee, workload in workloads(objects).items():
        configuration = configurations[annotations(workload)["dapr.io/config"]]
        for caller in app_ids() + ("intruder",):
            for operation in operations:
                if allowed(configuration, caller, NAMESPACE, trust_domain, operation):
                    granted.add((caller, callee, operation))
                # The same app id from another namespace is someone else.
                assert not allowed(configuration, caller, "elsewhere", trust_domain, operation)
    assert granted == expected, (
        f"{target}: allowed but never called: {sorted(granted - expected)}; "
        f"called but denied: {sorted(expected - granted)}"
    )


@pytest.mark.parametrize("target", TARGETS)
def test_network_policies_let_in_only_the_callers_sidecars(target):
    objects = render(target)
    policies = by_kind(objects, "NetworkPolicy")
    callers_of = {}
    for caller, callee, _ in calls_in_code():
        callers_of.setdefault(callee, set()).add(caller)
    for app in app_ids():
        policy = policies[app]
        sidecar_rules = [rule for rule in policy["spec"]["ingress"] if {"port": 50002, "protocol": "TCP"} in rule["ports"]]
        admitted = {
            peer["podSelector"]["matchLabels"]["app.kubernetes.io/name"]
            for rule in sidecar_rules for peer in rule["from"]
        }
        assert admitted == callers_of.get(app, set()), f"{target}: {app}'s sidecar port is open to {admitted}"
        public = [rule for rule in policy["spec"]["ingress"] if {"port": default_app_port(app), "protocol": "TCP"} in rule["ports"]]
        assert bool(public) == (app == "gateway"), f"{target}: {app}'s app port is reachable from outside its pod"


# --- resiliency ---------------------------------------------------------------------------------

def go_duration_seconds(text: str) -> float:
    """A Go duration as the Resiliency CRD takes it ("10s", "100ms", "1m30s")."""
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h)", text)
    assert parts and "".join(number + unit for number, unit in parts) == text, f"not a duration: {text!r}"
    return sum(float(number) * units[unit] for number, unit in parts)


def breaker_trip_variables() -> set[str]:
    """The counts Dapr v1.18.3 gives a circuit breaker's `trip` expression."""
    source = (dapr_dir() / "pkg/resiliency/breaker/circuitbreaker.go").read_text()
    return set(re.findall(r'"(\w+)":\s+int64\(counts\.', source))


def streaming_operations() -> set[str]:
    """/todo.v1.Service/Method of every server-streaming RPC, from the protos."""
    operations = set()
    for proto in sorted((REPO / "proto/todo/v1").glob("*_service.proto")):
        for service, body in re.findall(r"service (\w+) \{(.*?)\n\}", proto.read_text(), flags=re.DOTALL):
            operations |= {f"/todo.v1.{service}/{method}" for method in re.findall(r"rpc (\w+)\([^)]*\)\s*returns\s*\(\s*stream\b", body)}
    return operations


@pytest.mark.parametrize("target", TARGETS)
def test_resiliency_bounds_every_retry_and_guards_every_call_between_apps(target):
    [resiliency] = by_kind(render(target), "Resiliency").values()
    policies, targets = resiliency["spec"]["policies"], resiliency["spec"]["targets"]
    for name, retry in policies["retries"].items():
        # Without maxRetries daprd retries for ever (reference §7.5).
        assert int(retry.get("maxRetries", -1)) >= 0, f"{target}: retry policy {name} is unbounded"
    for name, component in components(target).items():
        if component["spec"]["type"].startswith("pubsub."):
            policy = targets["components"].get(name, {}).get("inbound", {}).get("retry")
            assert policy in policies["retries"], f"{target}: deliveries from {name} have no bounded retry policy"

    calls = calls_in_code()
    callees = {callee for _, callee, _ in calls}
    assert set(targets["apps"]) == callees, f"{target}: app targets {sorted(targets['apps'])}, called apps {sorted(callees)}"
    streamed = {callee for _, callee, operation in calls if operation in streaming_operations()}
    assert streamed == {"sync"}, streamed
    for app, policy in targets["apps"].items():
        assert go_duration_seconds(policies["timeouts"][policy["timeout"]]) <= 30, f"{target}: {app}'s timeout"
        breaker = policies["circuitBreakers"][policy["circuitBreaker"]]
        unknown = set(re.findall(r"[A-Za-z_]\w*", breaker["trip"])) - breaker_trip_variables()
        assert not unknown, f"{target}: {app}'s breaker trips on {sorted(unknown)}, which daprd does not count"
        # Client errors count as failures: a handful of them must not open the breaker.
        assert "consecutiveFailures" not in breaker["trip"], f"{target}: {app}'s breaker opens on a few client errors"
        if "retry" in policy:
            # daprd refuses a streaming call whose target has a retry policy.
            assert app not in streamed, f"{target}: {app} serves streams and has retries"
            matching = policies["retries"][policy["retry"]].get("matching", {})
            assert matching.get("gRPCStatusCodes") == "14", f"{target}: calls to {app} retry more than Unavailable"
