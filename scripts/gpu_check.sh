#!/usr/bin/env bash
# On the GPU machine: build (CUDA archs from FLASHATTN_CUDA_ARCHS, default 90a), run the GPU
# tests, compute-sanitizer memcheck/racecheck on representative forward and backward problems, report the kernels'
# SASS (HMMA count, local-memory traffic) and run the benchmark. Results go to $OUT (or
# build/gpu-out). Works without scikit-build-core: the extension is built by CMake and put on
# PYTHONPATH.  Usage: scripts/gpu_check.sh [tests|ptx|sanitize|sass|bench|all]...
set -euo pipefail
# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

out=${OUT:-$repo_root/build/gpu-out}
build="$repo_root/build/gpu"
mkdir -p "$out"
export FLASHATTN_CUDA_ARCHS=${FLASHATTN_CUDA_ARCHS:-90a}
# FLASHATTN_PREBUILT names a build directory made elsewhere with the same layout (e.g. by
# bench/variants/bench_variants.sh): the steps then check it instead of building this tree.
if [[ -n "${FLASHATTN_PREBUILT:-}" ]]; then
  build=$FLASHATTN_PREBUILT
else
  configure_and_build "$build" -DFLASHATTN_BUILD_TESTS=OFF -DFLASHATTN_BUILD_CLI=ON \
    -DFLASHATTN_BUILD_PYTHON=ON >/dev/null
  rm -rf "$build/pythonpath" && mkdir -p "$build/pythonpath"
  cp -r "$repo_root/python/flashattn" "$build/pythonpath/" &&
    cp "$build"/python/_C*.so "$build/pythonpath/flashattn/"
fi
export PYTHONPATH="$build/pythonpath${PYTHONPATH:+:$PYTHONPATH}"
cli="$build/flashattn"

# The GPU-marked tests (the CPU ones run in CI).
run_tests() { python -m pytest "$repo_root/tests/python" -m gpu -q 2>&1 | tail -5; }

# The PTX wrapper unit tests (GoogleTest; reported, not fatal, when GoogleTest is missing).
run_ptx_tests() {
  local tests_build="$repo_root/build/gpu-tests"
  if cmake -S "$repo_root" -B "$tests_build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DFLASHATTN_BUILD_TESTS=ON -DFLASHATTN_BUILD_CLI=OFF -DFLASHATTN_HEAD_DIMS=64 \
    "-DFLASHATTN_CUDA_ARCHS=$FLASHATTN_CUDA_ARCHS" >/dev/null 2>&1; then
    cmake --build "$tests_build" -j "$jobs" --target flashattn_ptx_tests >/dev/null
    "$tests_build/tests/flashattn_ptx_tests" 2>&1 | tail -3
  else
    echo "ptx tests: not built (GoogleTest not found)"
  fi
}

run_sanitizer() {
  local problems=("--head-dim 64 --seqlen-q 200 --seqlen-k 333 --causal"
    "--head-dim 128 --seqlen-q 129 --seqlen-k 77 --kv-heads 1 --window 20,5"
    "--head-dim 256 --seqlen-q 65 --seqlen-k 300 --softcap 30 --dtype float16"
    "--head-dim 128 --seqlen-q 250 --seqlen-k 333 --softcap 30"
    "--head-dim 64 --seqlen-q 300 --seqlen-k 200 --softcap 20 --kv-heads 2"
    "--head-dim 40 --seqlen-q 100 --seqlen-k 100"
    "--head-dim 64 --seqlen-q 200 --seqlen-k 333 --causal --kv-heads 1 --backward"
    "--head-dim 128 --seqlen-q 129 --seqlen-k 300 --window 20,5 --softcap 30 --backward"
    "--head-dim 256 --seqlen-q 150 --seqlen-k 77 --dtype float16 --backward --deterministic"
    "--head-dim 96 --seqlen-q 300 --seqlen-k 260 --backward"
    # More tiles than multiprocessors: several CTA waves (and a persistent grid's hand-over from
    # tile to tile); the later --batch/--heads override the defaults below.
    "--head-dim 128 --seqlen-q 1000 --seqlen-k 900 --causal --batch 3 --heads 16 --kv-heads 4"
    "--head-dim 64 --seqlen-q 777 --seqlen-k 800 --window 100,50 --batch 2 --heads 24"
    "--head-dim 128 --seqlen-q 1000 --seqlen-k 900 --batch 4 --heads 16 --kv-heads 2"
    # The sm80 forward where the automatic choice takes the sm90 one (d256: P V split by columns).
    "--device cuda-sm80 --head-dim 256 --seqlen-q 150 --seqlen-k 333 --causal --kv-heads 1"
    "--device cuda-sm80 --head-dim 200 --seqlen-q 65 --seqlen-k 130 --softcap 30 --dtype float16"
    "--device cuda-sm80 --head-dim 64 --seqlen-q 300 --seqlen-k 260 --window 40,7"
    # d160-d192 run the sm80 d192 kernel (P V split by row and column groups) on Hopper too.
    "--head-dim 176 --seqlen-q 150 --seqlen-k 333 --causal --kv-heads 1")
  for tool in memcheck racecheck synccheck; do
    for problem in "${problems[@]}"; do
      # SANITIZE_FORWARD_ONLY=1: skip the backward problems (for a change to the forward alone).
      [[ ${SANITIZE_FORWARD_ONLY:-0} == 1 && $problem == *--backward* ]] && continue
      # shellcheck disable=SC2086
      compute-sanitizer --tool "$tool" --error-exitcode 9 "$cli" run --device cuda --batch 1 \
        --heads 2 --repeats 1 $problem >/dev/null && echo "$tool clean: $problem" ||
        echo "$tool FAILED: $problem"
    done
  done
}

run_sass() {
  for object in "$build"/CMakeFiles/flashattn_cuda.dir/generated/cuda/*.o; do
    local sass
    sass=$(cuobjdump -sass "$object")
    printf '%s:' "$(basename "$object")"
    for instruction in HMMA HGMMA UTMALDG UTMASTG USETMAXREG LDL STL; do
      printf ' %s %s' "$instruction" "$(grep -c "$instruction" <<<"$sass")"
    done
    echo
  done
  # Each kernel's main loop: its instructions and any local-memory traffic inside it.
  python "$repo_root/scripts/sass_loops.py" "$build"/CMakeFiles/flashattn_cuda.dir/generated/cuda/*.o
}

# BENCH_ARGS narrows the grid, e.g. "--dirs fwd --head-dims 128".
run_bench() {
  # shellcheck disable=SC2086
  python -m flashattn.bench --out "$out" --name "${BENCH_NAME:-h100}" ${BENCH_ARGS:---decode}
}

for step in "${@:-all}"; do
  case "$step" in
    tests) run_tests ;;
    ptx) run_ptx_tests ;;
    sanitize) run_sanitizer ;;
    sass) run_sass ;;
    bench) run_bench ;;
    all) run_tests && run_ptx_tests && run_sanitizer && run_sass && run_bench ;;
    *) echo "unknown step $step" >&2 && exit 2 ;;
  esac
done
