#!/usr/bin/env bash
# Deploy Signight to Kubernetes and release new versions of the server (docs/operations.md,
# "Kubernetes" and "Releasing a new version").
#
#   ./deploy.sh                            build TAG, push it to REGISTRY, roll k8s/base out on it
#   ./deploy.sh rolling IMAGE              roll k8s/base out on IMAGE (no build)
#   ./deploy.sh canary IMAGE [--weight N]  k8s/overlays/canary: websocket-server-canary on IMAGE
#                                          beside the stable track, N% of new connections and
#                                          requests (0-100, default 10)
#   ./deploy.sh canary --weight N          change a running canary's share
#   ./deploy.sh canary --promote           once the canary is ready and errs no more than stable
#                                          (Prometheus), stable runs its image; canary to 0
#   ./deploy.sh canary --abort             everyone back to stable, canary scaled to 0
#   ./deploy.sh blue-green IMAGE           k8s/overlays/blue-green: the idle colour on IMAGE,
#                                          no player moved
#   ./deploy.sh blue-green --switch        the routes to the idle colour, the old one to 0
#   ./deploy.sh blue-green --rollback      the routes back to the other colour
#
#   SECRETS_ENV=~/signight-secrets.env JWT_AUDIENCE=my-game REGISTRY=registry.example.com ./deploy.sh
#
# IMAGE is name:tag or name:tag@sha256:<digest>. Its tag becomes the pods' `version` label, which
# every metric carries (SIGNIGHT_VERSION); a WebSocket already open stays on its pod through a
# weight change or a switch, and a pod scaled away drains through SIGTERM (its players resume).
# Each subcommand prints what it will change, then does it. Migrations run before any new pod
# starts and must work with the release still serving. The overlays' routes are applied last,
# once the Deployments they send players to have rolled out.
#
# SECRETS_ENV          required to apply k8s/ (no argument, rolling, canary IMAGE, blue-green
#                      IMAGE): a KEY=VALUE file with DJANGO_SECRET_KEY (32+ characters),
#                      MONGODB_URL, and JWT_SECRET (HS256) or a one-line JWT_PUBLIC_KEY (RS256).
#                      It replaces k8s/base/secret.yaml, whose placeholders never reach a cluster.
# JWT_AUDIENCE         required to apply k8s/: the `aud` of your issuer's tokens for this game;
#                      set in the ConfigMap and the mesh's RequestAuthentication (k8s/ holds a
#                      placeholder).
# JWT_PUBLIC_KEY_FILE  optional: a PEM file for JWT_PUBLIC_KEY (use it for multi-line keys).
# TAG                  no argument only: the image tag; default: the current git commit.
# REGISTRY             no argument only: push the image to REGISTRY/signight/websocket-server:TAG.
#                      Without it the image stays local: the cluster must see it (kind load
#                      docker-image, minikube).
# ROLLOUT_TIMEOUT      how long to wait for the migration and each rollout (default 300s).
# PROMETHEUS_URL       required by canary --promote: the Prometheus that scrapes the server pods
#                      (its /api/v1/query is asked with curl).
# PROMOTE_INTERVAL     canary --promote: seconds between two looks at the canary (default 30).
# PROMOTE_TIMEOUT      canary --promote: seconds before giving up, changing nothing (default 600).
set -euo pipefail

NAMESPACE=websocket
IMAGE_NAME=signight/websocket-server
SERVER=websocket-server
CANARY=websocket-server-canary
MIGRATE_JOB=websocket-migrate
# A Kubernetes label value (the `version` label carries the image tag).
LABEL_VALUE='^[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$'
# What the cluster may answer for an image (it is written into JSON and YAML unquoted otherwise).
IMAGE_REFERENCE='^[A-Za-z0-9][A-Za-z0-9._:/@-]*$'
# The overlays' VirtualService carries this label in deploy.sh's overlay, so that the routes can
# be applied last: only once the pods they send players to are ready.
ROUTES_LABEL=app.kubernetes.io/component
ROUTES_LABEL_POINTER='app.kubernetes.io~1component' # in a JSON patch path
SERVER_IMAGE_PATH='{.spec.template.spec.containers[?(@.name=="websocket-server")].image}'
VERSION_PATH='{.spec.template.metadata.labels.version}'
READINESS_PATH='{.spec.replicas} {.status.readyReplicas}'
LIVE_COLOUR_PATH='{.spec.http[2].route[0].destination.subset}'

die() {
  printf 'deploy.sh: %s\n' "$*" >&2
  exit 1
}

