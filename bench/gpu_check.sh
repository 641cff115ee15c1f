#!/usr/bin/env bash
# The GPU check in one call on a machine with an NVIDIA GPU, PyTorch and JAX but no network (docs/gpu.md):
# installs the wheels carried in .whl/ (`make gpu-wheels` downloads them) offline into a temporary target,
# then runs bench/gpu_check.py with tuner's source from this tree. Arguments go on to gpu_check.py.
#
#   bash bench/gpu_check.sh           # the check (refuses without a GPU)
#   bash bench/gpu_check.sh --cpu     # its smoke run on the CPU
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
PY=${PYTHON:-python3}
WHEELS=${GPU_WHEELS:-.whl}
if ! compgen -G "$WHEELS/*.whl" >/dev/null; then
  echo "error: no wheels in $WHEELS/: run 'make gpu-wheels' on a machine with the network, and carry $WHEELS/" >&2
  exit 2
fi
SITE=$(mktemp -d "${TMPDIR:-/tmp}/tuner-site-XXXXXX") || exit 2
trap 'rm -rf "$SITE"' EXIT
echo "installing $(ls "$WHEELS"/*.whl | wc -l) wheels from $WHEELS/ into $SITE (offline)"
"$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" "$WHEELS"/*.whl \
  || { echo "error: the offline install of $WHEELS/*.whl failed (see above)" >&2; exit 2; }
export PYTHONPATH="$SITE:$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
"$PY" bench/gpu_check.py "$@"
