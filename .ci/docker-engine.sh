# A Docker engine that answers, for `.ci/run up` and test/docker/run.sh. Source it, then call
#   docker_engine private   an engine of this script's own (data root and socket in a temp folder),
#                           stopped and removed when the calling script exits; exports DOCKER_HOST;
#   docker_engine machine   the machine's engine on its default socket, left running afterwards,
#                           because the containers `npm run up` deploys live in it.
# A running engine (DOCKER_HOST or the default socket) is used as it is. Otherwise, as root, Debian's
# docker.io is installed when dockerd is missing and dockerd is started without a bridge or iptables
# rules: every dnlb container uses host networking, and a container build host often may not touch
# iptables. Expects a `log` function from the caller.

DOCKER_ENGINE_PID=""
DOCKER_ENGINE_DIR=""

docker_engine_stop() {
  if [ -n "$DOCKER_ENGINE_PID" ]; then
    log "stopping the Docker engine this script started (pid $DOCKER_ENGINE_PID)"
    kill -TERM "$DOCKER_ENGINE_PID" 2>/dev/null || true
    for _ in $(seq 1 60); do kill -0 "$DOCKER_ENGINE_PID" 2>/dev/null || break; sleep 0.5; done
    kill -KILL "$DOCKER_ENGINE_PID" 2>/dev/null || true
    if [ -n "$DOCKER_ENGINE_DIR" ]; then
      # dockerd unmounts its layers on a clean stop; anything still mounted under its folder is ours.
      { grep -o " $DOCKER_ENGINE_DIR/[^ ]*" /proc/mounts || true; } | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
      rm -rf "$DOCKER_ENGINE_DIR"
    fi
    DOCKER_ENGINE_PID=""
  fi
}

docker_engine_install() {
  command -v dockerd >/dev/null 2>&1 && return 0
  if [ "$(id -u)" != 0 ]; then
    log "no Docker engine answers and dockerd is not installed: install Docker Engine" \
      "(sudo apt-get install docker.io, or https://docs.docker.com/engine/install/), start it, or run as root"
    return 1
  fi
  log "installing docker.io (Debian package)"
  export DEBIAN_FRONTEND=noninteractive
  if ! { apt-get update -qq && apt-get install -y -qq docker.io >/dev/null; }; then
    log "step 'install Docker (apt-get install docker.io)' failed; it needs the Debian mirrors (no internet here?)." \
      "Install Docker Engine by hand (https://docs.docker.com/engine/install/), start it, and run again"
    return 1
  fi
}

# $1: the log file; $2: the socket; then dockerd's other arguments.
docker_engine_start() {
  local logfile=$1 socket=$2
  shift 2
  if [ "$(id -u)" != 0 ]; then
    log "no Docker engine answers: start it (sudo systemctl start docker) and make sure you may use it, or run as root"
    return 1
  fi
  log "starting a Docker engine on unix://$socket (log $logfile)"
  ${DOCKER_ENGINE_SETSID:-} dockerd --host "unix://$socket" "$@" \
    --bridge=none --iptables=false --ip6tables=false --ip-forward=false --ip-masq=false \
    >"$logfile" 2>&1 </dev/null &
  DOCKER_ENGINE_PID=$!
  export DOCKER_HOST="unix://$socket"
  for _ in $(seq 1 120); do
    docker info >/dev/null 2>&1 && return 0
    kill -0 "$DOCKER_ENGINE_PID" 2>/dev/null || { tail -20 "$logfile"; log "dockerd exited"; return 1; }
    sleep 0.5
  done
  tail -20 "$logfile"
  log "dockerd did not answer within 60 s"
  return 1
}

docker_engine() {
  local mode=$1
  if docker info >/dev/null 2>&1; then
    log "using the running Docker engine (${DOCKER_HOST:-unix:///var/run/docker.sock})"
    return 0
  fi
  docker_engine_install || return 1
  case "$mode" in
    private)
      DOCKER_ENGINE_DIR="$(mktemp -d /tmp/dnlb-docker.XXXXXX)"
      trap docker_engine_stop EXIT
      docker_engine_start "$DOCKER_ENGINE_DIR/dockerd.log" "$DOCKER_ENGINE_DIR/docker.sock" \
        --data-root "$DOCKER_ENGINE_DIR/data" --exec-root "$DOCKER_ENGINE_DIR/exec" --pidfile "$DOCKER_ENGINE_DIR/dockerd.pid"
      ;;
    machine)
      # Detached (own session) so that it outlives this script and its terminal.
      DOCKER_ENGINE_SETSID=setsid docker_engine_start /var/log/dnlb-dockerd.log /var/run/docker.sock || { docker_engine_stop; return 1; }
      unset DOCKER_HOST # the default socket: plain `docker` and `npm run down` find it later
      log "the engine keeps running for the deployed containers (pid $DOCKER_ENGINE_PID)"
      DOCKER_ENGINE_PID=""
      ;;
    *)
      log "docker_engine: mode must be private or machine (got '$mode')"
      return 1
      ;;
  esac
}