# Built-ins only (printf): it runs before any tool is known to exist.
usage() {
  printf '%s\n' \
    "usage: ./deploy.sh                             build, push and roll out (TAG, REGISTRY)" \
    "       ./deploy.sh rolling IMAGE" \
    "       ./deploy.sh canary IMAGE [--weight N]   N: 0-100, default 10" \
    "       ./deploy.sh canary --weight N" \
    "       ./deploy.sh canary --promote            needs PROMETHEUS_URL" \
    "       ./deploy.sh canary --abort" \
    "       ./deploy.sh blue-green IMAGE" \
    "       ./deploy.sh blue-green --switch" \
    "       ./deploy.sh blue-green --rollback" \
    "IMAGE: name:tag or name:tag@sha256:<digest>; see the header of deploy.sh for the variables"
}

usage_error() {
  printf 'deploy.sh: %s\n' "$*" >&2
  usage >&2
  exit 2
}

# --- Arguments: all checked before any tool runs ----------------------------------------------

# Sets subcommand (build, rolling, canary, blue-green), action (release, weight, promote, abort,
# switch, rollback), release_image and weight.
parse_arguments() {
  subcommand=build action=release release_image="" weight=""
  local weight_given="" flag=""
  (($# == 0)) && return 0
  case "$1" in
    rolling | canary | blue-green) subcommand="$1" ;;
    -h | --help)
      usage
      exit 0
      ;;
    *) usage_error "unknown subcommand: $1" ;;
  esac
  shift
  while (($# > 0)); do
    case "$1" in
      --weight | --weight=*)
        [[ "$subcommand" == canary ]] || usage_error "--weight is a canary flag"
        if [[ "$1" == --weight ]]; then
          (($# >= 2)) || usage_error "--weight needs a number (0-100)"
          weight="$2"
          shift
        else
          weight="${1#--weight=}"
        fi
        weight_given=yes
        ;;
      --promote | --abort)
        [[ "$subcommand" == canary ]] || usage_error "$1 is a canary flag"
        [[ -z "$flag" ]] || usage_error "$flag and $1 do not go together"
        flag="$1"
        ;;
      --switch | --rollback)
        [[ "$subcommand" == blue-green ]] || usage_error "$1 is a blue-green flag"
        [[ -z "$flag" ]] || usage_error "$flag and $1 do not go together"
        flag="$1"
        ;;
      -*) usage_error "unknown flag: $1" ;;
      *)
        [[ -z "$release_image" ]] || usage_error "one IMAGE only (got $release_image and $1)"
        release_image="$1"
        ;;
    esac
    shift
  done
  if [[ -n "$weight_given" ]] && ! [[ "$weight" =~ ^(100|[1-9]?[0-9])$ ]]; then
    usage_error "--weight $weight is not a whole number from 0 to 100"
  fi
  if [[ -n "$flag" ]]; then
    [[ -z "$release_image" ]] || usage_error "$flag takes no IMAGE"
    [[ -z "$weight_given" ]] || usage_error "$flag and --weight do not go together"
    action="${flag#--}"
  elif [[ -z "$release_image" && "$subcommand" == canary && -n "$weight_given" ]]; then
    action=weight
  elif [[ -z "$release_image" ]]; then
    usage_error "$subcommand needs an IMAGE"
  fi
  if [[ -n "$release_image" ]]; then
    parse_image "$release_image"
    weight="${weight:-10}"
  fi
}

# Splits IMAGE into image_name, image_tag and image_digest; refuses a reference without a tag.
parse_image() {
  local reference="$1" named
  named="${reference%%@*}"
  image_digest=""
  [[ "$reference" == *@* ]] && image_digest="${reference#*@}"
  [[ "${named##*/}" == *:* ]] ||
    usage_error "IMAGE $reference has no tag: name it name:tag or name:tag@sha256:<digest> (the tag is the pods' version label)"
  image_tag="${named##*:}"
  image_name="${named%:*}"
  [[ "$image_name" =~ ^[A-Za-z0-9][A-Za-z0-9._:/-]*$ ]] ||
    usage_error "IMAGE $reference: $image_name is not an image name"
  [[ "$image_tag" =~ $LABEL_VALUE ]] ||
    usage_error "IMAGE $reference: its tag $image_tag cannot be a version label (letters, digits and . _ -, 63 at most, starting and ending with a letter or digit)"
  [[ -z "$image_digest" || "$image_digest" =~ ^sha256:[0-9a-f]{64}$ ]] ||
    usage_error "IMAGE $reference: $image_digest is not a digest (sha256: and 64 hex digits)"
}

# --- Checks -----------------------------------------------------------------------------------

# Tools first, with shell built-ins only, so that a missing tool is all the output there is.
require_kubectl() {
  command -v kubectl >/dev/null 2>&1 ||
    die "kubectl not found on PATH: install kubectl and point it at your cluster (kubectl config use-context NAME)"
}

