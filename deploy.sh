#!/usr/bin/env bash
# Build the server image, apply k8s/ with that image and the real secrets, run the migration Job,
# then roll the server out (docs/operations.md, "Kubernetes").
#
#   SECRETS_ENV=~/signight-secrets.env JWT_AUDIENCE=my-game REGISTRY=registry.example.com ./deploy.sh
#
# SECRETS_ENV          required: a KEY=VALUE file with DJANGO_SECRET_KEY (32+ characters),
#                      MONGODB_URL, and JWT_SECRET (HS256) or a one-line JWT_PUBLIC_KEY (RS256).
#                      It replaces k8s/secret.yaml, whose placeholders never reach a cluster.
# JWT_AUDIENCE         required: the `aud` of your issuer's tokens for this game; set in the
#                      ConfigMap and the mesh's RequestAuthentication (k8s/ holds a placeholder).
# JWT_PUBLIC_KEY_FILE  optional: a PEM file for JWT_PUBLIC_KEY (use it for multi-line keys).
# TAG                  image tag; default: the current git commit.
# REGISTRY             push the image to REGISTRY/signight/websocket-server:TAG. Without it the
#                      image stays local: the cluster must see it (kind load docker-image, minikube).
# ROLLOUT_TIMEOUT      how long to wait for the migration and the rollout each (default 300s).
set -euo pipefail

NAMESPACE=websocket
IMAGE_NAME=signight/websocket-server
MIGRATE_JOB=websocket-migrate

die() {
  printf 'deploy.sh: %s\n' "$*" >&2
  exit 1
}

# Tools first, with shell built-ins only, so that a missing tool is all the output there is.
command -v kubectl >/dev/null 2>&1 ||
  die "kubectl not found on PATH: install kubectl and point it at your cluster (kubectl config use-context NAME)"
command -v docker >/dev/null 2>&1 ||
  die "docker not found on PATH: it builds the server image"

ROOT="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)"
ROLLOUT_TIMEOUT="${ROLLOUT_TIMEOUT:-300s}"

# --- Secrets: checked before anything slow --------------------------------------------------
[[ -n "${SECRETS_ENV:-}" ]] ||
  die "SECRETS_ENV is not set: name a KEY=VALUE file with DJANGO_SECRET_KEY, MONGODB_URL and JWT_SECRET or JWT_PUBLIC_KEY (k8s/secret.yaml holds placeholders only)"
[[ -r "$SECRETS_ENV" ]] || die "SECRETS_ENV=$SECRETS_ENV is not a readable file"
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

# --- Cluster ----------------------------------------------------------------------------------
if ! kubectl cluster-info --request-timeout=10s >/dev/null 2>&1; then
  context="$(kubectl config current-context 2>/dev/null || echo 'none')"
  die "cannot reach the Kubernetes cluster (kubectl cluster-info failed; context: $context)"
fi
if ! kubectl get crd gateways.networking.istio.io virtualservices.networking.istio.io \
  authorizationpolicies.security.istio.io >/dev/null 2>&1; then
  die "Istio's CRDs are missing: install Istio in the cluster first (docs/operations.md, \"Istio\")"
fi

# --- Image ------------------------------------------------------------------------------------
if [[ -z "${TAG:-}" ]]; then
  TAG="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null)" || die "set TAG (no git commit to name the image after)"
fi
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

# --- Overlay: k8s/ with this image and the real Secret (nothing is written into k8s/) -------
overlay="$(mktemp -d)"
trap 'rm -rf "$overlay"' EXIT
cp -R "$ROOT/k8s" "$overlay/base"
cp "$SECRETS_ENV" "$overlay/secrets.env"
secret_files=""
if [[ -n "${JWT_PUBLIC_KEY_FILE:-}" ]]; then
  cp "$JWT_PUBLIC_KEY_FILE" "$overlay/jwt_public_key.pem"
  secret_files=$'    files:\n      - JWT_PUBLIC_KEY=jwt_public_key.pem'
fi
cat >"$overlay/kustomization.yaml" <<EOF
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - base
images:
  - name: $IMAGE_NAME
    newName: ${image%:*}
    newTag: $TAG
${digest:+    digest: $digest}
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
EOF

# --- Apply: everything but the server, migrate, then the server -----------------------------
# A Job's pod template cannot change: the previous run goes before the new one is applied.
if kubectl get namespace "$NAMESPACE" >/dev/null 2>&1; then
  kubectl -n "$NAMESPACE" delete job "$MIGRATE_JOB" --ignore-not-found --wait=true
fi
echo "==> kubectl apply (datastores, config, Istio policy, migration Job)"
kubectl apply -k "$overlay" --selector 'app!=websocket-server'

echo "==> waiting for MongoDB and Redis"
kubectl -n "$NAMESPACE" rollout status statefulset/mongo --timeout="$ROLLOUT_TIMEOUT"
kubectl -n "$NAMESPACE" rollout status deployment/redis --timeout="$ROLLOUT_TIMEOUT"

echo "==> waiting for the migration Job"
if ! kubectl -n "$NAMESPACE" wait --for=condition=complete "job/$MIGRATE_JOB" --timeout="$ROLLOUT_TIMEOUT"; then
  kubectl -n "$NAMESPACE" logs "job/$MIGRATE_JOB" --all-containers --tail=50 >&2 || true
  die "the migration Job did not complete (its last log lines are above); the server was not rolled out"
fi

echo "==> kubectl apply (server)"
kubectl apply -k "$overlay"
kubectl -n "$NAMESPACE" rollout status deployment/websocket-server --timeout="$ROLLOUT_TIMEOUT"

kubectl -n "$NAMESPACE" get all
