#!/usr/bin/env bash
# Builds the sm80 kernels once per variant (the repo as it is, then each *.patch beside this
# script applied alone), checks each against the fp64 reference and benchmarks it against
# torch's FlashAttention-2 (sdpa-flash), then prints flashattn/sdpa-flash per variant.
# Run from the repo root on the GPU machine:  bash bench/variants/bench_variants.sh
# Environment: OUT (results; default /tmp/variants-out), VARIANTS (patch stems to run, space
# separated; default all), BUILD_JOBS (parallel builds, default 5), TEST_TIMEOUT (seconds per
# variant, default 100), SEQLENS (default 1024,2048,4096,16384), DIRS (fwd, bwd or fwd,bwd;
# default fwd), IMPLS (default flashattn,sdpa-flash), HEAD_DIMS (benchmarked, default
# 64,128,256), BUILD_HEAD_DIMS (compiled, ;-separated; default 64;128;256 for fwd, every
# head dim of tests/python/gpu_cases.py with bwd: its random cases need them all), TESTS
# (correctness gate, space separated pytest files; default the forward's, plus the
# backward's with bwd), REUSE_BUILDS=1 (keep a variant built by an earlier run in the same
# machine session instead of rebuilding it), ANCHOR (the impl the ratios divide by; default
# sdpa-flash), OURS (the impl divided by it; default flashattn, e.g. flashattn-sm80 to rate the
# sm80 path on Hopper), DTYPES (default bf16; e.g. bf16,fp16), CAUSAL (both, yes or no; default both), BENCH_TIMEOUT (seconds per variant's
# benchmark, default 400; a variant whose tests time out is not benchmarked), PACK=1 (leave one
# archive, OUT/variants.tgz, instead of the folder: the device tool returns at most 8 files).
# Backward example:  DIRS=bwd SEQLENS=1024,4096,16384 bash bench/variants/bench_variants.sh
set -euo pipefail

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo_root=$(pwd)
[[ -f "$repo_root/CMakeLists.txt" && -d "$repo_root/src/cuda/sm80" ]] ||
  { echo "run from the repo root" >&2; exit 2; }
out=${OUT:-/tmp/variants-out}/variants
mkdir -p "$out"
export PATH="/usr/local/cuda/bin:$PATH"
if [[ -x /opt/torch/.venv/bin/python ]]; then
  # shellcheck source=/dev/null
  source /opt/torch/.venv/bin/activate
fi
python=$(command -v python)
cores=$(nproc)
seqlens=${SEQLENS:-1024,2048,4096,16384}
dirs=${DIRS:-fwd}
impls=${IMPLS:-flashattn,sdpa-flash}
head_dims=${HEAD_DIMS:-64,128,256}
default_tests=()
[[ ,$dirs, == *,fwd,* ]] && default_tests+=(tests/python/test_gpu_forward.py)
[[ ,$dirs, == *,bwd,* ]] && default_tests+=(tests/python/test_gpu_backward.py)
read -r -a tests <<<"${TESTS:-${default_tests[*]}}"
if [[ ,$dirs, == *,bwd,* ]]; then
  build_head_dims=${BUILD_HEAD_DIMS:-32;64;96;128;192;256}
else
  build_head_dims=${BUILD_HEAD_DIMS:-64;128;256}
fi
start=$SECONDS

names=(baseline)
if [[ -n "${VARIANTS:-}" ]]; then
  read -r -a chosen <<<"$VARIANTS"
  names+=("${chosen[@]}")
