#!/usr/bin/env bash
# The engine-at-scale benchmarks' device rows in one run, for a lent GPU machine (torch + transformers already there):
#   OUT=/some/dir bash benchmarks/device.sh
# Planning (one CPU thread, idle machine), first calls on the CPU at 4 x 16, and GPU runs at
# 32 x 32 and 128 x 64, the position-resolved workloads (causal trace) and the hook-baseline suite
# (run.py) on the GPU: at most 560 s in all. Each step has its own time limit; a step that runs out
# is reported.
set -uo pipefail
export PYTHONPATH=src PYTHONUNBUFFERED=1
OUT=${OUT:-benchmarks/results/device}
mkdir -p "$OUT"
step() { local limit=$1; shift; echo "== $* (limit ${limit}s)"; timeout "$limit" "$@" || echo "!! exit $? : $*"; }
nvidia-smi -L 2>/dev/null || echo "no GPU"
step 60 python3 benchmarks/scale.py --plan-only --shapes small,medium,xl --out "$OUT/plan"
step 100 python3 benchmarks/scale.py --shapes small --device cpu --batch 4 --pos 16 --out "$OUT/cpu-small"
step 70 python3 benchmarks/scale.py --shapes medium --workloads sub5,sub50 --device cpu --batch 4 --pos 16 --out "$OUT/cpu-medium"
step 80 python3 benchmarks/scale.py --shapes small,medium --device cuda --batch 32 --pos 32 --out "$OUT/gpu-32x32"
step 70 python3 benchmarks/scale.py --shapes small --workloads sub5,sub50,scanlast --device cuda --batch 128 --pos 64 --out "$OUT/gpu-128x64"
step 60 python3 benchmarks/positional_gpt2_small.py --device cuda
step 120 python3 benchmarks/run.py --device cuda --out "$OUT/run-cuda"
