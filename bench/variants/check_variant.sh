#!/usr/bin/env bash
# After bench_variants.sh in the same machine session: the checks a variant must pass before it
# lands, on its build in /tmp/variant-NAME (built with every head dim the GPU tests need:
# BUILD_HEAD_DIMS="32;64;96;128;192;256"). Runs every GPU-marked pytest test, compute-sanitizer
# (memcheck, racecheck, synccheck) on the forward problems of scripts/gpu_check.sh, its SASS
# summary of every CUDA object, and an ncu summary (sections and hottest instructions) of one
# d128 forward launch per NCU_SEQLENS (and of NCU_ANCHOR's, e.g. sdpa-cudnn, beside it).
# Usage, from the repo root:  bash bench/variants/check_variant.sh NAME   (OUT: results folder)
set -uo pipefail

name=${1:?variant name (baseline for the unpatched tree)}
dir=/tmp/variant-$name
out=${OUT:-/tmp/variants-out}
[[ -x $dir/build/flashattn ]] || { echo "no build in $dir: run bench_variants.sh first" >&2; exit 2; }
export PATH="/usr/local/cuda/bin:$PATH"
if [[ -x /opt/torch/.venv/bin/python ]]; then
  # shellcheck source=/dev/null
  source /opt/torch/.venv/bin/activate
fi
export PYTHONPATH="$dir/build/pythonpath"

echo "== $name: GPU tests"
(cd "$dir" && timeout 300 python -m pytest tests/python -m gpu -q -p no:cacheprovider 2>&1 | tail -3)

echo "== $name: SASS and compute-sanitizer (forward problems)"
FLASHATTN_PREBUILT=$dir/build SANITIZE_FORWARD_ONLY=1 timeout "${SANITIZE_TIMEOUT:-200}" \
  bash scripts/gpu_check.sh sass sanitize

# NCU_SEQLENS (default 16384): one d128 launch profiled per sequence length. The text report has
# the summary sections; the per-instruction stall samples (where a short sequence's time goes)
# come from the saved report's source page, summarised by scripts/ncu_hot_instructions.py.
for seqlen in ${NCU_SEQLENS:-16384}; do
  echo "== $name: ncu, sm90 forward d128 S = $seqlen (one launch)"
  stem="$out/$name-ncu-d128-s$seqlen"
  timeout 120 ncu --clock-control none -k regex:forward_kernel --launch-skip 1 --launch-count 1 \
    --section SpeedOfLight --section ComputeWorkloadAnalysis --section WarpStateStats \
    --section SourceCounters -o "$stem" -f python scripts/profile_case.py flashattn fwd 128 \
    "$seqlen" >/dev/null 2>&1
  ncu -i "$stem.ncu-rep" >"$stem.txt" 2>&1
  ncu -i "$stem.ncu-rep" --page source --csv --print-source sass >"$stem-source.csv" 2>&1 &&
    python scripts/ncu_hot_instructions.py "$stem-source.csv" \
      "$name: sm90 forward d128, S = $seqlen, bf16" >"$stem-hot-instructions.txt"
  rm -f "$stem.ncu-rep" "$stem-source.csv"  # large; the summaries stay
  grep -E 'forward_kernel|Duration|Compute \(SM\) Throughput|Issue Slots Busy|Warp Cycles Per Issued|highest-utilized' \
    "$stem.txt" | head -12
  head -3 "$stem-hot-instructions.txt"
  # NCU_ANCHOR (e.g. sdpa-cudnn): the same launch of another implementation, summary sections only.
  if [[ -n ${NCU_ANCHOR:-} ]]; then
    timeout 120 ncu --clock-control none -k "regex:forward_kernel|fprop|flash_fwd" --launch-skip 1 \
      --launch-count 1 --section SpeedOfLight --section ComputeWorkloadAnalysis \
      --section WarpStateStats python scripts/profile_case.py "$NCU_ANCHOR" fwd 128 "$seqlen" \
      >"$out/$NCU_ANCHOR-ncu-d128-s$seqlen.txt" 2>&1
    grep -E 'forward_kernel|fprop|flash_fwd|Duration|Compute \(SM\) Throughput|Issue Slots Busy|Warp Cycles Per Issued' \
      "$out/$NCU_ANCHOR-ncu-d128-s$seqlen.txt" ||
      echo "no $NCU_ANCHOR profile: see $out/$NCU_ANCHOR-ncu-d128-s$seqlen.txt"
  fi
done
