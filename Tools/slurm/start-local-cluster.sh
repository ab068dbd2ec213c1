#!/usr/bin/env bash
# Start a one-node Slurm cluster on this machine (for trying the recipes and for SlurmClusterTests):
# munge, slurmctld and slurmd, with slurm.conf describing this machine as `slurmd -C` sees it.
# Idempotent: when the node is already up it says so and exits 0. Needs root (installs slurm-wlm
# and munge with apt-get when missing). Exits non-zero with a one-line reason when it cannot start.
#   Tools/slurm/start-local-cluster.sh        # then: sinfo; sbatch ...; Tools/slurm/stop-local-cluster.sh
set -euo pipefail

conf_dir=/etc/slurm
conf="$conf_dir/slurm.conf"
log_dir=/var/log/slurm
timeout_seconds="${SLURM_START_TIMEOUT:-60}"

fail() { echo "start-local-cluster: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || fail "must run as root (it writes $conf and starts the daemons)"

if ! command -v slurmctld >/dev/null 2>&1 || ! command -v slurmd >/dev/null 2>&1 || ! command -v munged >/dev/null 2>&1; then
  command -v apt-get >/dev/null 2>&1 || fail "slurm-wlm and munge are not installed and there is no apt-get to install them"
  echo "start-local-cluster: installing slurm-wlm and munge"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge; } >/dev/null ||
    fail "apt-get install slurm-wlm munge failed"
fi

# munge: a key, then the daemon (as the munge user, as its packaging does).
mkdir -p /etc/munge /var/lib/munge /var/log/munge /run/munge
if [ ! -s /etc/munge/munge.key ]; then
  if command -v mungekey >/dev/null 2>&1; then mungekey --create --keyfile=/etc/munge/munge.key
  else dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key 2>/dev/null; fi
fi
if id munge >/dev/null 2>&1; then
  chown -R munge:munge /etc/munge /var/lib/munge /var/log/munge /run/munge
  munge_user=munge
else
  munge_user=root
fi
chmod 0700 /etc/munge; chmod 0400 /etc/munge/munge.key; chmod 0755 /run/munge
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
  if [ "$munge_user" = root ]; then munged --force || fail "munged did not start (see /var/log/munge/munged.log)"
  else runuser -u munge -- munged || fail "munged did not start (see /var/log/munge/munged.log)"; fi
  for _ in $(seq 1 50); do munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.1; done
  munge -n 2>/dev/null | unmunge >/dev/null 2>&1 || fail "munge does not authenticate (see /var/log/munge/munged.log)"
fi

# slurm.conf for this node: its name and hardware line from `slurmd -C`.
host="$(hostname -s)"
node_line="$(slurmd -C 2>/dev/null | grep '^NodeName=')" || fail "slurmd -C did not describe this machine"
mkdir -p "$conf_dir" "$log_dir" /var/spool/slurmctld /var/spool/slurmd
new_conf="$(mktemp)"
trap 'rm -f "$new_conf"' EXIT
cat >"$new_conf" <<CONF
# Written by Tools/slurm/start-local-cluster.sh: a one-node cluster on $host.
ClusterName=influence-local
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
ReturnToService=2
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=$log_dir/slurmctld.log
SlurmdLogFile=$log_dir/slurmd.log
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MaxArraySize=10001
$node_line State=UNKNOWN
PartitionName=local Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
sed -i 's/ UpTime=[^ ]*//' "$new_conf"

running() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
node_idle() { sinfo -h -n "$host" -o '%t' 2>/dev/null | grep -Eq '^(idle|mix|alloc)'; }

if [ -f "$conf" ] && cmp -s "$new_conf" "$conf" && running /run/slurmctld.pid && running /run/slurmd.pid && node_idle; then
  echo "start-local-cluster: already running ($(sinfo -h -o '%P %D %t' | head -1))"
  exit 0
fi

if ! cmp -s "$new_conf" "$conf" 2>/dev/null; then
  # Another configuration: stop our daemons so that they start with this one.
  for pid_file in /run/slurmd.pid /run/slurmctld.pid; do
    if running "$pid_file"; then kill "$(cat "$pid_file")"; sleep 1; fi
  done
  install -m 0644 "$new_conf" "$conf"
fi

running /run/slurmctld.pid || slurmctld || fail "slurmctld did not start (see $log_dir/slurmctld.log)"
running /run/slurmd.pid || slurmd || fail "slurmd did not start (see $log_dir/slurmd.log)"

for _ in $(seq 1 "$((timeout_seconds * 2))"); do
  if node_idle; then
    echo "start-local-cluster: node $host is up ($(sinfo -h -o '%P %D %t %c CPUs %m MB' | head -1))"
    exit 0
  fi
  # A node that registered DOWN or DRAINED (a restart with an old state): bring it back.
  if sinfo -h -n "$host" -o '%t' 2>/dev/null | grep -Eq '^(down|drain|drng)'; then
    scontrol update nodename="$host" state=resume 2>/dev/null || true
  fi
  sleep 0.5
done
fail "node $host did not become idle within ${timeout_seconds}s (sinfo: $(sinfo -h -o '%t %E' 2>&1 | head -1); see $log_dir/slurmd.log and slurmctld.log)"
