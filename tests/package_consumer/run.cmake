# cmake -P script behind the package_consumer test: installs the built project into a scratch
# prefix, then configures, builds and runs the consumer project against that prefix only.
#
# Inputs (-D): PROJECT_BINARY_DIR, CONSUMER_SOURCE_DIR, WORK_DIR, GENERATOR, CXX_COMPILER, CONFIG.

function(run_step description)
  message(STATUS "package_consumer: ${description}")
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE status)
  if(NOT status EQUAL 0)
    message(FATAL_ERROR "package_consumer: ${description} failed (${status})")
  endif()
endfunction()

file(REMOVE_RECURSE "${WORK_DIR}")
set(prefix "${WORK_DIR}/prefix")
set(build "${WORK_DIR}/build")

run_step("install" "${CMAKE_COMMAND}" --install "${PROJECT_BINARY_DIR}" --prefix "${prefix}"
         --config "${CONFIG}")
run_step("configure" "${CMAKE_COMMAND}" -S "${CONSUMER_SOURCE_DIR}" -B "${build}"
         -G "${GENERATOR}" "-DCMAKE_CXX_COMPILER=${CXX_COMPILER}" "-DCMAKE_BUILD_TYPE=${CONFIG}"
         "-DCMAKE_PREFIX_PATH=${prefix}" -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF)
run_step("build" "${CMAKE_COMMAND}" --build "${build}" --config "${CONFIG}")

find_program(consumer package_consumer PATHS "${build}" "${build}/${CONFIG}" NO_DEFAULT_PATH)
run_step("run" "${consumer}")
