#!/usr/bin/env bash
# Give gridshift an account in a MEMBER cluster and register that cluster in the HUB.
#
#   hack/member-account.sh --name hubei --zone hubei \
#       --member-context hubei-admin --hub-context hub-admin [options]
#
# In the member cluster (kubectl only, as its admin):
#   1. applies manifests/rbac/member-cluster-rbac.yaml: namespace, ServiceAccount, ClusterRole
#      and ClusterRoleBinding (exactly what gridshift calls there);
#   2. creates a long-lived token Secret for the ServiceAccount and waits for its token;
#   3. writes a kubeconfig holding only that token and the cluster's CA.
# In the hub:
#   4. creates (or updates) the Secret NAMESPACE/member-NAME with that kubeconfig (key kubeconfig);
#   5. server-side applies the MemberCluster NAME (zone, kubeconfigSecretRef); fields set by
#      others (traffic, maxGPUs) are kept.
#
# Options:
#   --name NAME               MemberCluster name (required)
#   --zone ZONE               GridZone the cluster draws power from (required)
#   --member-context CTX      kubectl context of the member cluster (default: current context)
#   --member-kubeconfig FILE  kubeconfig file of the member cluster (default: kubectl's own)
#   --hub-context CTX         kubectl context of the hub (default: current context)
#   --hub-kubeconfig FILE     kubeconfig file of the hub (default: kubectl's own)
#   --namespace NS            gridshift's namespace, in the member and in the hub
#                             (default: gridshift-system)
#   --service-account SA      ServiceAccount in the member (default: gridshift)
#   --server URL              API server URL the hub's gridshift uses to reach the member
#                             (default: the member context's server)
#   --secret NAME             Secret in the hub (default: member-NAME)
#   --kubeconfig-out FILE     also keep the written kubeconfig in FILE (it holds a token)
#   --kubectl PATH            kubectl binary (default: kubectl on PATH)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
RBAC="$HERE/../manifests/rbac/member-cluster-rbac.yaml"

name="" zone="" member_context="" member_kubeconfig="" hub_context="" hub_kubeconfig=""
namespace=gridshift-system service_account=gridshift server="" secret="" out="" kubectl=kubectl

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2; exit 2; }
log() { printf '[member-account] %s\n' "$*" >&2; }
fail() { printf '[member-account] FAILED: %s\n' "$*" >&2; exit 1; }

while [[ $# -gt 0 ]]; do
  case $1 in
    --name) name=$2; shift 2 ;;
    --zone) zone=$2; shift 2 ;;
    --member-context) member_context=$2; shift 2 ;;
    --member-kubeconfig) member_kubeconfig=$2; shift 2 ;;
    --hub-context) hub_context=$2; shift 2 ;;
    --hub-kubeconfig) hub_kubeconfig=$2; shift 2 ;;
    --namespace) namespace=$2; shift 2 ;;
    --service-account) service_account=$2; shift 2 ;;
    --server) server=$2; shift 2 ;;
    --secret) secret=$2; shift 2 ;;
    --kubeconfig-out) out=$2; shift 2 ;;
    --kubectl) kubectl=$2; shift 2 ;;
    -h|--help) usage ;;
    *) printf 'unknown option %s\n' "$1" >&2; usage ;;
  esac
