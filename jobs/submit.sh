#!/usr/bin/env bash
# Submit a sweep to a running Ray cluster with `ray job submit` (see docs/cluster.md).
#
#   RAY_ADDRESS=http://HEAD:8265 OUTPUT_DIR=/shared/sweeps/faces jobs/submit.sh preset=faces bands=relative_ladder
#
# The code is shipped as the working directory; jobs/runtime_env.yaml adds the Python packages.
# OUTPUT_DIR must be writable by the head node (the driver writes the dataset there).
# Extra arguments are Hydra overrides of conf/config.yaml.
set -euo pipefail
cd "$(dirname "$0")/.."

RAY_ADDRESS="${RAY_ADDRESS:-http://127.0.0.1:8265}"
OUTPUT_DIR="${OUTPUT_DIR:-/tmp/inverse-set/sweep}"

exec ray job submit \
  --address "$RAY_ADDRESS" \
  --runtime-env jobs/runtime_env.yaml \
  --working-dir . \
  -- python -m pipeline.sweep cluster=ray cluster.jobs_per_batch=8 "output.dir=$OUTPUT_DIR" "$@"
