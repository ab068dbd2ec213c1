#!/usr/bin/env bash
# Stop the one-node cluster that start-local-cluster.sh started: slurmd, slurmctld, then munged.
# Idempotent: daemons that are not running are skipped. Leaves /etc/slurm/slurm.conf in place.
set -euo pipefail

[ "$(id -u)" -eq 0 ] || { echo "stop-local-cluster: must run as root" >&2; exit 1; }

stop() {
  local name="$1" pid_file="$2" pid
  [ -f "$pid_file" ] || return 0
  pid="$(cat "$pid_file")"
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid"
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then echo "stop-local-cluster: $name ($pid) did not stop" >&2; return 1; fi
    echo "stop-local-cluster: stopped $name"
  fi
  rm -f "$pid_file"
}

stop slurmd /run/slurmd.pid
stop slurmctld /run/slurmctld.pid
for pid_file in /run/munge/munged.pid /var/run/munge/munged.pid; do
  [ -f "$pid_file" ] && { stop munged "$pid_file"; break; }
done
exit 0
