#!/usr/bin/env bash
# Brings Todo Suite up on Minikube with the real Dapr, Redpanda and PostgreSQL (`just
# up-minikube`), then port-forwards the gateway and prints its URL. Safe to run again: every
# step installs or upgrades in place, and generated passwords and keys are kept.
#
#   deploy/minikube/up.sh [--dry-run] [--with-monitoring] [--no-port-forward]
#
# --dry-run          print every command, run none (no minikube, kubectl or helm needed)
# --with-monitoring  also kube-prometheus-stack, the suite's scrape configs, alerts and dashboard
# --no-port-forward  return once the suite is ready instead of forwarding localhost:8080
#
# Needs minikube, kubectl and helm (v4; `tools/go-tool.sh helm` builds the pinned one) on PATH,
# and a Minikube driver (Docker, Podman, KVM...). Steps:
#  1. start Minikube if it is not running (4 CPUs, 8 GiB; addons ingress, metrics-server);
#  2. Dapr 1.18.3 by its Helm chart (Scheduler included), Redpanda by its chart (one small
#     broker, no TLS or SASL: deploy/minikube/redpanda-values.yaml);
#  3. the namespace, the Secrets (PostgreSQL password, signing and page-token keys, audit's
#     database URL), PostgreSQL (deploy/minikube/postgres.yaml);
#  4. the six images, built inside Minikube from the Dockerfile (never pulled);
#  5. the chart with values-minikube.yaml: the Dapr components, Configurations, topics (a Job),
#     the apps; `helm upgrade --install --rollback-on-failure --wait`;
#  6. wait for every workload, then port-forward the gateway.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$repo"

dry_run=0 monitoring=0 forward=1
for arg in "$@"; do
    case "$arg" in
        --dry-run) dry_run=1 ;;
        --with-monitoring) monitoring=1 ;;
        --no-port-forward) forward=0 ;;
        -h|--help) sed -n '2,21p' "${BASH_SOURCE[0]}"; exit 0 ;;
        *) echo "up.sh: unknown argument: $arg" >&2; exit 2 ;;
    esac
done

namespace="${NAMESPACE:-todo-suite}"
services=(todo-api gateway recurring notification audit sync)
DAPR_VERSION="${DAPR_VERSION:-1.18.3}"
# Written against these chart versions; check `helm search repo <chart> --versions` before
# moving them (they cannot be checked from the machine CI runs on).
REDPANDA_CHART_VERSION="${REDPANDA_CHART_VERSION:-25.1.3}"
KUBE_PROMETHEUS_STACK_VERSION="${KUBE_PROMETHEUS_STACK_VERSION:-77.12.0}"