done
[[ -n $name && -n $zone ]] || { printf '--name and --zone are required\n' >&2; usage; }
dns='^[a-z0-9]([-a-z0-9]*[a-z0-9])?$'
for value in "$name" "$zone" "$namespace" "$service_account"; do
  [[ $value =~ $dns && ${#value} -le 63 ]] || fail "'$value' is not a DNS label"
done
secret=${secret:-member-$name}
[[ -f $RBAC ]] || fail "missing $RBAC"

member=("$kubectl")
[[ -n $member_kubeconfig ]] && member+=(--kubeconfig "$member_kubeconfig")
[[ -n $member_context ]] && member+=(--context "$member_context")
hub=("$kubectl")
[[ -n $hub_kubeconfig ]] && hub+=(--kubeconfig "$hub_kubeconfig")
[[ -n $hub_context ]] && hub+=(--context "$hub_context")

# 1. the account and its RBAC in the member (names substituted when not the defaults)
log "applying gridshift's RBAC in member cluster $name (namespace $namespace, account $service_account)"
sed -e "s/^  name: gridshift-system$/  name: $namespace/" \
    -e "s/^  namespace: gridshift-system$/  namespace: $namespace/" \
    -e "s/^    namespace: gridshift-system$/    namespace: $namespace/" \
    -e "s/^  name: gridshift$/  name: $service_account/" \
    -e "s/^    name: gridshift$/    name: $service_account/" \
    "$RBAC" | "${member[@]}" apply --server-side --field-manager=gridshift-member-account -f - >&2

# 2. a long-lived token (a Secret of type service-account-token, filled by the token controller)
token_secret="$service_account-token"
"${member[@]}" apply --server-side --field-manager=gridshift-member-account -f - >&2 <<EOF
apiVersion: v1
kind: Secret
type: kubernetes.io/service-account-token
metadata:
  name: $token_secret
  namespace: $namespace
  annotations:
    kubernetes.io/service-account.name: $service_account
EOF
token=""
for _ in $(seq 1 60); do
  token=$("${member[@]}" -n "$namespace" get secret "$token_secret" -o jsonpath='{.data.token}')
  [[ -n $token ]] && break
  sleep 1
done
[[ -n $token ]] || fail "the token controller did not fill Secret $namespace/$token_secret in 60 s"
ca=$("${member[@]}" -n "$namespace" get secret "$token_secret" -o jsonpath='{.data.ca\.crt}')
[[ -n $ca ]] || fail "Secret $namespace/$token_secret has no ca.crt"
if [[ -z $server ]]; then
  server=$("${member[@]}" config view --minify -o jsonpath='{.clusters[0].cluster.server}')
fi
[[ -n $server ]] || fail "no server URL for the member; pass --server"

# 3. a kubeconfig holding only that token
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
kubeconfig="$work/kubeconfig"
umask 077
cat >"$kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
  - name: $name
    cluster:
      server: $server
      certificate-authority-data: $ca
users:
  - name: $service_account
    user:
      token: $(printf '%s' "$token" | base64 -d)
contexts:
  - name: $name
    context:
      cluster: $name
      user: $service_account
current-context: $name
EOF
"$kubectl" --kubeconfig "$kubeconfig" auth can-i list nodes >/dev/null 2>&1 \
  || fail "the new account cannot list nodes in $name at $server"
[[ -n $out ]] && cp "$kubeconfig" "$out" && log "kubeconfig kept in $out"

# 4. the kubeconfig Secret in the hub
log "writing Secret $namespace/$secret in the hub"
"${hub[@]}" create namespace "$namespace" --dry-run=client -o yaml \
  | "${hub[@]}" apply --server-side --field-manager=gridshift-member-account -f - >&2
"${hub[@]}" -n "$namespace" create secret generic "$secret" \
  --from-file=kubeconfig="$kubeconfig" --dry-run=client -o yaml \
  | "${hub[@]}" apply --server-side --force-conflicts --field-manager=gridshift-member-account \
    -f - >&2

# 5. the MemberCluster
log "applying MemberCluster $name (zone $zone) in the hub"
"${hub[@]}" apply --server-side --field-manager=gridshift-member-account -f - >&2 <<EOF
apiVersion: gridshift.io/v1alpha1
kind: MemberCluster
metadata:
  name: $name
spec:
  zone: $zone
  kubeconfigSecretRef:
    name: $secret
    namespace: $namespace
    key: kubeconfig
EOF
log "done: MemberCluster $name uses ServiceAccount $namespace/$service_account of its cluster"
