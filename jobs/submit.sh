#!/usr/bin/env bash
# Submit a sweep to a running Ray cluster with `ray job submit` (see docs/cluster.md).
#
#   RAY_ADDRESS=http://HEAD:8265 OUTPUT_DIR=/shared/sweeps/faces jobs/submit.sh preset=faces bands=relative_ladder
#   OUTPUT_DIR=/shared/sweeps/overnight jobs/submit.sh --config-name overnight sampler.n=100
#
# Every argument goes to `python -m pipeline.sweep` on the cluster: options (--config-name,
# --dry-run, -m) first, then the Hydra overrides, which come after this script's defaults and
# so win over them. Settings (environment variables):
#   RAY_ADDRESS        the cluster's dashboard (default http://127.0.0.1:8265)
#   OUTPUT_DIR         where the dataset goes: storage the head node writes and that outlives
#                      the job (required; resubmitting with the same OUTPUT_DIR resumes)
#   INVERSE_SET_CACHE  weight cache on storage every node shares (default: cache/ beside
#                      OUTPUT_DIR), so that the weights are fetched once, not once per node
#   RUNTIME_ENV        runtime environment file (default jobs/runtime_env.yaml: pinned pip
#                      packages on top of the image; an image built from the Dockerfile
#                      needs none: jobs/runtime_env.image.yaml)
#   PYTHON             the Python that runs `ray job submit` here (default: the checkout's
#                      .venv, else python3); JOB_PYTHON: the driver's Python on the cluster
set -euo pipefail
cd "$(dirname "$0")/.."

PY="${PYTHON:-.venv/bin/python}"
[ -x "$PY" ] || PY="$(command -v python3)"
RAY_ADDRESS="${RAY_ADDRESS:-http://127.0.0.1:8265}"
RUNTIME_ENV="${RUNTIME_ENV:-jobs/runtime_env.yaml}"
JOB_PYTHON="${JOB_PYTHON:-python}"
if [ -z "${OUTPUT_DIR:-}" ]; then
    echo "ConfigError: OUTPUT_DIR is not set; set it to a folder on storage the Ray head writes" \
         "and that outlives the job (e.g. OUTPUT_DIR=/shared/sweeps/faces)" >&2
    exit 2
fi
CACHE="${INVERSE_SET_CACHE:-$(dirname "$OUTPUT_DIR")/cache}"

options=()
overrides=()
while (($#)); do
    case "$1" in
        --config-name|-cn|--config-path|-cp|--config-dir|-cd)
            options+=("$1" "${2:?$1 needs a value}"); shift 2 ;;
        -*) options+=("$1"); shift ;;
        *) overrides+=("$1"); shift ;;
    esac
done

# The runtime environment with the shared weight cache for the driver and every actor.
runtime_env="$("$PY" -c '
import json, sys, yaml
env = yaml.safe_load(open(sys.argv[1])) or {}
env.setdefault("env_vars", {})["INVERSE_SET_CACHE"] = sys.argv[2]
print(json.dumps(env))' "$RUNTIME_ENV" "$CACHE")"

exec "$PY" -m ray.scripts.scripts job submit \
  --address "$RAY_ADDRESS" \
  --runtime-env-json "$runtime_env" \
  --working-dir . \
  -- "$JOB_PYTHON" -m pipeline.sweep ${options[@]+"${options[@]}"} cluster=ray \
  "output.dir=$OUTPUT_DIR" "cluster.cache_dir=$CACHE" ${overrides[@]+"${overrides[@]}"}