run() {
    printf '+'; printf ' %q' "$@"; printf '\n'
    if [ "$dry_run" = 0 ]; then "$@"; fi
}
# apply_generated DESCRIPTION CMD...: pipes a `kubectl create ... --dry-run=client -o yaml` into
# `kubectl apply` (create or update), printing the command (values elided by the caller).
apply_generated() {
    local shown=$1
    shift
    printf '+ %s --dry-run=client -o yaml | kubectl apply -f -\n' "$shown"
    if [ "$dry_run" = 0 ]; then "$@" --dry-run=client -o yaml | kubectl apply -f -; fi
}
random_secret() { head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n'; }
# kept NAME KEY: a key of an existing Secret of the namespace (to keep it across runs).
kept() {
    [ "$dry_run" = 0 ] || return 0
    kubectl get secret "$1" --namespace "$namespace" -o "jsonpath={.data.$2}" 2>/dev/null | base64 -d 2>/dev/null || true
}

if [ "$dry_run" = 0 ]; then
    for tool in minikube kubectl helm; do
        command -v "$tool" >/dev/null || { echo "up.sh: $tool is not on PATH" >&2; exit 1; }
    done
fi

echo "== 1. Minikube"
if [ "$dry_run" = 0 ] && minikube status --format '{{.APIServer}}' 2>/dev/null | grep -q Running; then
    echo "Minikube is running"
else
    run minikube start --cpus 4 --memory 8g --addons ingress --addons metrics-server
fi
run kubectl config use-context minikube

echo "== 2. Dapr $DAPR_VERSION and Redpanda"
run helm repo add dapr https://dapr.github.io/helm-charts/ --force-update
run helm repo add redpanda https://charts.redpanda.com --force-update
if [ "$monitoring" = 1 ]; then
    run helm repo add prometheus-community https://prometheus-community.github.io/helm-charts --force-update
fi
run helm repo update
run helm upgrade --install dapr dapr/dapr --version "$DAPR_VERSION" \
    --namespace dapr-system --create-namespace --wait --timeout 10m
run helm upgrade --install redpanda redpanda/redpanda --version "$REDPANDA_CHART_VERSION" \
    --namespace redpanda --create-namespace --values deploy/minikube/redpanda-values.yaml \
    --wait --timeout 15m

echo "== 3. namespace $namespace, Secrets, PostgreSQL"
apply_generated "kubectl create namespace $namespace" kubectl create namespace "$namespace"
db_password="$(kept todo-suite-postgres password)"
[ -n "$db_password" ] || db_password="$(random_secret)"
jwt_key="$(kept todo-suite jwt-signing-key)"
[ -n "$jwt_key" ] || jwt_key="$(random_secret)"
page_key="$(kept todo-suite page-token-key)"
[ -n "$page_key" ] || page_key="$(random_secret)"
db_host="postgres.$namespace.svc.cluster.local"
apply_generated "kubectl create secret generic todo-suite-postgres --namespace $namespace --from-literal=password=… --from-literal=connection-string=…" \
    kubectl create secret generic todo-suite-postgres --namespace "$namespace" \
        --from-literal=password="$db_password" \
        --from-literal=connection-string="host=$db_host port=5432 user=todo password=$db_password dbname=todo sslmode=disable"
apply_generated "kubectl create secret generic todo-suite --namespace $namespace --from-literal=jwt-signing-key=… --from-literal=page-token-key=… --from-literal=audit-database-url=…" \
    kubectl create secret generic todo-suite --namespace "$namespace" \
        --from-literal=jwt-signing-key="$jwt_key" --from-literal=page-token-key="$page_key" \
        --from-literal=audit-database-url="postgres://todo:$db_password@$db_host:5432/audit?sslmode=disable"
run kubectl apply --namespace "$namespace" -f deploy/minikube/postgres.yaml
run kubectl rollout status statefulset/postgres --namespace "$namespace" --timeout 5m

echo "== 4. images, built inside Minikube"
if [ -f frontend/package.json ]; then
    run npm --prefix frontend ci --no-audit --no-fund
    run npm --prefix frontend run build
fi
for service in "${services[@]}"; do
    run minikube image build . --tag "todo-suite/$service:dev" --build-opt "target=$service"
done

echo "== 5. the suite's chart"
run helm upgrade --install todo-suite helm/todo-suite --namespace "$namespace" \
    --values helm/todo-suite/values-minikube.yaml --rollback-on-failure --wait --timeout 10m
if [ "$monitoring" = 1 ]; then
    run helm upgrade --install kube-prometheus-stack prometheus-community/kube-prometheus-stack \
        --version "$KUBE_PROMETHEUS_STACK_VERSION" --namespace monitoring --create-namespace \
        --values deploy/monitoring/kube-prometheus-stack-values.yaml --wait --timeout 15m
    deploy_monitoring=(deploy/monitoring/apply.sh --namespace monitoring)
    if [ "$dry_run" = 1 ]; then deploy_monitoring+=(--dry-run); fi
    "${deploy_monitoring[@]}"
fi

echo "== 6. ready?"
for service in "${services[@]}"; do
    kind=deployment
    if [ "$service" = sync ]; then kind=statefulset; fi
    run kubectl rollout status "$kind/$service" --namespace "$namespace" --timeout 5m
done
if [ "$dry_run" = 1 ]; then
    echo "+ kubectl port-forward service/gateway 8080:8080 --namespace $namespace"
    echo "up.sh: dry run; nothing was changed"
    exit 0
fi
echo "Todo Suite is up on Minikube."
echo "  Ingress (gRPC-web, /ws, frontend): http://todo.minikube.test/ after adding \"$(minikube ip) todo.minikube.test\" to /etc/hosts"
if [ "$forward" = 0 ]; then
    echo "  gRPC: kubectl port-forward service/gateway 8080:8080 --namespace $namespace"
    exit 0
fi
echo "  gateway (gRPC, gRPC-web, /ws, frontend): http://localhost:8080  (grpcurl -plaintext localhost:8080 list; Ctrl-C stops forwarding)"
exec kubectl port-forward service/gateway 8080:8080 --namespace "$namespace"