else
  for patch in "$script_dir"/*.patch; do
    names+=("$(basename "$patch" .patch)")
  done
fi

# prepare NAME: copy of the repo without build dirs, the variant's patch applied.
prepare() {
  local name=$1 dir=/tmp/variant-$1
  rm -rf "$dir" && mkdir -p "$dir" || return 1
  tar -C "$repo_root" --exclude='./build*' --exclude='./.git' -cf - . | tar -C "$dir" -xf - ||
    return 1
  [[ $name == baseline ]] && return 0
  if command -v git >/dev/null; then
    (cd "$dir" && git apply "$script_dir/$name.patch")
  else
    (cd "$dir" && patch -p1 --quiet --forward <"$script_dir/$name.patch")
  fi
}

# build NAME JOBS: the Python extension (and the CUDA library under it), then the
# PYTHONPATH package exactly as scripts/gpu_check.sh assembles it.
build() {
  local name=$1 jobs=$2 dir=/tmp/variant-$1
  cmake -S "$dir" -B "$dir/build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DFLASHATTN_CUDA_ARCHS=90a "-DFLASHATTN_HEAD_DIMS=$build_head_dims" \
    -DFLASHATTN_BUILD_PYTHON=ON -DFLASHATTN_BUILD_TESTS=OFF -DFLASHATTN_BUILD_CLI=ON \
    "-DPython_EXECUTABLE=$python" >"$dir/build.log" 2>&1 &&
    cmake --build "$dir/build" -j "$jobs" >>"$dir/build.log" 2>&1 || return 1
  local package="$dir/build/pythonpath"
  rm -rf "$package" && mkdir -p "$package"
  cp -r "$dir/python/flashattn" "$package/" && cp "$dir"/build/python/_C*.so "$package/flashattn/"
}

echo "== preparing and building ${#names[@]} variants: ${names[*]}"
declare -A built
reused() { [[ ${REUSE_BUILDS:-0} == 1 && -d /tmp/variant-$1/build/pythonpath ]]; }
for name in "${names[@]}"; do
  if reused "$name"; then
    built[$name]=1 && echo "== $name: reusing its earlier build"
  elif ! prepare "$name" >"$out/$name.prepare.log" 2>&1; then
    built[$name]=0 && echo "== $name: patch does not apply" && cat "$out/$name.prepare.log"
  fi
done
build_jobs=${BUILD_JOBS:-5}
jobs_each=$(((cores + build_jobs - 1) / build_jobs))
pids=()
for name in "${names[@]}"; do
  [[ -n ${built[$name]:-} ]] && continue
  build "$name" "$jobs_each" &
  pids+=("$!:$name")
  if ((${#pids[@]} >= build_jobs)); then
    entry=${pids[0]} && pids=("${pids[@]:1}")
    if wait "${entry%%:*}"; then built[${entry#*:}]=1; else built[${entry#*:}]=0; fi
  fi
done
for entry in "${pids[@]}"; do
  if wait "${entry%%:*}"; then built[${entry#*:}]=1; else built[${entry#*:}]=0; fi
done
echo "== builds done after $((SECONDS - start)) s"
# ptxas's "Potential Performance Loss" (e.g. C7520: every wgmma serialised) explains a slow
# variant before any measurement does.
for name in "${names[@]}"; do
  if [[ -f /tmp/variant-$name/build.log ]] &&
    grep -q 'Potential Performance Loss' "/tmp/variant-$name/build.log"; then
    echo "== $name: ptxas reports a performance loss:"
    grep 'Potential Performance Loss' "/tmp/variant-$name/build.log" | sort -u | head -3
  fi
done

# One variant at a time on the GPU: correctness first, then the benchmark.
declare -A verdict
for name in "${names[@]}"; do
  dir=/tmp/variant-$name
  if [[ ${built[$name]} != 1 ]]; then
    verdict[$name]="BUILD FAILED"
    echo "== $name: BUILD FAILED (last lines of $dir/build.log):"
    if [[ -f $dir/build.log ]]; then
      tail -20 "$dir/build.log" && cp "$dir/build.log" "$out/$name.build.log"
    fi
    continue
  fi
  export PYTHONPATH="$dir/build/pythonpath"
  set +e
  (cd "$dir" && timeout "${TEST_TIMEOUT:-100}" "$python" -m pytest "${tests[@]}" \
    -m gpu -q -x -p no:cacheprovider -k "not 2_to_the_31") >"$out/$name.tests.log" 2>&1
  status=$?
  set -e
  case $status in
    0) verdict[$name]=PASS ;;
    124) verdict[$name]="TIMEOUT (tests)" ;;
    *) verdict[$name]=FAIL ;;
  esac
  echo "== $name: tests ${verdict[$name]} ($(tail -1 "$out/$name.tests.log"))"
  # A variant that hangs in its tests would hang its benchmark too (and eat the machine's call).
  if [[ ${verdict[$name]} == "TIMEOUT (tests)" ]]; then
    echo "== $name: not benchmarked" && continue
  fi
  (cd "$dir" && timeout "${BENCH_TIMEOUT:-400}" "$python" -m flashattn.bench --dirs "$dirs" \
    --impls "$impls" --head-dims "$head_dims" --seqlens "$seqlens" --causal "${CAUSAL:-both}" \
    --dtypes "${DTYPES:-bf16}" \
    --out "$out" --name "$name") \
    >"$out/$name.bench.log" 2>&1 || echo "== $name: bench failed or timed out, see $out/$name.bench.log"
  echo "== $name: bench done after $((SECONDS - start)) s"
done
unset PYTHONPATH

verdicts=""
for name in "${names[@]}"; do
  verdicts+="$name=${verdict[$name]};"
done
"$python" - "$out" "$verdicts" "${ANCHOR:-sdpa-flash}" "${OURS:-flashattn}" "${names[@]}" <<'EOF'
"""Per variant and (dir, d, causal, S): our TFLOP/s / anchor TFLOP/s of one run."""
import json
import sys
from pathlib import Path

out, verdicts, anchor_impl, our_impl = Path(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
names = sys.argv[5:]
verdict = dict(item.split("=", 1) for item in verdicts.split(";") if item)
ratios, anchors = {}, {}
for name in names:
    path = out / f"{name}.json"
    if not path.exists():
        continue
    cells = {}
    for row in json.loads(path.read_text())["rows"]:
        key = (row["dir"], row["dtype"], row["d"], row["causal"], row["s"])
        cells.setdefault(key, {})[row["impl"]] = row.get("tflops")
    for key, values in cells.items():
        ours, anchor = values.get(our_impl), values.get(anchor_impl)
        ratios.setdefault(key, {})[name] = ours / anchor if ours and anchor else None
        anchors.setdefault(key, {})[name] = anchor
shown = [name for name in names if any(name in row for row in ratios.values())]
label = {name: "baseline" if name == "baseline" else f"v{i}" for i, name in enumerate(names)}
print(f"\n{our_impl} / {anchor_impl} (bf16, same run per variant); [x] = change vs baseline")
for name in names:
    print(f"  {label[name]:>8}: {name:<40} tests {verdict.get(name, '?')}")
header = f"{'dir':>4} {'dtype':>5} {'d':>4} {'causal':>6} {'S':>6} " + " ".join(f"{label[name]:>16}" for name in shown)
print(header + f" {'anchor TF/s min-max':>18}")
for key in sorted(ratios):
    direction, dtype, d, causal, s = key
    cells = []
    base = ratios[key].get("baseline")
    for name in shown:
        value = ratios[key].get(name)
        if value is None:
            cells.append(f"{'-':>16}")
        elif name == "baseline" or not base:
            cells.append(f"{value:>16.3f}")
        else:
            cells.append(f"{f'{value:.3f} [{value / base - 1:+.1%}]':>16}")
    spread = [v for v in anchors[key].values() if v]
    anchor = f"{min(spread):.0f}-{max(spread):.0f}" if spread else "-"
    print(f"{direction:>4} {dtype:>5} {d:>4} {str(causal):>6} {s:>6} " + " ".join(cells) +
          f" {anchor:>18}")
for name in shown:
    values = [row[name] for key, row in ratios.items() if row.get(name) and key[4] >= 1024]
    if values:
        print(f"{label[name]:>8}: min {min(values):.3f}, mean {sum(values) / len(values):.3f}")
EOF
if [[ ${PACK:-0} == 1 ]]; then
  # The device tool returns at most 8 files: one archive carries every variant's JSON, table,
  # plot and logs.
  tar -czf "$out.tgz" -C "$(dirname "$out")" "$(basename "$out")" && rm -rf "$out"
  echo "== total $((SECONDS - start)) s; JSON, tables and logs in $out.tgz"
else
  echo "== total $((SECONDS - start)) s; JSON, tables and logs in $out"
fi
