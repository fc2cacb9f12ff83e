#!/usr/bin/env bash
# Docker end-to-end test of pulumi-dnlb: bash test/docker/run.sh (as root, from anywhere).
#
# 1. installs Debian's docker.io when dockerd is missing;
# 2. uses a running Docker engine, or starts a private one (own data root and socket, no bridge,
#    no iptables rules: the test only uses host networking on loopback) and stops it at the end;
# 3. builds the project and runs test/docker/docker-e2e.test.ts with DNLB_DOCKER_E2E=1.
# The test builds its images without any registry and removes everything it created.
# Bounded: the mocha run is cut at 9 minutes, starting the engine at 60 seconds.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
# Node 22 (the base image is made from the node binary that runs the test): the one .ci/run
# installs, else this workplace's, else whatever is on the PATH.
for bin in "${DNLB_TOOLS_DIR:-$ROOT/.tools}/node_modules/node/bin" /work/tools/node_modules/.bin; do
  if [ -x "$bin/node" ]; then export PATH="$bin:$PATH"; break; fi
done
node --version | grep -q '^v22\.' || { echo "[docker-e2e] Node 22 is needed (found $(node --version))"; exit 1; }

log() { echo "[docker-e2e] $*"; }

if ! command -v dockerd >/dev/null 2>&1; then
  log "installing docker.io (Debian package)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq docker.io >/dev/null
fi

STARTED_PID=""
PRIVATE_DIR=""
stop_engine() {
  if [ -n "$STARTED_PID" ]; then
    log "stopping the Docker engine this script started (pid $STARTED_PID)"
    kill -TERM "$STARTED_PID" 2>/dev/null || true
    for _ in $(seq 1 60); do kill -0 "$STARTED_PID" 2>/dev/null || break; sleep 0.5; done
    kill -KILL "$STARTED_PID" 2>/dev/null || true
    # dockerd unmounts its layers on a clean stop; anything still mounted under the data root is ours.
    grep -o " $PRIVATE_DIR/[^ ]*" /proc/mounts | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
    rm -rf "$PRIVATE_DIR"
  fi
}
trap stop_engine EXIT

if docker info >/dev/null 2>&1; then
  log "using the running Docker engine (${DOCKER_HOST:-unix:///var/run/docker.sock})"
else
  PRIVATE_DIR="$(mktemp -d /tmp/dnlb-e2e-docker.XXXXXX)"
  log "starting a private Docker engine in $PRIVATE_DIR"
  dockerd \
    --data-root "$PRIVATE_DIR/data" --exec-root "$PRIVATE_DIR/exec" --pidfile "$PRIVATE_DIR/dockerd.pid" \
    --host "unix://$PRIVATE_DIR/docker.sock" \
    --bridge=none --iptables=false --ip6tables=false --ip-forward=false --ip-masq=false \
    >"$PRIVATE_DIR/dockerd.log" 2>&1 &
  STARTED_PID=$!
  export DOCKER_HOST="unix://$PRIVATE_DIR/docker.sock"
  for _ in $(seq 1 120); do
    docker info >/dev/null 2>&1 && break
    kill -0 "$STARTED_PID" 2>/dev/null || { tail -20 "$PRIVATE_DIR/dockerd.log"; log "dockerd exited"; exit 1; }
    sleep 0.5
  done
  docker info >/dev/null 2>&1 || { tail -20 "$PRIVATE_DIR/dockerd.log"; log "dockerd did not answer within 60 s"; exit 1; }
fi

log "building (tsc)"
TSC_LOG="$(mktemp /tmp/dnlb-e2e-tsc.XXXXXX)"
npx tsc -p tsconfig.json >"$TSC_LOG" 2>&1 || { log "tsc reported type errors (npm test fails on them); running what it emitted:"; tail -5 "$TSC_LOG"; }
rm -f "$TSC_LOG"

log "running the end-to-end test"
DNLB_DOCKER_E2E=1 timeout --kill-after=20 540 \
  npx mocha --no-config --timeout 600000 --reporter spec --enable-source-maps 'dist/test/docker/**/*.test.js'
