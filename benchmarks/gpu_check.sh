#!/usr/bin/env bash
# GPU check: runs the tests marked `gpu`, then reports the fusion's throughput on a
# CUDA device (GB/s and share of the memory bandwidth for float32 and float64)
# and its speed-up over the numpy path. It needs a Python with a CUDA build of
# torch and with sftfusion installed with its test extras, by
# python -m pip install -e ".[test]". PYTHON chooses that Python.
# It finishes within 5 minutes: each step has its own time limit.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ -z "${PYTHON:-}" ]]; then
    if [[ -x .venv/bin/python ]]; then
        PYTHON=.venv/bin/python
    else
        PYTHON=python3
    fi
fi

if ! "$PYTHON" -c "import torch, sys; sys.exit(not torch.cuda.is_available())"; then
    echo "gpu_check: torch in $PYTHON finds no CUDA device; install a CUDA build" \
        "of torch or run this on a machine with a GPU." >&2
    exit 2
fi
"$PYTHON" -c "import torch; print('torch', torch.__version__, 'CUDA', \
torch.version.cuda, 'on', torch.cuda.get_device_name(0))"

echo "== GPU tests (pytest -m gpu), limit 150 s"
timeout 150 "$PYTHON" -m pytest -m gpu -q -p no:cacheprovider tests/test_gpu.py

echo "== fusion throughput on the device, limit 120 s"
timeout 120 "$PYTHON" benchmarks/fusion_speed.py --sections gpu
