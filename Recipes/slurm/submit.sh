#!/usr/bin/env bash
# Fit EK-FAC factors and score on a Slurm cluster in sharded stages, each waiting for the last
# (--dependency=afterok): pass 1 array -> [eigen array ->] merge-factors -> pass 2 array ->
# merge-factors -> score array -> merge-scores. Every path must be on a file system all nodes share.
#
#   Recipes/slurm/submit.sh --model M --data train.jsonl --queries queries.jsonl --work /shared/run \
#     [--shards 4] [--eigen-parts K] [--no-score] [--wait] [--bin /path/to/influence] \
#     [--fit-arg ARG]... [--score-arg ARG]... [--sbatch-arg ARG]...
#
# --fit-arg / --score-arg pass one argument each to `influence fit` / `influence score` (such as
# --fit-arg --batch-size --fit-arg 8); give fit the same options in both passes (this script does).
# --eigen-parts K shares the eigendecompositions out among K array tasks (merge-factors --shard),
# for models whose hundreds of big eigendecompositions take hours on one node; default: the merge
# does them all. --sbatch-arg passes one argument to every sbatch (such as --sbatch-arg --partition=gpu).
# --wait returns when the last job ends, with its status. Results: WORK/factors, WORK/scores.jsonl.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
model="" data="" queries="" work="" shards=4 eigen_parts=0 score=1 wait=0 bin="${INFLUENCE_BIN:-influence}"
fit_args=() score_args=() sbatch_args=()

usage() { sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; }
need() { [ "$#" -ge 2 ] || { echo "submit.sh: $1 needs a value" >&2; exit 2; }; }
while [ "$#" -gt 0 ]; do
  case "$1" in
    --model) need "$@"; model="$2"; shift 2 ;;
    --data) need "$@"; data="$2"; shift 2 ;;
    --queries) need "$@"; queries="$2"; shift 2 ;;
    --work) need "$@"; work="$2"; shift 2 ;;
    --shards) need "$@"; shards="$2"; shift 2 ;;
    --eigen-parts) need "$@"; eigen_parts="$2"; shift 2 ;;
    --bin) need "$@"; bin="$2"; shift 2 ;;
    --fit-arg) need "$@"; fit_args+=("$2"); shift 2 ;;
    --score-arg) need "$@"; score_args+=("$2"); shift 2 ;;
    --sbatch-arg) need "$@"; sbatch_args+=("$2"); shift 2 ;;
    --no-score) score=0; shift ;;
    --wait) wait=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "submit.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
if [ -z "$model" ] || [ -z "$data" ] || [ -z "$work" ]; then echo "submit.sh: give --model, --data and --work" >&2; exit 2; fi
[ "$score" -eq 0 ] || [ -n "$queries" ] || { echo "submit.sh: give --queries (or --no-score)" >&2; exit 2; }
[[ "$shards" =~ ^[1-9][0-9]*$ ]] || { echo "submit.sh: --shards $shards: expected a positive whole number" >&2; exit 2; }
[[ "$eigen_parts" =~ ^[0-9]+$ ]] || { echo "submit.sh: --eigen-parts $eigen_parts: expected a whole number" >&2; exit 2; }
command -v sbatch >/dev/null 2>&1 || { echo "submit.sh: sbatch not found (not on a Slurm login node?)" >&2; exit 1; }

# Absolute paths: the jobs run in another directory, on other nodes.
absolute() { case "$1" in /*) printf '%s\n' "$1" ;; *) printf '%s/%s\n' "$PWD" "$1" ;; esac; }
model="$(absolute "$model")" data="$(absolute "$data")" work="$(absolute "$work")"
[ -z "$queries" ] || queries="$(absolute "$queries")"
case "$bin" in */*) bin="$(absolute "$bin")" ;; esac
mkdir -p "$work/logs"

export INFLUENCE_MODEL="$model" INFLUENCE_DATA="$data" INFLUENCE_QUERIES="$queries" INFLUENCE_WORK="$work" \
  INFLUENCE_BIN="$bin" INFLUENCE_SHARDS="$shards"

# submit STAGE DEPENDENCY SCRIPT [sbatch options...] -- [script arguments...]: prints the job id.
submit() {
  local stage="$1" after="$2" script="$3"; shift 3
  local options=()
  while [ "$#" -gt 0 ] && [ "$1" != "--" ]; do options+=("$1"); shift; done
  [ "$#" -eq 0 ] || shift
  [ -z "$after" ] || options+=("--dependency=afterok:$after" "--kill-on-invalid-dep=yes")
  INFLUENCE_STAGE="$stage" sbatch --parsable --export=ALL --chdir="$work" "${sbatch_args[@]}" "${options[@]}" \
    "$script" "$@" | cut -d';' -f1
}

array=(--array="0-$((shards - 1))" --output="$work/logs/%x-%A_%a.log")
single=(--output="$work/logs/%x-%j.log")
pass1=$(submit fit1 "" "$here/influence.sbatch" "${array[@]}" --job-name=influence-fit1 -- "${fit_args[@]}")
before_merge="$pass1"
if [ "$eigen_parts" -gt 0 ]; then
  before_merge=$(submit eigen "$pass1" "$here/merge.sbatch" --array="0-$((eigen_parts - 1))" --output="$work/logs/%x-%A_%a.log" \
    --job-name=influence-eigen --)
  echo "submitted: eigendecomposition parts $before_merge ($eigen_parts tasks)"
fi
merge1=$(submit merge-factors "$before_merge" "$here/merge.sbatch" "${single[@]}" --job-name=influence-merge1 --)
pass2=$(submit fit2 "$merge1" "$here/influence.sbatch" "${array[@]}" --job-name=influence-fit2 -- "${fit_args[@]}")
last=$(submit merge-factors "$pass2" "$here/merge.sbatch" "${single[@]}" --job-name=influence-merge2 --)
echo "submitted: pass 1 $pass1, merge $merge1, pass 2 $pass2, merge $last"
if [ "$score" -eq 1 ]; then
  scores=$(submit score "$last" "$here/influence.sbatch" "${array[@]}" --job-name=influence-score -- "${score_args[@]}")
  last=$(submit merge-scores "$scores" "$here/merge.sbatch" "${single[@]}" --job-name=influence-merge-scores --)
  echo "submitted: scores $scores, merge-scores $last"
fi
echo "logs: $work/logs"

if [ "$wait" -eq 1 ]; then
  # A dependent job that can never run is cancelled (--kill-on-invalid-dep), so this ends too.
  while squeue -h -j "$last" 2>/dev/null | grep -q .; do sleep 2; done
  state=$(sacct -n -X -j "$last" -o State 2>/dev/null | head -1 | tr -d ' ' || true)
  if [ -z "$state" ]; then state=$(scontrol show job "$last" 2>/dev/null | sed -n 's/.*JobState=\([A-Z_]*\).*/\1/p' || true); fi
  echo "job $last: ${state:-finished (state unknown: no accounting)}"
  case "$state" in COMPLETED) exit 0 ;; "") [ -s "$work/factors/lambda.safetensors" ] || exit 1 ;; *) exit 1 ;; esac
fi