require_docker() {
  command -v docker >/dev/null 2>&1 ||
    die "docker not found on PATH: it builds the server image"
}

# What applying k8s/ needs, checked before anything slow.
check_secrets() {
  [[ -n "${SECRETS_ENV:-}" ]] ||
    die "SECRETS_ENV is not set: name a KEY=VALUE file with DJANGO_SECRET_KEY, MONGODB_URL and JWT_SECRET or JWT_PUBLIC_KEY (k8s/base/secret.yaml holds placeholders only)"
  [[ -r "$SECRETS_ENV" ]] || die "SECRETS_ENV=$SECRETS_ENV is not a readable file"
  local key
  for key in DJANGO_SECRET_KEY MONGODB_URL; do
    grep -q "^${key}=." "$SECRETS_ENV" || die "$SECRETS_ENV sets no $key"
  done
  if [[ -z "${JWT_PUBLIC_KEY_FILE:-}" ]] && ! grep -q -E '^JWT_(SECRET|PUBLIC_KEY)=.' "$SECRETS_ENV"; then
    die "$SECRETS_ENV sets neither JWT_SECRET (HS256) nor JWT_PUBLIC_KEY (RS256), and JWT_PUBLIC_KEY_FILE is not set"
  fi
  if grep -q 'REPLACE-ME' "$SECRETS_ENV"; then
    die "$SECRETS_ENV still holds a REPLACE-ME placeholder"
  fi
  [[ -n "${JWT_AUDIENCE:-}" ]] ||
    die "JWT_AUDIENCE is not set: name the audience (aud) of your issuer's tokens for this game (k8s/ holds a REPLACE-ME placeholder)"
  [[ "$JWT_AUDIENCE" =~ ^[A-Za-z0-9._:/-]+$ ]] && [[ "$JWT_AUDIENCE" != *REPLACE-ME* ]] ||
    die "JWT_AUDIENCE=$JWT_AUDIENCE is not an audience (letters, digits and . _ : / - only, no placeholder)"
  if [[ -n "${JWT_PUBLIC_KEY_FILE:-}" ]]; then
    [[ -r "$JWT_PUBLIC_KEY_FILE" ]] || die "JWT_PUBLIC_KEY_FILE=$JWT_PUBLIC_KEY_FILE is not a readable file"
    if grep -q '^JWT_PUBLIC_KEY=' "$SECRETS_ENV"; then
      die "JWT_PUBLIC_KEY is set both in $SECRETS_ENV and by JWT_PUBLIC_KEY_FILE"
    fi
  fi
}

check_cluster() {
  if ! kubectl cluster-info --request-timeout=10s >/dev/null 2>&1; then
    local context
    context="$(kubectl config current-context 2>/dev/null || echo 'none')"
    die "cannot reach the Kubernetes cluster (kubectl cluster-info failed; context: $context)"
  fi
  if ! kubectl get crd gateways.networking.istio.io virtualservices.networking.istio.io \
    authorizationpolicies.security.istio.io >/dev/null 2>&1; then
    die "Istio's CRDs are missing: install Istio in the cluster first (docs/operations.md, \"Istio\")"
  fi
}

# The promotion's own needs, before it prints or waits for anything.
check_promotion_settings() {
  [[ -n "${PROMETHEUS_URL:-}" ]] ||
    die "PROMETHEUS_URL is not set: --promote compares the canary's error rate with stable's in Prometheus (e.g. PROMETHEUS_URL=http://prometheus.monitoring:9090)"
  command -v curl >/dev/null 2>&1 || die "curl not found on PATH: --promote asks Prometheus with it"
  [[ "$PROMOTE_INTERVAL" =~ ^[0-9]+$ ]] || die "PROMOTE_INTERVAL=$PROMOTE_INTERVAL is not a number of seconds"
  [[ "$PROMOTE_TIMEOUT" =~ ^[0-9]+$ ]] || die "PROMOTE_TIMEOUT=$PROMOTE_TIMEOUT is not a number of seconds"
}

# --- The cluster's state ----------------------------------------------------------------------

# One jsonpath of one object; empty when the object or the field does not exist.
cluster_get() {
  kubectl -n "$NAMESPACE" get "$1" "$2" --ignore-not-found -o "jsonpath=$3"
}

# Sets running_image and running_version to what Deployment $1 runs now; fails without it.
read_running() {
  running_image="$(cluster_get deployment "$1" "$SERVER_IMAGE_PATH")" || die "cannot read deployment/$1"
  [[ -n "$running_image" ]] || return 1
  [[ "$running_image" =~ $IMAGE_REFERENCE ]] || die "deployment/$1 runs $running_image, which is no image reference"
  running_version="$(cluster_get deployment "$1" "$VERSION_PATH")" || die "cannot read deployment/$1"
  if [[ -z "$running_version" ]]; then # no label: the tag names it
    running_version="${running_image%%@*}"
    if [[ "${running_version##*/}" == *:* ]]; then
      running_version="${running_version##*:}"
    else
      running_version=""
    fi
  fi
  [[ "$running_version" =~ $LABEL_VALUE ]] ||
    die "deployment/$1 has no usable version label (${running_version:-none})"
}

