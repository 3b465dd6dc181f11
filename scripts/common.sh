# shellcheck shell=bash
# Sourced by run.sh and test.sh: finds nvcc and configures + builds one build directory.

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
jobs=$(nproc)

# The CUDA toolkit installs nvcc under /usr/local/cuda/bin without putting it on PATH; CMake
# looks for it on PATH.
if ! command -v nvcc >/dev/null && [[ -x /usr/local/cuda/bin/nvcc ]]; then
  export PATH="/usr/local/cuda/bin:$PATH"
fi

# configure_and_build BUILD_DIR [CMAKE_ARGUMENTS...]
# Release build with Ninja on every core. FLASHATTN_CUDA_ARCHS and FLASHATTN_HEAD_DIMS from the
# environment override the CMake defaults (the values are then cached in BUILD_DIR).
configure_and_build() {
  local build_dir=$1
  shift
  local arguments=(-S "$repo_root" -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release)
  if [[ -n "${FLASHATTN_CUDA_ARCHS:-}" ]]; then
    arguments+=("-DFLASHATTN_CUDA_ARCHS=$FLASHATTN_CUDA_ARCHS")
  fi
  if [[ -n "${FLASHATTN_HEAD_DIMS:-}" ]]; then
    arguments+=("-DFLASHATTN_HEAD_DIMS=$FLASHATTN_HEAD_DIMS")
  fi
  cmake "${arguments[@]}" "$@"
  cmake --build "$build_dir" -j "$jobs"
}
