#!/usr/bin/env bash
# Deploy one environment with `pulumi up`: set up ./venv, make sure a Swarm stack has a local
# engine in Swarm mode, then hand over to `mlstack up`, which first checks that the engine can
# route what the stack publishes (vip endpoints and the ingress routing mesh need IPVS; it says
# what to set when they cannot work) and then runs the Pulumi Automation API (it says how to get
# the Pulumi CLI when it is missing).
#
#   usage: bash scripts/deploy.sh [ENV]      (default: dev)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
env="${1:-dev}"
bash scripts/setup.sh

if grep -qE '^\s*mlstack:orchestrator:\s*swarm' "Pulumi.${env}.yaml" 2>/dev/null; then
  if ! docker info >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v dockerd >/dev/null; then
      dockerd >/var/log/dockerd.log 2>&1 &
      for _ in $(seq 60); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
    else
      echo "deploy: no Docker engine answers; start one (root: dockerd &) and retry" >&2
      exit 1
    fi
  fi
  docker info --format '{{.Swarm.LocalNodeState}}' | grep -qx active \
    || docker swarm init --advertise-addr 127.0.0.1 >/dev/null
fi

exec venv/bin/mlstack up "$env" --yes