# Sets replicas and ready (numbers) for Deployment $1; both 0, and exists empty, without it.
read_readiness() {
  local answer
  answer="$(cluster_get deployment "$1" "$READINESS_PATH")" || return 1
  exists="$answer"
  replicas="${answer%% *}"
  ready="${answer#* }"
  [[ "$answer" == *" "* ]] || ready=""
  replicas="${replicas:-0}" ready="${ready:-0}"
}

is_ready() {
  read_readiness "$1" && ((replicas >= 1 && ready == replicas))
}

# The colour that every route goes to now: blue, green, or empty (no blue-green install yet).
read_live_colour() {
  live="$(cluster_get virtualservice "$SERVER" "$LIVE_COLOUR_PATH")" || die "cannot read virtualservice/$SERVER"
  case "$live" in
    "" | blue | green) ;;
    *) die "the routes go to subset $live, not to a colour (a canary install?): finish it (canary --promote or --abort) and ./deploy.sh rolling IMAGE first" ;;
  esac
}

other_colour() {
  if [[ "$1" == blue ]]; then echo green; else echo blue; fi
}

# --- JSON patches (kubectl patch --type=json, and the rendered kustomization) -----------------

# The pod template's first container, named $1, runs image $2; the pods' version label is $3.
workload_ops() {
  printf '[{"op":"test","path":"/spec/template/spec/containers/0/name","value":"%s"},{"op":"replace","path":"/spec/template/spec/containers/0/image","value":"%s"},{"op":"add","path":"/spec/template/metadata/labels/version","value":"%s"}]' \
    "$1" "$2" "$3"
}

version_ops() {
  printf '[{"op":"add","path":"/spec/template/metadata/labels/version","value":"%s"}]' "$1"
}

# The canary overlay's weighted routes (http-api and game-socket) at stable 100-$1, canary $1.
# The tests come first: a patch that would land on another route fails whole.
weights_ops() {
  local tests="" replaces="" route index name
  for route in 2:http-api 4:game-socket; do
    index="${route%%:*}" name="${route#*:}"
    tests+="{\"op\":\"test\",\"path\":\"/spec/http/$index/name\",\"value\":\"$name\"},"
    tests+="{\"op\":\"test\",\"path\":\"/spec/http/$index/route/0/destination/subset\",\"value\":\"stable\"},"
    tests+="{\"op\":\"test\",\"path\":\"/spec/http/$index/route/1/destination/subset\",\"value\":\"canary\"},"
    replaces+="{\"op\":\"replace\",\"path\":\"/spec/http/$index/route/0/weight\",\"value\":$((100 - $1))},"
    replaces+="{\"op\":\"replace\",\"path\":\"/spec/http/$index/route/1/weight\",\"value\":$1},"
  done
  replaces="${replaces%,}"
  printf '[%s%s]' "$tests" "$replaces"
}

# The blue-green overlay's three routes to colour $1 (tested to go to colour $2 now, if given).
colour_ops() {
  local tests="" replaces="" route index name
  for route in 0:health 1:http-api 2:game-socket; do
    index="${route%%:*}" name="${route#*:}"
    tests+="{\"op\":\"test\",\"path\":\"/spec/http/$index/name\",\"value\":\"$name\"},"
    if [[ -n "${2:-}" ]]; then
      tests+="{\"op\":\"test\",\"path\":\"/spec/http/$index/route/0/destination/subset\",\"value\":\"$2\"},"
    fi
    replaces+="{\"op\":\"replace\",\"path\":\"/spec/http/$index/route/0/destination/subset\",\"value\":\"$1\"},"
  done
  replaces="${replaces%,}"
  printf '[%s%s]' "$tests" "$replaces"
}

# One entry of the rendered kustomization's patches: JSON patch $1 of the objects the target
# lines ($2 …, e.g. "kind: Deployment") select.
patch_entry() {
  local ops="$1"
  shift
  printf '  - target:\n'
  printf '      %s\n' "$@"
  printf '    patch: |-\n      %s\n' "$ops"
}

# The overlays' VirtualService, labelled to be applied last (ROUTES_LABEL).
routes_label_entry() {
  patch_entry "[{\"op\":\"add\",\"path\":\"/metadata/labels/$ROUTES_LABEL_POINTER\",\"value\":\"routes\"}]" \
    "group: networking.istio.io" "kind: VirtualService" "name: $SERVER"
}

