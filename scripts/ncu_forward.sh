#!/bin/bash
# ncu of our forward against cuDNN's (bf16, non-causal) on the GPU machine, from the repo root:
#   OUT=dir bash scripts/ncu_forward.sh [HEAD_DIM [SEQLENS]]     (default 128, "2048 16384")
# Builds the Python package for that head dim only, then per S and implementation the summary
# sections (SpeedOfLight, ComputeWorkloadAnalysis, WarpStateStats, ...) into
# $OUT/ncu-dD-sS-IMPL.txt, and our kernel's hottest SASS instructions at the last S.
set -u
head_dim=${1:-128}
read -r -a seqlens <<<"${2:-2048 16384}"
# shellcheck source=/dev/null
source /opt/torch/.venv/bin/activate
export PATH=/usr/local/cuda/bin:$PATH
build=/tmp/ncu-build
if ! cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DFLASHATTN_CUDA_ARCHS=90a \
  "-DFLASHATTN_HEAD_DIMS=$head_dim" -DFLASHATTN_BUILD_PYTHON=ON -DFLASHATTN_BUILD_TESTS=OFF \
  -DFLASHATTN_BUILD_CLI=OFF "-DPython_EXECUTABLE=$(command -v python)" >"$OUT/build.log" 2>&1 ||
  ! cmake --build "$build" -j "$(nproc)" >>"$OUT/build.log" 2>&1; then
  tail -20 "$OUT/build.log" && exit 1
fi
mkdir -p "$build/pythonpath"
cp -r python/flashattn "$build/pythonpath/" && cp "$build"/python/_C*.so "$build/pythonpath/flashattn/"
export PYTHONPATH=$build/pythonpath
sections=(--section SpeedOfLight --section ComputeWorkloadAnalysis --section WarpStateStats
  --section InstructionStats --section SchedulerStats --section Occupancy)
profile=(--clock-control none -k "regex:forward_kernel|sdpa|fprop" --launch-skip 1 --launch-count 1)
for s in "${seqlens[@]}"; do
  for impl in flashattn sdpa-cudnn; do
    timeout 100 ncu "${profile[@]}" "${sections[@]}" python scripts/profile_case.py "$impl" fwd \
      "$head_dim" "$s" >"$OUT/ncu-d$head_dim-s$s-$impl.txt" 2>&1
  done
done
last=${seqlens[${#seqlens[@]} - 1]}
timeout 100 ncu "${profile[@]}" --section SourceCounters --section WarpStateStats -o /tmp/ncu-ours \
  python scripts/profile_case.py flashattn fwd "$head_dim" "$last" >/dev/null 2>&1
ncu -i /tmp/ncu-ours.ncu-rep --page source --csv --print-source sass >/tmp/ncu-source.csv 2>/dev/null
python scripts/ncu_hot_instructions.py /tmp/ncu-source.csv "forward d$head_dim S $last" 40 \
  >"$OUT/ncu-d$head_dim-s$last-hot.txt" 2>&1
grep -H -E "Duration|Compute \(SM\) Throughput|Issue Slots Busy|Warp Cycles Per Issued" \
  "$OUT"/ncu-d"$head_dim"-s*.txt
