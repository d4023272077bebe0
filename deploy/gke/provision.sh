#!/usr/bin/env bash
# Provisions everything Todo Suite needs on Google Cloud, once per project; safe to run again
# (every step checks before it creates). Then .github/workflows/deploy-gke.yaml deploys each
# commit of main.
#
#   deploy/gke/provision.sh --project ID --github-repo OWNER/NAME [--region R] [--dry-run]
#
# --dry-run prints every command it would run, and runs none (no gcloud, kubectl or helm is
# needed for it). Other settings come from the environment (defaults in brackets): CLUSTER
# [todo-suite], NAMESPACE [todo-suite], AR_REPOSITORY [todo-suite], SQL_INSTANCE
# [todo-suite-pg], the chart versions below.
#
# What it creates, and why:
# - APIs; an Artifact Registry Docker repository (the images, tagged with the commit SHA).
# - A GKE **Standard** regional cluster (one e2-standard-4 node per zone, autoscaled to 3):
#   Redpanda's broker wants a node it can tune and a predictable CPU, which Autopilot's pod
#   sandboxing and per-pod sizing get in the way of; Dapr's control plane and Redpanda are
#   long-lived StatefulSets that fill nodes anyway. Dataplane V2 enforces the chart's
#   NetworkPolicies; Workload Identity is on; nodes run as a service account that can only write
#   logs and metrics and pull images.
# - **Cloud SQL for PostgreSQL** (private IP, regional HA, daily backups, point-in-time
#   recovery), not an in-cluster database: the task store and the audit log are the data that
#   must survive, and backups, failover, patching and storage growth are then Google's. The
#   databases `todo` (Dapr's state stores) and `audit` (audit_logs), one user.
# - Workload Identity Federation for GitHub Actions, no JSON keys: a pool, a provider that
#   accepts only this repository's main branch, and a deployer service account it may
#   impersonate, allowed to push images to this one repository, to see the cluster, and (by
#   Kubernetes RBAC) to manage objects only in the suite's namespaces.
# - In the cluster, by their Helm charts: cert-manager, Dapr 1.18.3 (HA, Scheduler included),
#   Redpanda (3 brokers, SASL/SCRAM over TLS), ingress-nginx, kube-prometheus-stack; and the
#   suite's Secrets: todo-suite-postgres, todo-suite (signing and page-token keys, audit's
#   database URL), todo-suite-kafka, todo-suite-kafka-ca. Passwords and keys are generated once
#   and never printed.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
usage() { sed -n '2,12p' "${BASH_SOURCE[0]}" >&2; exit 2; }

project="" github_repo="" region="europe-west1" dry_run=0
while [ $# -gt 0 ]; do
    case "$1" in
        --project) project="${2:?}"; shift 2 ;;
        --github-repo) github_repo="${2:?}"; shift 2 ;;
        --region) region="${2:?}"; shift 2 ;;
        --dry-run) dry_run=1; shift ;;
        -h|--help) usage ;;
        *) echo "provision.sh: unknown argument: $1" >&2; usage ;;
    esac
done
[ -n "$project" ] && [ -n "$github_repo" ] || usage
[[ "$github_repo" =~ ^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$ ]] || { echo "provision.sh: --github-repo must be OWNER/NAME" >&2; exit 2; }

cluster="${CLUSTER:-todo-suite}"
namespace="${NAMESPACE:-todo-suite}"
repository="${AR_REPOSITORY:-todo-suite}"
sql_instance="${SQL_INSTANCE:-todo-suite-pg}"
# The charts installed into the cluster, pinned. Dapr's matches the runtime the suite is
# written and checked for (reference/dapr.md); the others are the versions this script was
# written against (not reachable from the machine that checks it: check with
# `helm search repo <chart> --versions` before moving them).
DAPR_VERSION="${DAPR_VERSION:-1.18.3}"
CERT_MANAGER_VERSION="${CERT_MANAGER_VERSION:-v1.19.1}"
REDPANDA_CHART_VERSION="${REDPANDA_CHART_VERSION:-25.1.3}"
INGRESS_NGINX_VERSION="${INGRESS_NGINX_VERSION:-4.13.3}"
KUBE_PROMETHEUS_STACK_VERSION="${KUBE_PROMETHEUS_STACK_VERSION:-77.12.0}"
OTEL_COLLECTOR_CHART_VERSION="${OTEL_COLLECTOR_CHART_VERSION:-0.136.1}"