# --- Steps ------------------------------------------------------------------------------------

# Prints one block: what is about to change ($1, then a line per change).
plan() {
  printf '==> %s\n' "$1"
  shift
  printf '      %s\n' "$@"
}

# The no-argument form: builds TAG (and pushes it with REGISTRY); sets image, TAG and digest.
build_image() {
  if [[ -z "${TAG:-}" ]]; then
    TAG="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null)" || die "set TAG (no git commit to name the image after)"
  fi
  [[ "$TAG" =~ $LABEL_VALUE ]] ||
    die "TAG=$TAG cannot be a version label (letters, digits and . _ -, 63 at most, starting and ending with a letter or digit)"
  image="$IMAGE_NAME:$TAG"
  digest=""
  echo "==> docker build -t $image"
  docker build -t "$image" "$ROOT"
  if [[ -n "${REGISTRY:-}" ]]; then
    image="${REGISTRY%/}/$IMAGE_NAME:$TAG"
    docker tag "$IMAGE_NAME:$TAG" "$image"
    echo "==> docker push $image"
    docker push "$image"
    # Pin what was pushed: the pods run exactly this build even if the tag is pushed again.
    digest="$(docker inspect --format '{{range .RepoDigests}}{{println .}}{{end}}' "$image" |
      grep -m1 "^${image%:*}@" | cut -d@ -f2)" || digest=""
  else
    echo "==> REGISTRY is not set: $image stays local; the cluster must already see it"
  fi
}

# The temporary kustomization (nothing is written into k8s/): resource $1 of a copy of k8s/
# (k8s/base or an overlay) with the real Secret, the audience, images entry $2 and patches $3.
render() {
  overlay="$(mktemp -d)"
  trap 'rm -rf "$overlay"' EXIT
  cp -R "$ROOT/k8s" "$overlay/k8s"
  cp "$SECRETS_ENV" "$overlay/secrets.env"
  local secret_files=""
  if [[ -n "${JWT_PUBLIC_KEY_FILE:-}" ]]; then
    cp "$JWT_PUBLIC_KEY_FILE" "$overlay/jwt_public_key.pem"
    secret_files=$'    files:\n      - JWT_PUBLIC_KEY=jwt_public_key.pem'
  fi
  cat >"$overlay/kustomization.yaml" <<EOF
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - $1
$2
secretGenerator:
  - name: websocket-secrets
    namespace: $NAMESPACE
    behavior: replace
    options:
      disableNameSuffixHash: true
    envs:
      - secrets.env
$secret_files
patches:
  - target:
      kind: ConfigMap
      name: websocket-config
    patch: |-
      - op: replace
        path: /data/JWT_AUDIENCE
        value: "$JWT_AUDIENCE"
  - target:
      kind: RequestAuthentication
      name: websocket-server-jwt
    patch: |-
      - op: replace
        path: /spec/jwtRules/0/audiences
        value: ["$JWT_AUDIENCE"]
$3
EOF
}

# Everything but the server (and, in the overlays, the routes), then the migration Job with the
# new image: it completes before any new server pod starts.
apply_and_migrate() {
  local selector="app!=$SERVER${1:+,$1}"
  # A Job's pod template cannot change: the previous run goes before the new one is applied.
  if kubectl get namespace "$NAMESPACE" >/dev/null 2>&1; then
    kubectl -n "$NAMESPACE" delete job "$MIGRATE_JOB" --ignore-not-found --wait=true
  fi
  echo "==> kubectl apply (datastores, config, Istio policy, migration Job)"
  kubectl apply -k "$overlay" --selector "$selector"

  echo "==> waiting for MongoDB and Redis"
  kubectl -n "$NAMESPACE" rollout status statefulset/mongo --timeout="$ROLLOUT_TIMEOUT"
  kubectl -n "$NAMESPACE" rollout status deployment/redis --timeout="$ROLLOUT_TIMEOUT"

  echo "==> waiting for the migration Job"
  if ! kubectl -n "$NAMESPACE" wait --for=condition=complete "job/$MIGRATE_JOB" --timeout="$ROLLOUT_TIMEOUT"; then
    kubectl -n "$NAMESPACE" logs "job/$MIGRATE_JOB" --all-containers --tail=50 >&2 || true
    die "the migration Job did not complete (its last log lines are above); the server was not rolled out"
  fi
}

rollout() {
  kubectl -n "$NAMESPACE" rollout status "deployment/$1" --timeout="$ROLLOUT_TIMEOUT" ||
    die "deployment/$1 did not roll out within $ROLLOUT_TIMEOUT (kubectl -n $NAMESPACE describe deployment/$1)"
}

