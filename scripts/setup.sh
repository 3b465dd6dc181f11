#!/usr/bin/env bash
# Installs what building and testing flashattn needs on Debian 12 (or Ubuntu), and only what is
# missing: CMake >= 3.25, Ninja, g++ and GoogleTest. The CUDA toolkit is optional and is not
# installed here; when its nvcc is present the CUDA sources are built too.
set -euo pipefail

readonly minimum_cmake=3.25

cmake_is_recent() {
  command -v cmake >/dev/null || return 1
  local version
  version=$(cmake --version | sed -n '1s/[^0-9]*\([0-9][0-9.]*\).*/\1/p')
  [[ "$(printf '%s\n' "$minimum_cmake" "$version" | sort -V | head -n1)" == "$minimum_cmake" ]]
}

missing=()
cmake_is_recent || missing+=(cmake)
command -v ninja >/dev/null || missing+=(ninja-build)
command -v g++ >/dev/null || missing+=(g++)
[[ -f /usr/include/gtest/gtest.h ]] || missing+=(libgtest-dev)

if ((${#missing[@]} > 0)); then
  echo "setup: installing ${missing[*]}" >&2
  sudo=()
  if [[ "$(id -u)" -ne 0 ]]; then sudo=(sudo); fi
  "${sudo[@]}" apt-get update
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y --no-install-recommends "${missing[@]}"
fi

if ! cmake_is_recent; then
  echo "setup: CMake >= $minimum_cmake is required, found: $(cmake --version | head -n1)" >&2
  echo "setup: install a newer one, e.g. 'pip install cmake'" >&2
  exit 1
fi