nodes_sa="todo-suite-nodes@$project.iam.gserviceaccount.com"
deployer_sa="todo-suite-deployer@$project.iam.gserviceaccount.com"
otel_sa="todo-suite-otel@$project.iam.gserviceaccount.com"
pool=github
provider=github-actions

# run CMD...: prints the command, then runs it (unless --dry-run).
run() {
    printf '+'; printf ' %q' "$@"; printf '\n'
    if [ "$dry_run" = 0 ]; then "$@"; fi
}
# exists CMD...: whether a describe/get command succeeds; under --dry-run it prints the check
# and answers "no", so every create that would follow is printed too.
exists() {
    if [ "$dry_run" = 1 ]; then
        printf '+ (check)'; printf ' %q' "$@"; printf '\n'
        return 1
    fi
    "$@" >/dev/null 2>&1
}
# ensure "what" CHECK... -- CREATE...: runs CREATE unless CHECK succeeds.
ensure() {
    local what=$1 check=() create=()
    shift
    while [ "$1" != -- ]; do check+=("$1"); shift; done
    shift
    create=("$@")
    if exists "${check[@]}"; then
        echo "exists: $what"
    else
        run "${create[@]}"
    fi
}
# random_secret: 32 random bytes, hex; never printed.
random_secret() { head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n'; }
# kube_secret NAMESPACE NAME KEY=VALUE...: creates or updates a Secret; the command is printed
# with the values elided.
kube_secret() {
    local ns=$1 name=$2 args=() shown=()
    shift 2
    for pair in "$@"; do
        args+=(--from-literal="$pair")
        shown+=(--from-literal="${pair%%=*}=…")
    done
    printf '+ kubectl create secret generic %s --namespace %s' "$name" "$ns"
    printf ' %s' "${shown[@]}"
    printf ' --dry-run=client -o yaml | kubectl apply -f -\n'
    if [ "$dry_run" = 0 ]; then
        kubectl create secret generic "$name" --namespace "$ns" "${args[@]}" --dry-run=client -o yaml \
            | kubectl apply -f -
    fi
}
# existing_secret_value NAMESPACE NAME KEY: the key's value if the Secret exists (to keep
# passwords across runs), else nothing.
existing_secret_value() {
    [ "$dry_run" = 0 ] || return 0
    kubectl get secret "$2" --namespace "$1" -o "jsonpath={.data.$3}" 2>/dev/null | base64 -d 2>/dev/null || true
}

echo "== project $project, region $region, cluster $cluster, namespace $namespace"
run gcloud config set project "$project"

echo "== APIs"
run gcloud services enable container.googleapis.com artifactregistry.googleapis.com \
    iam.googleapis.com iamcredentials.googleapis.com sts.googleapis.com sqladmin.googleapis.com \
    servicenetworking.googleapis.com compute.googleapis.com cloudtrace.googleapis.com

echo "== Artifact Registry"
ensure "repository $repository" \
    gcloud artifacts repositories describe "$repository" --location "$region" -- \
    gcloud artifacts repositories create "$repository" --location "$region" \
        --repository-format docker --description "Todo Suite images, tagged with the commit SHA"

echo "== service accounts"
ensure "service account $nodes_sa" gcloud iam service-accounts describe "$nodes_sa" -- \
    gcloud iam service-accounts create todo-suite-nodes --display-name "Todo Suite GKE nodes"
for role in roles/logging.logWriter roles/monitoring.metricWriter roles/monitoring.viewer \
    roles/stackdriver.resourceMetadata.writer roles/artifactregistry.reader; do
    run gcloud projects add-iam-policy-binding "$project" --condition None \
        --member "serviceAccount:$nodes_sa" --role "$role"
done
ensure "service account $deployer_sa" gcloud iam service-accounts describe "$deployer_sa" -- \
    gcloud iam service-accounts create todo-suite-deployer --display-name "Todo Suite deployer (GitHub Actions)"
run gcloud artifacts repositories add-iam-policy-binding "$repository" --location "$region" \
    --member "serviceAccount:$deployer_sa" --role roles/artifactregistry.writer
# Enough to get the cluster's credentials; what it may do inside is Kubernetes RBAC (below).
run gcloud projects add-iam-policy-binding "$project" --condition None \
    --member "serviceAccount:$deployer_sa" --role roles/container.clusterViewer
# The OpenTelemetry collector writes traces to Cloud Trace as this account (Workload Identity:
# the collector's Kubernetes service account impersonates it, no key).
ensure "service account $otel_sa" gcloud iam service-accounts describe "$otel_sa" -- \
    gcloud iam service-accounts create todo-suite-otel --display-name "Todo Suite OpenTelemetry collector"
run gcloud projects add-iam-policy-binding "$project" --condition None \
    --member "serviceAccount:$otel_sa" --role roles/cloudtrace.agent
run gcloud iam service-accounts add-iam-policy-binding "$otel_sa" --role roles/iam.workloadIdentityUser \
    --member "serviceAccount:$project.svc.id.goog[observability/opentelemetry-collector]"

echo "== Workload Identity Federation for GitHub Actions ($github_repo, main only)"
ensure "pool $pool" gcloud iam workload-identity-pools describe "$pool" --location global -- \
    gcloud iam workload-identity-pools create "$pool" --location global --display-name "GitHub Actions"
ensure "provider $provider" \
    gcloud iam workload-identity-pools providers describe "$provider" --location global \
        --workload-identity-pool "$pool" -- \
    gcloud iam workload-identity-pools providers create-oidc "$provider" --location global \
        --workload-identity-pool "$pool" --display-name "GitHub Actions OIDC" \
        --issuer-uri https://token.actions.githubusercontent.com \
        --attribute-mapping "google.subject=assertion.sub,attribute.repository=assertion.repository,attribute.ref=assertion.ref" \
        --attribute-condition "assertion.repository == '$github_repo' && assertion.ref == 'refs/heads/main'"
if [ "$dry_run" = 1 ]; then
    project_number="PROJECT_NUMBER"
    echo "+ (read) gcloud projects describe $project --format 'value(projectNumber)'"
else
    project_number="$(gcloud projects describe "$project" --format 'value(projectNumber)')"
fi
run gcloud iam service-accounts add-iam-policy-binding "$deployer_sa" \
    --role roles/iam.workloadIdentityUser \
    --member "principalSet://iam.googleapis.com/projects/$project_number/locations/global/workloadIdentityPools/$pool/attribute.repository/$github_repo"

echo "== network: private services access for Cloud SQL's private IP"
ensure "address range google-managed-services-default" \
    gcloud compute addresses describe google-managed-services-default --global -- \
    gcloud compute addresses create google-managed-services-default --global \
        --purpose VPC_PEERING --prefix-length 20 --network default
ensure "peering servicenetworking" \
    bash -c "gcloud services vpc-peerings list --network default --format 'value(peering)' | grep -q servicenetworking" -- \
    gcloud services vpc-peerings connect --service servicenetworking.googleapis.com \
        --ranges google-managed-services-default --network default

echo "== GKE Standard cluster"
ensure "cluster $cluster" gcloud container clusters describe "$cluster" --location "$region" -- \
    gcloud container clusters create "$cluster" --location "$region" \
        --release-channel regular \
        --machine-type e2-standard-4 --num-nodes 1 \
        --enable-autoscaling --min-nodes 1 --max-nodes 3 \
        --service-account "$nodes_sa" \
        --workload-pool "$project.svc.id.goog" --workload-metadata GKE_METADATA \
        --enable-dataplane-v2 --enable-ip-alias \
        --enable-shielded-nodes --shielded-secure-boot --shielded-integrity-monitoring \
        --logging SYSTEM,WORKLOAD --monitoring SYSTEM --no-enable-managed-prometheus
run gcloud container clusters get-credentials "$cluster" --location "$region"

echo "== Cloud SQL for PostgreSQL (private IP, regional, backups)"
ensure "instance $sql_instance" gcloud sql instances describe "$sql_instance" -- \
    gcloud sql instances create "$sql_instance" --region "$region" \
        --database-version POSTGRES_17 --edition ENTERPRISE --tier db-custom-2-7680 \
        --availability-type REGIONAL --storage-auto-increase \
        --network default --no-assign-ip \
        --backup-start-time 02:00 --enable-point-in-time-recovery \
        --deletion-protection
for database in todo audit; do
    ensure "database $database" gcloud sql databases describe "$database" --instance "$sql_instance" -- \
        gcloud sql databases create "$database" --instance "$sql_instance"
done
db_password="$(existing_secret_value "$namespace" todo-suite-postgres password)"
[ -n "$db_password" ] || db_password="$(random_secret)"
# set-password creates the user's password or resets it to the kept one: idempotent.
printf '+ gcloud sql users create todo --instance %s --password … (or set-password when it exists)\n' "$sql_instance"
if [ "$dry_run" = 0 ]; then
    if gcloud sql users describe todo --instance "$sql_instance" >/dev/null 2>&1; then
        gcloud sql users set-password todo --instance "$sql_instance" --password "$db_password"
    else
        gcloud sql users create todo --instance "$sql_instance" --password "$db_password"
    fi
    db_host="$(gcloud sql instances describe "$sql_instance" --format 'value(ipAddresses[0].ipAddress)')"
else
    db_host="CLOUD_SQL_PRIVATE_IP"
    echo "+ (read) gcloud sql instances describe $sql_instance --format 'value(ipAddresses[0].ipAddress)'"
fi

echo "== namespaces"
for ns in "$namespace" monitoring observability redpanda; do
    printf '+ kubectl create namespace %s --dry-run=client -o yaml | kubectl apply -f -\n' "$ns"
    if [ "$dry_run" = 0 ]; then kubectl create namespace "$ns" --dry-run=client -o yaml | kubectl apply -f -; fi
done
# The deployer may manage everything in the suite's namespace and the monitoring objects, and
# nothing else in the cluster.
for ns in "$namespace" monitoring; do
    printf '+ kubectl create rolebinding todo-suite-deployer --clusterrole admin --user %s --namespace %s --dry-run=client -o yaml | kubectl apply -f -\n' "$deployer_sa" "$ns"
    if [ "$dry_run" = 0 ]; then
        kubectl create rolebinding todo-suite-deployer --clusterrole admin --user "$deployer_sa" \
            --namespace "$ns" --dry-run=client -o yaml | kubectl apply -f -
    fi
done

echo "== Helm repositories"
run helm repo add dapr https://dapr.github.io/helm-charts/ --force-update
run helm repo add jetstack https://charts.jetstack.io --force-update
run helm repo add redpanda https://charts.redpanda.com --force-update
run helm repo add ingress-nginx https://kubernetes.github.io/ingress-nginx --force-update
run helm repo add prometheus-community https://prometheus-community.github.io/helm-charts --force-update
run helm repo add open-telemetry https://open-telemetry.github.io/opentelemetry-helm-charts --force-update
run helm repo update

echo "== cert-manager (Redpanda's TLS certificates; the Ingress certificate todo-suite-tls is yours to issue)"
run helm upgrade --install cert-manager jetstack/cert-manager --version "$CERT_MANAGER_VERSION" \
    --namespace cert-manager --create-namespace --set crds.enabled=true --wait

echo "== Dapr $DAPR_VERSION (HA; Scheduler included)"
run helm upgrade --install dapr dapr/dapr --version "$DAPR_VERSION" \
    --namespace dapr-system --create-namespace --set global.ha.enabled=true --wait

echo "== Redpanda (SASL/SCRAM over TLS)"
kafka_admin_password="$(existing_secret_value redpanda redpanda-superusers admin-password)"
[ -n "$kafka_admin_password" ] || kafka_admin_password="$(random_secret)"
kafka_password="$(existing_secret_value "$namespace" todo-suite-kafka password)"
[ -n "$kafka_password" ] || kafka_password="$(random_secret)"
# Redpanda reads its SASL users from this Secret's users.txt (user:password:mechanism a line);
# the chart makes them superusers. The broker serves only the suite; on a shared broker, give
# todo-suite its own user with ACLs on the suite's topics and groups instead.
kube_secret redpanda redpanda-superusers \
    "users.txt=admin:$kafka_admin_password:SCRAM-SHA-512
todo-suite:$kafka_password:SCRAM-SHA-512" "admin-password=$kafka_admin_password"
run helm upgrade --install redpanda redpanda/redpanda --version "$REDPANDA_CHART_VERSION" \
    --namespace redpanda --values "$here/redpanda-values.yaml" --wait --timeout 15m

echo "== ingress-nginx, kube-prometheus-stack"
run helm upgrade --install ingress-nginx ingress-nginx/ingress-nginx --version "$INGRESS_NGINX_VERSION" \
    --namespace ingress-nginx --create-namespace --wait
run helm upgrade --install kube-prometheus-stack prometheus-community/kube-prometheus-stack \
    --version "$KUBE_PROMETHEUS_STACK_VERSION" --namespace monitoring \
    --values "$here/../monitoring/kube-prometheus-stack-values.yaml" --wait --timeout 15m

echo "== OpenTelemetry collector (OTLP in, Cloud Trace out)"
run helm upgrade --install opentelemetry-collector open-telemetry/opentelemetry-collector \
    --version "$OTEL_COLLECTOR_CHART_VERSION" --namespace observability \
    --values "$here/otel-collector-values.yaml" \
    --set-string "serviceAccount.annotations.iam\.gke\.io/gcp-service-account=$otel_sa" --wait

echo "== the suite's Secrets (generated once, kept on later runs)"
jwt_key="$(existing_secret_value "$namespace" todo-suite jwt-signing-key)"
[ -n "$jwt_key" ] || jwt_key="$(random_secret)"
page_key="$(existing_secret_value "$namespace" todo-suite page-token-key)"
[ -n "$page_key" ] || page_key="$(random_secret)"
kube_secret "$namespace" todo-suite-postgres \
    "connection-string=host=$db_host port=5432 user=todo password=$db_password dbname=todo sslmode=require" \
    "password=$db_password"
kube_secret "$namespace" todo-suite "jwt-signing-key=$jwt_key" "page-token-key=$page_key" \
    "audit-database-url=postgres://todo:$db_password@$db_host:5432/audit?sslmode=require"
kube_secret "$namespace" todo-suite-kafka "username=todo-suite" "password=$kafka_password"
printf '+ kubectl get secret redpanda-default-root-certificate --namespace redpanda -o jsonpath={.data.ca\\.crt} | base64 -d > CA; kubectl create secret generic todo-suite-kafka-ca --from-file=ca.crt=CA …\n'
if [ "$dry_run" = 0 ]; then
    ca="$(kubectl get secret redpanda-default-root-certificate --namespace redpanda -o 'jsonpath={.data.ca\.crt}' | base64 -d)"
    kubectl create secret generic todo-suite-kafka-ca --namespace "$namespace" --from-literal=ca.crt="$ca" \
        --dry-run=client -o yaml | kubectl apply -f -
fi

echo "== done. Set these repository variables (Settings → Secrets and variables → Actions):"
echo "GCP_PROJECT_ID=$project"
echo "GCP_REGION=$region"
echo "GKE_CLUSTER=$cluster"
echo "GCP_DEPLOY_SERVICE_ACCOUNT=$deployer_sa"
echo "GCP_WORKLOAD_IDENTITY_PROVIDER=projects/$project_number/locations/global/workloadIdentityPools/$pool/providers/$provider"