scale() {
  kubectl -n "$NAMESPACE" scale "deployment/$1" --replicas="$2"
}

patch_routes() {
  kubectl -n "$NAMESPACE" patch virtualservice "$SERVER" --type=json -p "$1"
}

# The overlays: the Deployments (routes held back), their rollouts ($@), then the routes.
apply_servers_then_routes() {
  local name
  echo "==> kubectl apply (server Deployments)"
  kubectl apply -k "$overlay" --selector "$ROUTES_LABEL!=routes"
  for name in "$@"; do
    rollout "$name"
  done
  echo "==> kubectl apply (routes)"
  kubectl apply -k "$overlay"
}

# Overlay $1 with the release (release_image, image_tag) on track $2, track $3 kept on image $4
# (version $5), the migration Job on the release, and route patch $6 (held back: routes last).
render_release() {
  render "k8s/overlays/$1" "" "$(
    patch_entry "$(workload_ops "$SERVER" "$release_image" "$image_tag")" "kind: Deployment" "labelSelector: track=$2"
    patch_entry "$(workload_ops "$SERVER" "$4" "$5")" "kind: Deployment" "labelSelector: track=$3"
    patch_entry "$(workload_ops migrate "$release_image" "$image_tag")" "kind: Job" "name: $MIGRATE_JOB"
    patch_entry "$6" "group: networking.istio.io" "kind: VirtualService" "name: $SERVER"
    routes_label_entry
  )"
}

# --- Rolling (k8s/base) -----------------------------------------------------------------------

# k8s/base with image $1 (name), $2 (tag, also the version label) and digest $3.
release_rolling() {
  local reference="$1:$2${3:+@$3}"
  plan "rolling update of k8s/base" \
    "deployment/$SERVER: $reference (version $2)" \
    "job/$MIGRATE_JOB: $reference, completed before the rollout"
  render k8s/base "$(printf 'images:\n  - name: %s\n    newName: "%s"\n    newTag: "%s"\n%s' \
    "$IMAGE_NAME" "$1" "$2" "${3:+    digest: \"$3\"}")" \
    "$(patch_entry "$(version_ops "$2")" "kind: Deployment" "name: $SERVER"
    patch_entry "$(version_ops "$2")" "kind: Job" "name: $MIGRATE_JOB")"
  apply_and_migrate
  echo "==> kubectl apply (server)"
  kubectl apply -k "$overlay"
  kubectl -n "$NAMESPACE" rollout status "deployment/$SERVER" --timeout="$ROLLOUT_TIMEOUT"
  kubectl -n "$NAMESPACE" get all
}

deploy_built() {
  check_secrets
  check_cluster
  build_image
  release_rolling "${image%:*}" "$TAG" "$digest"
}

deploy_rolling() {
  check_secrets
  check_cluster
  release_rolling "$image_name" "$image_tag" "$image_digest"
}

# --- Canary (k8s/overlays/canary) -------------------------------------------------------------

canary_release() {
  local reference="$release_image"
  check_secrets
  check_cluster
  read_running "$SERVER" ||
    die "no deployment/$SERVER in the cluster: the canary runs beside the stable track, deploy rolling first (./deploy.sh rolling IMAGE)"
  is_ready "$SERVER" ||
    die "deployment/$SERVER is not ready ($ready/$replicas ready): the stable track serves everyone the canary does not"
  plan "canary release (k8s/overlays/canary)" \
    "deployment/$CANARY: $reference (version $image_tag), 1 pod" \
    "deployment/$SERVER (stable): $running_image (version $running_version), as it runs now" \
    "job/$MIGRATE_JOB: $reference, completed before the canary starts" \
    "routes http-api and game-socket: stable $((100 - weight)) / canary $weight, once the canary is ready"
  render_release canary canary stable "$running_image" "$running_version" "$(weights_ops "$weight")"
  apply_and_migrate "$ROUTES_LABEL!=routes"
  apply_servers_then_routes "$CANARY" "$SERVER"
  echo "==> the canary takes $weight% of new connections; next: ./deploy.sh canary --promote (or --weight N, --abort)"
}

canary_weight() {
  check_cluster
  if ((weight > 0)) && ! is_ready "$CANARY"; then
    die "deployment/$CANARY is not ready ($ready/$replicas ready): no share of players goes to it (./deploy.sh canary IMAGE first)"
  fi
  plan "canary weights" "routes http-api and game-socket: stable $((100 - weight)) / canary $weight"
  patch_routes "$(weights_ops "$weight")"
}

