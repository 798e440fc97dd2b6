#!/usr/bin/env bash
# The paper suite on a GPU, next to the same Adam grid in PyTorch on CUDA, in one table.
#
# Needs: Linux, an NVIDIA GPU with its Vulkan driver, Rust, Python 3 with numpy and torch
# (CUDA build). Usage: `bash benches/gpu.sh` (full suite) or `bash benches/gpu.sh --quick`.
# Everything it prints also lands in target/gpu-bench/; BENCHMARKS.md records the results
# with the adapter's name.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=target/gpu-bench
mkdir -p "$OUT"
QUICK=()
if [[ "${1:-}" == "--quick" ]]; then QUICK=(--quick); fi

cargo build --release --quiet
{
  echo "## $(date -u +%Y-%m-%dT%H:%MZ) $(uname -m), $(nproc) CPUs"
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
  ./target/release/scalemix devices
} | tee "$OUT/machine.txt"

# E-step / Gram throughput at the sizes the GPU is for (GFLOP/s; hardware adapters only).
SCALEMIX_BENCH_SHAPES=100000x100,1000000x512 cargo bench --quiet --bench estep 2>&1 \
  | grep -E "^GPU|estep/|thrpt" | tee "$OUT/estep.txt"

./target/release/scalemix bench paper --backend gpu "${QUICK[@]}" --write-data "$OUT/paper" \
  | tee "$OUT/paper-gpu.txt"
./target/release/scalemix bench path --backend gpu "${QUICK[@]}" | tee "$OUT/path-gpu.txt"
python3 benches/peers/torch_adam.py --data "$OUT/paper" | tee "$OUT/torch.txt"
