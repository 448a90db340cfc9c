#!/usr/bin/env bash
# The checks that need a GPU, as one run on a lent CUDA machine: the test suite (every test
# parametrised over devices() then also runs on "cuda"), the speed benchmark and the scaling
# benchmark on the GPU. Results go to $OUT (or benchmarks/results when OUT is unset).
#
#     OUT=gpu_results bash benchmarks/device_check.sh
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-benchmarks/results}"
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
python3 -m pip install -q --no-deps --no-build-isolation -e . > "$OUT/device_install.log" 2>&1 \
  || export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
python3 - <<'PY' | tee "$OUT/device_tests.log"
import torch, torch_geometric
print("torch", torch.__version__, "torch_geometric", torch_geometric.__version__,
      "cuda", torch.cuda.is_available(), torch.cuda.get_device_name() if torch.cuda.is_available() else "")
PY
# 1. the suite, CUDA parametrisations included (xdist where installed)
N=""; python3 -c "import xdist" 2>/dev/null && N="-n 8"
timeout 300 python3 -m pytest -q -p no:cacheprovider $N -ra tests 2>&1 | tail -40 | tee -a "$OUT/device_tests.log"
# 2. speed on the GPU (the loop reference is skipped: it is a CPU check of the same math)
timeout 150 python3 benchmarks/speed.py --device cuda --sizes 10 100 1000 10000 --reps 5 --no-reference \
  --out "$OUT/speed_cuda.md" > "$OUT/speed_cuda.log" 2>&1 || echo "speed: exit $?" >> "$OUT/speed_cuda.log"
# 3. scaling on the GPU, up to 100,000 nodes
timeout 140 python3 benchmarks/scaling.py --device cuda --sizes 1000 10000 100000 --models srnn_slot srnn_edge stgcn \
  --max-memory-gb 100 --out "$OUT" > "$OUT/scaling_cuda.log" 2>&1 \
  || echo "scaling: exit $?" >> "$OUT/scaling_cuda.log"
ls -la "$OUT"
