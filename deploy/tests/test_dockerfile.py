"""No Docker engine runs here, so the Dockerfile is checked against the workspace: each service's
target builds and copies a real binary target of that service's package, exposes the ports the
service listens on, and is named as the image the chart pulls and the deploy workflow pushes."""

from __future__ import annotations

import json
import re
import subprocess
from functools import cache

import pytest
import yaml

from conftest import CHART, REPO, admin_port, app_ids, default_app_port, render, workloads

DOCKERFILE = REPO / "Dockerfile"
WORKFLOW = REPO / ".github/workflows/deploy-gke.yaml"


@cache
def stages() -> dict[str, dict]:
    """The Dockerfile's stages by name: their base and instructions (continuations joined)."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    result, current = {}, None
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        instruction, _, rest = line.partition(" ")
        if instruction.upper() == "FROM":
            match = re.fullmatch(r"(\S+)(?:\s+AS\s+(\S+))?", rest.strip(), flags=re.IGNORECASE)
            assert match, f"unreadable FROM: {line}"
            current = {"from": match.group(1), "instructions": []}
            result[match.group(2) or f"stage{len(result)}"] = current
        elif current is not None:
            current["instructions"].append((instruction.upper(), rest.strip()))
    return result


def instructions(stage: str, name: str) -> list[str]:
    return [rest for instruction, rest in stages()[stage]["instructions"] if instruction == name]


@cache
def binaries_of_packages() -> dict[str, set[str]]:
    """package directory (relative) -> its [[bin]] targets, as cargo reads the workspace."""
    result = subprocess.run(
        ["cargo", "metadata", "--no-deps", "--format-version", "1", "--offline"],
        cwd=REPO, capture_output=True, text=True, check=False,
    )
    assert result.returncode == 0, f"cargo metadata failed:\n{result.stderr}"
    packages = {}
    for package in json.loads(result.stdout)["packages"]:
        directory = str((REPO / package["manifest_path"]).parent.relative_to(REPO))
        packages[directory] = {target["name"] for target in package["targets"] if "bin" in target["kind"]}
    return packages


def cargo_bins(instruction: str) -> set[str]:
    return set(re.findall(r"--bin\s+(\S+)", instruction))


def test_the_build_stage_builds_exactly_the_services_binaries():
    build = " ".join(instructions("build", "RUN"))
    cook, release = [run for run in instructions("build", "RUN") if "cargo chef cook" in run], [run for run in instructions("build", "RUN") if "cargo build" in run]
    assert cook and release, f"the build stage has no cargo chef cook and cargo build: {build}"
    assert cargo_bins(cook[0]) == set(app_ids()) == cargo_bins(release[0]), "the --bin lists differ from the apps of dapr.yaml"
    assert "--locked" in release[0] and "--release" in release[0]
    for app in app_ids():
        assert f"target/release/{app}" in release[0], f"{app}'s binary is not copied to /out"


@pytest.mark.parametrize("app", app_ids())
def test_each_service_image_holds_a_real_binary_of_that_service(app):
    assert app in stages(), f"no target {app} in the Dockerfile"
    stage = stages()[app]
    assert stage["from"] == "runtime", f"{app} is not built on the runtime stage"
    copies = [rest for rest in instructions(app, "COPY") if rest.startswith("--from=build ")]
    assert copies == [f"--from=build /out/{app} /usr/local/bin/{app}"], copies
    assert instructions(app, "ENTRYPOINT") == [f'["/usr/local/bin/{app}"]']
    # The binary is a [[bin]] target of the service's own package.
    assert app in binaries_of_packages()[f"services/{app}"], f"{app} is not a binary of services/{app}"


@pytest.mark.parametrize("app", app_ids())
def test_each_image_exposes_the_ports_its_service_listens_on(app):
    exposed = {int(port) for rest in instructions(app, "EXPOSE") for port in rest.split()}
    assert exposed == {default_app_port(app), admin_port()}, f"{app} exposes {exposed}"
    # ... which are the chart's too.
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert values["services"][app]["appPort"] == default_app_port(app)
    assert values["adminPort"] == admin_port()


def test_the_runtime_is_minimal_and_not_root():
    runtime = stages()["runtime"]
    assert runtime["from"].startswith("gcr.io/distroless/") and runtime["from"].endswith(":nonroot"), runtime["from"]
    assert instructions("runtime", "USER") == ["65532:65532"]
    labels = " ".join(instructions("runtime", "LABEL"))
    for label in ("org.opencontainers.image.source", "org.opencontainers.image.version", "org.opencontainers.image.revision", "org.opencontainers.image.licenses"):
        assert label in labels, f"no {label}"
    for app in app_ids():
        assert f'org.opencontainers.image.title="{app}"' in " ".join(instructions(app, "LABEL")), app
    assert stages()["build"]["from"] == "chef" and "cargo-chef" in " ".join(instructions("chef", "RUN"))


def test_the_gateway_image_carries_the_frontend():
    assert "--from=frontend /out/dist /app/frontend/dist" in instructions("gateway", "COPY")
    assert "TODO_FRONTEND_DIR=/app/frontend/dist" in instructions("gateway", "ENV")
    config = (REPO / "services/gateway/src/config.rs").read_text()
    assert 'pub const ENV_FRONTEND_DIR: &str = "TODO_FRONTEND_DIR";' in config
    ignored = (REPO / ".dockerignore").read_text().splitlines()
    assert "frontend/*" in ignored and "!frontend/dist" in ignored
    for path in ("target", ".git", ".localdapr", ".venv"):
        assert path in ignored, f".dockerignore lets {path} into the build context"


def workflow_services() -> list[str]:
    workflow = yaml.safe_load(WORKFLOW.read_text())
    return workflow["env"]["SERVICES"].split()


def test_the_deploy_workflow_pushes_the_images_the_chart_pulls():
    assert sorted(workflow_services()) == sorted(app_ids())
    text = WORKFLOW.read_text()
    assert '--target "$service"' in text and '--tag "$IMAGE_BASE/$service:$GITHUB_SHA"' in text
    assert '--set image.registry="$IMAGE_BASE"' in text and '--set image.tag="$GITHUB_SHA"' in text
    registry, tag = "europe-west1-docker.pkg.dev/project/todo-suite", "0123abc"
    objects = render("gke", sets=(f"image.registry={registry}", f"image.tag={tag}"))
    pulled = {container["image"] for workload in workloads(objects).values() for container in workload["spec"]["template"]["spec"]["containers"]}
    assert pulled == {f"{registry}/{service}:{tag}" for service in workflow_services()}


def test_minikube_builds_the_images_its_values_pull():
    script = (REPO / "deploy/minikube/up.sh").read_text()
    listed = re.search(r"^services=\(([^)]*)\)", script, flags=re.MULTILINE)
    assert listed and sorted(listed.group(1).split()) == sorted(app_ids())
    assert '--tag "todo-suite/$service:dev" --build-opt "target=$service"' in script
    objects = render("minikube")
    for name, workload in workloads(objects).items():
        spec = workload["spec"]["template"]["spec"]["containers"][0]
        assert (spec["image"], spec["imagePullPolicy"]) == (f"todo-suite/{name}:dev", "Never")
