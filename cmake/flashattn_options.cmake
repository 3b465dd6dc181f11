# Validates the build options and derives the CUDA flags from them.

# Warning flags, and strict -std=c++20 for C++ targets. (CXX_EXTENSIONS=OFF on a target with
# CUDA sources makes CMake 3.25 demand an unknown "CUDA20" dialect from nvcc: C++ targets only.)
function(flashattn_set_warnings target)
  set_target_properties(${target} PROPERTIES CXX_EXTENSIONS OFF)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow)
  if(FLASHATTN_WARNINGS_AS_ERRORS)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()

function(flashattn_set_cuda_warnings target)
  target_compile_options(${target} PRIVATE -Xcompiler=-Wall,-Wextra)
  if(FLASHATTN_WARNINGS_AS_ERRORS)
    target_compile_options(${target} PRIVATE -Werror=all-warnings -Xcompiler=-Werror)
  endif()
endfunction()

set(FLASHATTN_SUPPORTED_HEAD_DIMS 32 64 96 128 192 256)
if(FLASHATTN_HEAD_DIMS STREQUAL "all")
  set(FLASHATTN_HEAD_DIMS_LIST ${FLASHATTN_SUPPORTED_HEAD_DIMS})
else()
  set(FLASHATTN_HEAD_DIMS_LIST ${FLASHATTN_HEAD_DIMS})
endif()
foreach(head_dim IN LISTS FLASHATTN_HEAD_DIMS_LIST)
  if(NOT head_dim IN_LIST FLASHATTN_SUPPORTED_HEAD_DIMS)
    message(FATAL_ERROR "FLASHATTN_HEAD_DIMS: ${head_dim} is not one of "
                        "${FLASHATTN_SUPPORTED_HEAD_DIMS} (or 'all')")
  endif()
endforeach()

set(FLASHATTN_WITH_CUDA OFF)
if(FLASHATTN_ENABLE_CUDA)
  include(CheckLanguage)
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    enable_language(CUDA)
    set(FLASHATTN_WITH_CUDA ON)
  else()
    message(STATUS "flashattn: nvcc not found, building the CPU-only library")
  endif()
endif()

# Explicit -gencode pairs: the sm_90a features (wgmma, setmaxnreg) need arch=compute_90a.
set(FLASHATTN_GENCODE_FLAGS "")
if(FLASHATTN_WITH_CUDA)
  foreach(arch IN LISTS FLASHATTN_CUDA_ARCHS)
    if(NOT arch MATCHES "^[0-9]+a?$")
      message(FATAL_ERROR "FLASHATTN_CUDA_ARCHS: '${arch}' is not an architecture like 80 or 90a")
    endif()
    list(APPEND FLASHATTN_GENCODE_FLAGS "SHELL:-gencode arch=compute_${arch},code=sm_${arch}")
  endforeach()
  # Comma-joined copies for messages and compile definitions (a ';' would split the flag).
  string(REPLACE ";" "," FLASHATTN_CUDA_ARCHS_TEXT "${FLASHATTN_CUDA_ARCHS}")
  string(REPLACE ";" "," FLASHATTN_HEAD_DIMS_TEXT "${FLASHATTN_HEAD_DIMS_LIST}")
  message(STATUS "flashattn: CUDA archs ${FLASHATTN_CUDA_ARCHS_TEXT}; "
                 "head dims ${FLASHATTN_HEAD_DIMS_TEXT}")
endif()