# Prints the error rate of version $1 (errors per client message over 5 minutes), nothing when it
# had no traffic yet; fails when Prometheus does not answer.
error_rate() {
  local query answer
  query="(sum(rate(signight_errors_total{version=\"$1\"}[5m])) or vector(0)) / (sum(rate(signight_messages_in_total{version=\"$1\"}[5m])) > 0)"
  answer="$(curl -fsS --get --data-urlencode "query=$query" "${PROMETHEUS_URL%/}/api/v1/query")" || return 1
  # Prometheus's instant vector: "value":[<timestamp>,"<number>"]; no result, no value.
  printf '%s\n' "$answer" | sed -n 's/.*"value": *\[[^],]*, *"\([^"]*\)"\].*/\1/p'
}

# Whether the canary (version $1) may replace stable (version $2); sets verdict to say why.
promotable() {
  local canary_rate stable_rate
  if ! read_readiness "$CANARY"; then
    verdict="cannot read deployment/$CANARY"
    return 1
  fi
  if ! ((replicas >= 1 && ready == replicas)); then
    verdict="the canary is not ready ($ready/$replicas ready)"
    return 1
  fi
  if ! canary_rate="$(error_rate "$1")" || ! stable_rate="$(error_rate "$2")"; then
    verdict="Prometheus at $PROMETHEUS_URL did not answer"
    return 1
  fi
  if [[ -z "$canary_rate" ]]; then
    verdict="the canary ($1) has had no traffic yet"
    return 1
  fi
  if [[ -z "$stable_rate" ]]; then
    verdict="stable ($2) has had no traffic yet"
    return 1
  fi
  if ! [[ "$canary_rate" =~ ^[0-9.eE+-]+$ && "$stable_rate" =~ ^[0-9.eE+-]+$ ]]; then
    verdict="Prometheus gave no number (canary $canary_rate, stable $stable_rate)"
    return 1
  fi
  if ! awk -v canary="$canary_rate" -v stable="$stable_rate" 'BEGIN { exit !(canary + 0 <= stable + 0) }'; then
    verdict="the canary's error rate $canary_rate is above stable's $stable_rate"
    return 1
  fi
  verdict="the canary is ready and its error rate $canary_rate is not above stable's $stable_rate"
}

wait_for_promotion() {
  local started="$SECONDS"
  while ! promotable "$1" "$2"; do
    if ((SECONDS - started >= PROMOTE_TIMEOUT)); then
      die "not promoted after ${PROMOTE_TIMEOUT}s: $verdict; nothing was changed (./deploy.sh canary --abort sends everyone to stable)"
    fi
    echo "    waiting: $verdict"
    sleep "$PROMOTE_INTERVAL"
  done
  echo "    $verdict"
}

canary_promote() {
  local canary_image canary_version stable_version
  check_promotion_settings
  check_cluster
  read_running "$CANARY" || die "no deployment/$CANARY in the cluster: ./deploy.sh canary IMAGE first"
  canary_image="$running_image" canary_version="$running_version"
  read_running "$SERVER" || die "no deployment/$SERVER in the cluster: nothing to promote the canary to"
  stable_version="$running_version"
  [[ "$canary_version" != "$stable_version" ]] ||
    die "the canary and stable both run version $canary_version: nothing to promote"
  plan "canary promotion, once the canary is ready and its error rate is not above stable's" \
    "deployment/$SERVER (stable): $canary_image (version $canary_version), was $running_image (version $stable_version)" \
    "routes http-api and game-socket: stable 100 / canary 0" \
    "deployment/$CANARY: scaled to 0 (its players resume on stable)"
  echo "==> waiting for the canary (every ${PROMOTE_INTERVAL}s, up to ${PROMOTE_TIMEOUT}s)"
  wait_for_promotion "$canary_version" "$stable_version"
  echo "==> stable takes the canary's image"
  kubectl -n "$NAMESPACE" patch deployment "$SERVER" --type=json -p "$(workload_ops "$SERVER" "$canary_image" "$canary_version")"
  rollout "$SERVER"
  patch_routes "$(weights_ops 0)"
  scale "$CANARY" 0
}

canary_abort() {
  check_cluster
  plan "canary abort" \
    "routes http-api and game-socket: stable 100 / canary 0" \
    "deployment/$CANARY: scaled to 0 (its players resume on stable)"
  patch_routes "$(weights_ops 0)"
  scale "$CANARY" 0
}

# --- Blue-green (k8s/overlays/blue-green) -----------------------------------------------------

