#!/usr/bin/env bash
# Run a sharded influence fit and scoring on Kubernetes, one Indexed Job per stage, each started
# when the one before has completed (kubectl wait):
#   fit1 (N pods) -> [eigen (K pods) ->] merge-factors (1 pod) -> fit2 (N pods) -> merge-factors -> score (N pods) -> merge-scores
#
#   Recipes/kubernetes/run-stages.sh --image REGISTRY/influence:TAG --claim influence-work \
#     --model /shared/models/M --data /shared/data/train.jsonl --queries /shared/data/queries.jsonl \
#     [--shards 4] [--eigen-parts K] [--no-score] [--timeout 24h] [--fit-args "--batch-size 8"] [--score-args "--top-k 10"] [--dry-run]
#
# --eigen-parts K shares the eigendecompositions out among K pods (merge-factors --shard auto).
# Paths are inside the pods (the claim is mounted at /shared; results in /shared/influence). --dry-run
# prints the manifests instead of applying them. kubectl must point at the cluster and namespace.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
template="$here/influence-indexed-job.yaml"
image="" claim="" model="" data="" queries="" shards=4 eigen_parts=0 score=1 timeout=24h fit_args="" score_args="" dry_run=0

need() { [ "$#" -ge 2 ] || { echo "run-stages.sh: $1 needs a value" >&2; exit 2; }; }
while [ "$#" -gt 0 ]; do
  case "$1" in
    --image) need "$@"; image="$2"; shift 2 ;;
    --claim) need "$@"; claim="$2"; shift 2 ;;
    --model) need "$@"; model="$2"; shift 2 ;;
    --data) need "$@"; data="$2"; shift 2 ;;
    --queries) need "$@"; queries="$2"; shift 2 ;;
    --shards) need "$@"; shards="$2"; shift 2 ;;
    --eigen-parts) need "$@"; eigen_parts="$2"; shift 2 ;;
    --timeout) need "$@"; timeout="$2"; shift 2 ;;
    --fit-args) need "$@"; fit_args="$2"; shift 2 ;;
    --score-args) need "$@"; score_args="$2"; shift 2 ;;
    --no-score) score=0; shift ;;
    --dry-run) dry_run=1; shift ;;
    -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "run-stages.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
if [ -z "$image" ] || [ -z "$claim" ] || [ -z "$model" ] || [ -z "$data" ]; then
  echo "run-stages.sh: give --image, --claim, --model and --data" >&2; exit 2
fi
if [ "$score" -eq 1 ] && [ -z "$queries" ]; then echo "run-stages.sh: give --queries (or --no-score)" >&2; exit 2; fi
[[ "$shards" =~ ^[1-9][0-9]*$ ]] || { echo "run-stages.sh: --shards $shards: expected a positive whole number" >&2; exit 2; }
[[ "$eigen_parts" =~ ^[0-9]+$ ]] || { echo "run-stages.sh: --eigen-parts $eigen_parts: expected a whole number" >&2; exit 2; }
[ "$dry_run" -eq 1 ] || command -v kubectl >/dev/null 2>&1 || { echo "run-stages.sh: kubectl not found" >&2; exit 1; }

# The manifest of one stage: sharded stages get N pods, merges one.
manifest() {
  local stage="$1" name="$2" pods="$3"
  # sed replacement text: escape \, & and the | delimiter.
  esc() { printf '%s' "$1" | sed -e 's/[\\&|]/\\&/g'; }
  sed -e "s|@STAGE@|$(esc "$stage")|g" -e "s|@STAGE_NAME@|$(esc "$name")|g" -e "s|@IMAGE@|$(esc "$image")|g" \
      -e "s|@CLAIM@|$(esc "$claim")|g" -e "s|@MODEL@|$(esc "$model")|g" -e "s|@DATA@|$(esc "$data")|g" \
      -e "s|@QUERIES@|$(esc "$queries")|g" -e "s|@SHARDS@|$shards|g" \
      -e "s|@FIT_ARGS@|$(esc "$fit_args")|g" -e "s|@SCORE_ARGS@|$(esc "$score_args")|g" \
      -e "s|^\(  completions:\) 4$|\1 $pods|" -e "s|^\(  parallelism:\) 4$|\1 $pods|" \
      -e "s|\(name: INFLUENCE_SHARD_COUNT, value:\) \"4\"|\1 \"$pods\"|" "$template"
}

run_stage() {
  local stage="$1" name="$2" pods="$3"
  if [ "$dry_run" -eq 1 ]; then echo "---"; manifest "$stage" "$name" "$pods"; return; fi
  echo "run-stages.sh: $name ($pods pods)"
  kubectl delete job "influence-$name" --ignore-not-found >/dev/null
  manifest "$stage" "$name" "$pods" | kubectl apply -f -
  # Complete or Failed, whichever comes first.
  local start=$SECONDS limit
  limit=$(to_seconds "$timeout")
  while :; do
    if kubectl wait --for=condition=complete "job/influence-$name" --timeout=30s >/dev/null 2>&1; then break; fi
    if [ "$(kubectl get job "influence-$name" -o jsonpath='{.status.conditions[?(@.type=="Failed")].status}')" = True ]; then
      echo "run-stages.sh: job influence-$name failed; see: kubectl logs -l stage=$name" >&2; exit 1
    fi
    if [ "$limit" -gt 0 ] && [ $((SECONDS - start)) -ge "$limit" ]; then
      echo "run-stages.sh: job influence-$name did not finish within $timeout" >&2; exit 1
    fi
  done
}

to_seconds() {
  case "$1" in
    *h) echo $(( ${1%h} * 3600 )) ;; *m) echo $(( ${1%m} * 60 )) ;; *s) echo "${1%s}" ;; *) echo "$1" ;;
  esac
}

run_stage fit1 fit1 "$shards"
[ "$eigen_parts" -eq 0 ] || run_stage eigen eigen "$eigen_parts"
run_stage merge-factors merge1 1
run_stage fit2 fit2 "$shards"
run_stage merge-factors merge2 1
if [ "$score" -eq 1 ]; then
  run_stage score score "$shards"
  run_stage merge-scores merge-scores 1
fi
[ "$dry_run" -eq 1 ] || echo "run-stages.sh: done: factors in /shared/influence/factors${queries:+, scores in /shared/influence/scores.jsonl} (on claim $claim)"
