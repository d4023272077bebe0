#!/usr/bin/env bash
# Takes down what deploy/minikube/up.sh brought up (`just down-minikube`): the suite's release,
# PostgreSQL and its data, Redpanda, Dapr and the monitoring stack, then stops Minikube. Safe to
# run again: whatever is already gone is skipped.
#
#   deploy/minikube/down.sh [--dry-run] [--delete]
#
# --dry-run  print every command, run none
# --delete   delete the Minikube cluster instead of stopping it
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$repo"

dry_run=0 delete=0
for arg in "$@"; do
    case "$arg" in
        --dry-run) dry_run=1 ;;
        --delete) delete=1 ;;
        -h|--help) sed -n '2,9p' "${BASH_SOURCE[0]}"; exit 0 ;;
        *) echo "down.sh: unknown argument: $arg" >&2; exit 2 ;;
    esac
done
namespace="${NAMESPACE:-todo-suite}"

run() {
    printf '+'; printf ' %q' "$@"; printf '\n'
    if [ "$dry_run" = 0 ]; then "$@"; fi
}
# uninstall RELEASE NAMESPACE: helm uninstall, if the release is there.
uninstall() {
    if [ "$dry_run" = 0 ] && ! helm status "$1" --namespace "$2" >/dev/null 2>&1; then
        echo "gone: $1"
        return
    fi
    run helm uninstall "$1" --namespace "$2" --wait
}

if [ "$dry_run" = 0 ] && ! minikube status --format '{{.APIServer}}' 2>/dev/null | grep -q Running; then
    echo "Minikube is not running: nothing to take down"
else
    uninstall todo-suite "$namespace"
    run kubectl delete --namespace "$namespace" --ignore-not-found -f deploy/minikube/postgres.yaml
    run kubectl delete namespace "$namespace" --ignore-not-found
    uninstall kube-prometheus-stack monitoring
    uninstall redpanda redpanda
    uninstall dapr dapr-system
    run kubectl delete namespace monitoring redpanda dapr-system --ignore-not-found
fi
if [ "$delete" = 1 ]; then
    run minikube delete
else
    run minikube stop
fi