blue_green_release() {
  local reference="$release_image" idle live_image live_version name
  local -a waits
  check_secrets
  check_cluster
  read_live_colour
  if [[ -z "$live" ]]; then # first install: both colours on IMAGE, the routes on blue
    live=blue idle=green live_image="$reference" live_version="$image_tag"
    waits=(websocket-server-blue websocket-server-green)
  else
    idle="$(other_colour "$live")"
    waits=("websocket-server-$idle")
    read_running "websocket-server-$live" || die "the routes go to $live, but deployment/websocket-server-$live does not exist"
    live_image="$running_image" live_version="$running_version"
  fi
  plan "blue-green release (k8s/overlays/blue-green)" \
    "deployment/websocket-server-$idle (idle): $reference (version $image_tag)" \
    "deployment/websocket-server-$live (live): $live_image (version $live_version)" \
    "job/$MIGRATE_JOB: $reference, completed before the new pods start" \
    "routes: all to $live (no player moves)"
  render_release blue-green "$idle" "$live" "$live_image" "$live_version" "$(colour_ops "$live")"
  apply_and_migrate "$ROUTES_LABEL!=routes"
  echo "==> kubectl apply (server Deployments)"
  kubectl apply -k "$overlay" --selector "$ROUTES_LABEL!=routes"
  scale_up_if_stopped "websocket-server-$idle"
  for name in "${waits[@]}"; do
    rollout "$name"
  done
  echo "==> kubectl apply (routes)"
  kubectl apply -k "$overlay"
  echo "==> websocket-server-$idle runs $reference, no player on it yet; next: ./deploy.sh blue-green --switch"
}

# A colour at 0 keeps its autoscaler, which leaves it at 0: start it at the autoscaler's minimum.
scale_up_if_stopped() {
  read_readiness "$1" || die "cannot read deployment/$1"
  if [[ -n "$exists" ]] && ((replicas == 0)); then
    echo "==> deployment/$1 is at 0 replicas: scaling it to 2"
    scale "$1" 2
  fi
}

# The live colour from the routes; refuses without a blue-green install. Sets live and idle.
read_colours() {
  read_live_colour
  [[ -n "$live" ]] || die "no blue-green install: the routes go to no colour (./deploy.sh blue-green IMAGE first)"
  idle="$(other_colour "$live")"
  read_running "websocket-server-$idle" || die "no deployment/websocket-server-$idle in the cluster (./deploy.sh blue-green IMAGE first)"
}

blue_green_switch() {
  local rolling_replicas changes
  check_cluster
  read_colours
  is_ready "websocket-server-$idle" ||
    die "deployment/websocket-server-$idle is not ready ($ready/$replicas ready): nothing was switched (./deploy.sh blue-green IMAGE starts it)"
  rolling_replicas="$(cluster_get deployment "$SERVER" '{.spec.replicas}')" || die "cannot read deployment/$SERVER"
  changes=("routes: all from $live to $idle, which runs $running_image (version $running_version)"
    "deployment/websocket-server-$live: scaled to 0 (its players resume on $idle)")
  if [[ -n "$rolling_replicas" && "$rolling_replicas" != 0 ]]; then
    changes+=("deployment/$SERVER (left from a rolling install): scaled to 0 (its players resume on $idle)")
  fi
  plan "blue-green switch" "${changes[@]}"
  patch_routes "$(colour_ops "$idle" "$live")"
  scale "websocket-server-$live" 0
  if [[ -n "$rolling_replicas" && "$rolling_replicas" != 0 ]]; then
    echo "==> deployment/$SERVER from a rolling install still runs: scaling it to 0"
    scale "$SERVER" 0
  fi
}

blue_green_rollback() {
  check_cluster
  read_colours
  plan "blue-green rollback" \
    "deployment/websocket-server-$idle: $running_image (version $running_version), scaled to 2 if it is at 0" \
    "routes: all from $live back to $idle, once it is ready" \
    "deployment/websocket-server-$live: scaled to 0 (its players resume on $idle)"
  scale_up_if_stopped "websocket-server-$idle"
  rollout "websocket-server-$idle"
  patch_routes "$(colour_ops "$idle" "$live")"
  scale "websocket-server-$live" 0
}

# --- Main -------------------------------------------------------------------------------------

main() {
  parse_arguments "$@"
  require_kubectl
  # docker builds the image of the no-argument form only.
  [[ "$subcommand" != build ]] || require_docker
  ROOT="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)"
  ROLLOUT_TIMEOUT="${ROLLOUT_TIMEOUT:-300s}"
  PROMOTE_INTERVAL="${PROMOTE_INTERVAL:-30}"
  PROMOTE_TIMEOUT="${PROMOTE_TIMEOUT:-600}"
  case "$subcommand:$action" in
    build:release) deploy_built ;;
    rolling:release) deploy_rolling ;;
    canary:release) canary_release ;;
    canary:weight) canary_weight ;;
    canary:promote) canary_promote ;;
    canary:abort) canary_abort ;;
    blue-green:release) blue_green_release ;;
    blue-green:switch) blue_green_switch ;;
    blue-green:rollback) blue_green_rollback ;;
  esac
}

main "$@"
