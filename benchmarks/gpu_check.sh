#!/usr/bin/env bash
# The GPU figures of eoxr, on a machine with an NVIDIA GPU (CPU machines skip the CUDA tests and report the
# GPU benchmark rows as null):
#   1. the tests marked cuda, anywhere in tests/ (pytest -m cuda): prediction on the GPU equals the CPU's, the model stays resident per
#      process and device, batches arrive pinned on the device, and with dask-cuda installed connect("cuda")
#      runs the model steps on one GPU per worker;
#   2. benchmark ml, part 3 alone (CPU cores vs one GPU, side by side in one run): pixels per second on every
#      CPU core and on the GPU, the speed-up (target >= 20) and the GPU's busy fraction (NVML, target >= 0.7);
#      benchmark urban's inversion alike (numpy solver on every core vs the torch solver on the GPU, target >= 20).
#
#   bash benchmarks/gpu_check.sh [OUT]           # OUT (default gpu-check/) gets gpu.txt, cuda-tests.txt,
#                                                # ml-devices.json/.md and urban-devices.json/.md
#   SIZE=--quick bash benchmarks/gpu_check.sh    # the reduced case (1024 x 1024) instead of the full one (4096 x 4096)
#
# Needs the NVIDIA driver and eoxr installed with a CUDA build of torch (`make install`: PyPI's Linux torch
# wheels are CUDA builds) and nvidia-ml-py (eoxr[gpu]); dask-cuda is optional (deploy/README.md, GPUs).
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
OUT=${1:-gpu-check}
SIZE=${SIZE:-}
mkdir -p "$OUT"

nvidia-smi --query-gpu=name,driver_version,memory.total,utilization.gpu --format=csv | tee "$OUT/gpu.txt"
"$PY" -c "import torch; assert torch.cuda.is_available(), 'torch sees no CUDA device'; \
print('torch', torch.__version__, 'CUDA', torch.version.cuda, torch.cuda.get_device_name())" | tee -a "$OUT/gpu.txt" \
    || exit 1

"$PY" -m pytest -m cuda -rs -q -p no:cacheprovider tests 2>&1 | tee "$OUT/cuda-tests.txt"
tests=${PIPESTATUS[0]}

"$PY" - "$OUT" $SIZE <<'EOF'
import sys

from eoxr import bench

ml = bench.load_benchmark("ml")
out, quick = sys.argv[1], "--quick" in sys.argv[2:]
report = bench.run("ml-devices", ml.run_devices, ml.DEVICE_TARGETS, quick=quick, seed=0, out=out, device="cuda")
print(bench.to_markdown(report))
urban = bench.load_benchmark("urban")
report = bench.run("urban-devices", urban.run_devices, urban.DEVICE_TARGETS, quick=quick, seed=0, out=out,
                   device="cuda")
print(bench.to_markdown(report))
EOF
benchmark=$?
echo "CUDA tests exit $tests, benchmark exit $benchmark; results in $OUT/"
exit $(( tests || benchmark ))
