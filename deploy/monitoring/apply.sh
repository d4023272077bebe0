#!/usr/bin/env bash
# Applies the suite's monitoring to a cluster running the Prometheus Operator and Grafana
# (kube-prometheus-stack with kube-prometheus-stack-values.yaml): the PodMonitors, the
# PrometheusRule, and the dashboard as a ConfigMap labelled grafana_dashboard=1 (made from
# grafana/todo-suite.json, its one source). Run by deploy/minikube/up.sh --with-monitoring and
# by the deploy workflow.
#
#   deploy/monitoring/apply.sh [--namespace monitoring] [--dry-run]
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
namespace=monitoring dry_run=0
while [ $# -gt 0 ]; do
    case "$1" in
        --namespace) namespace="${2:?}"; shift 2 ;;
        --dry-run) dry_run=1; shift ;;
        -h|--help) sed -n '2,8p' "${BASH_SOURCE[0]}"; exit 0 ;;
        *) echo "apply.sh: unknown argument: $1" >&2; exit 2 ;;
    esac
done

run() {
    printf '+'; printf ' %q' "$@"; printf '\n'
    if [ "$dry_run" = 0 ]; then "$@"; fi
}

run kubectl apply --namespace "$namespace" -f "$here/podmonitors.yaml" -f "$here/prometheus-rules.yaml"
printf '+ kubectl create configmap todo-suite-dashboard --namespace %s --from-file=todo-suite.json=%s --dry-run=client -o yaml | kubectl label --local -f - grafana_dashboard=1 -o yaml | kubectl apply -f -\n' \
    "$namespace" "$here/grafana/todo-suite.json"
if [ "$dry_run" = 0 ]; then
    kubectl create configmap todo-suite-dashboard --namespace "$namespace" \
        --from-file=todo-suite.json="$here/grafana/todo-suite.json" --dry-run=client -o yaml \
        | kubectl label --local -f - grafana_dashboard=1 -o yaml \
        | kubectl apply -f -
fi
