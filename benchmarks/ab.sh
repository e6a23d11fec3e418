#!/usr/bin/env bash
# A/B: one benchmark script on REV's source, then on the working tree's, one after the other, so
# that each prints its ratios against baselines of its own process on the same machine state.
#
#   bash benchmarks/ab.sh be9ffd9 benchmarks/positional_gpt2_small.py
#   bash benchmarks/ab.sh be9ffd9 benchmarks/scale.py --shapes small --workloads sub50 --repeats 5
set -euo pipefail
if [ $# -lt 2 ]; then
  echo "usage: bash benchmarks/ab.sh REV SCRIPT [ARGS...]  (run from the repository root)" >&2
  exit 2
fi
rev=$1; shift
old=$(mktemp -d)
trap 'rm -rf "$old"' EXIT
git archive "$rev" src | tar -x -C "$old"
for side in "$rev" working-tree; do
  if [ "$side" = working-tree ]; then src=src; else src=$old/src; fi
  echo "=== $side: $*"
  OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} PYTHONPATH=$src .venv/bin/python -u "$@"
done
