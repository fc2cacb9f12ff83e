#!/usr/bin/env bash
# Docker end-to-end test of pulumi-dnlb: bash test/docker/run.sh (as root, from anywhere).
#
# 1. uses a running Docker engine, or starts a private one that it stops at the end (installing
#    Debian's docker.io when dockerd is missing): .ci/docker-engine.sh;
# 2. builds the project and runs test/docker/docker-e2e.test.ts with DNLB_DOCKER_E2E=1.
# The test builds its images without any registry and removes everything it created.
# Bounded: the mocha run is cut at 9 minutes, starting the engine at 60 seconds.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
# Node 22 (the base image is made from the node binary that runs the test): the one .ci/run
# installs, else whatever is on the PATH.
for bin in "${DNLB_TOOLS_DIR:-$ROOT/.tools}/node_modules/node/bin"; do
  if [ -x "$bin/node" ]; then export PATH="$bin:$PATH"; break; fi
done
node --version | grep -q '^v22\.' || { echo "[docker-e2e] Node 22 is needed (found $(node --version))"; exit 1; }

log() { echo "[docker-e2e] $*"; }

# shellcheck source=../../.ci/docker-engine.sh
source "$ROOT/.ci/docker-engine.sh"
docker_engine private

log "building (tsc)"
TSC_LOG="$(mktemp /tmp/dnlb-e2e-tsc.XXXXXX)"
npx tsc -p tsconfig.json >"$TSC_LOG" 2>&1 || { log "tsc reported type errors (npm test fails on them); running what it emitted:"; tail -5 "$TSC_LOG"; }
rm -f "$TSC_LOG"

log "running the end-to-end test"
DNLB_DOCKER_E2E=1 timeout --kill-after=20 540 \
  npx mocha --no-config --timeout 600000 --reporter spec --enable-source-maps 'dist/test/docker/**/*.test.js'
