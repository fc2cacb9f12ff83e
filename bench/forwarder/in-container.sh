#!/usr/bin/env bash
# The forwarder benchmark with the node in a container, as the LoadBalancer component runs it:
#   bash bench/forwarder/in-container.sh [bench options]   (npm run bench:forwarder:container)
# Uses a running Docker engine, or starts a private one that it stops at the end (.ci/docker-engine.sh),
# builds the project, and runs `node dist/bench/forwarder/index.js --container [bench options]`:
# the node image is built here without a registry (or pass --forwarder-image IMAGE).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
for bin in "${DNLB_TOOLS_DIR:-$ROOT/.tools}/node_modules/node/bin"; do
  if [ -x "$bin/node" ]; then export PATH="$bin:$PATH"; break; fi
done
log() { echo "[bench-container] $*" >&2; }

# shellcheck source=../../.ci/docker-engine.sh
source "$ROOT/.ci/docker-engine.sh"
docker_engine private

npm run build --silent
node dist/bench/forwarder/index.js --container "$@"
