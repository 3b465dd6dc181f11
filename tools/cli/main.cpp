// The `flashattn` program: `run` checks and times the operator, `info` describes the build.
//
// Exit status: 0 success, 1 a check failed or the run failed, 2 a request this program or
// build cannot carry out (bad flags, CUDA asked for but unavailable, unsupported options).
#include <iostream>
#include <new>
#include <span>
#include <string_view>
#include <thread>
#include <vector>

#include "check.h"
#include "cuda/backend.h"
#include "flags.h"
#include "flashattn/attention.h"
#include "flashattn/error.h"
#include "report.h"
#include "run.h"

namespace {

using namespace flashattn;
using namespace flashattn::cli;

constexpr int kExitPass = 0;
constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;

constexpr std::string_view kMainHelp =
    "Usage: flashattn <command> [flags]\n"
    "\n"
    "Commands:\n"
    "  run     run, time and check exact attention on random inputs (see flashattn run --help)\n"
    "  info    describe this build: version, backends, CUDA archs and head dims, devices\n"
    "  help    print this help\n"
    "\n"
    "Examples:\n"
    "  flashattn run\n"
    "  flashattn run --backward --causal --seqlen-q 1024 --heads 8 --kv-heads 2\n"
    "  flashattn run --dtype float16 --window 128,0 --softcap 30 --json\n";

int run_command(std::span<const std::string_view> arguments) {
  RunConfig config;
  Backend backend = Backend::cpu;
  try {
    config = parse_run_flags(arguments);
    if (config.help) {
      std::cout << run_help();
      return kExitPass;
    }
    backend = resolve_backend(config);
  } catch (const UsageError& error) {
    std::cerr << "flashattn run: " << error.what() << "\n(see flashattn run --help)\n";
    return kExitUsage;
  }
  const Options options = operator_options(config, backend);
  RunData data = make_inputs(config);
  RunSummary summary{config, backend, execute(config, options, data), {}};
  summary.check = check_against_oracle(config, options, data);
  if (config.json) {
    print_json(std::cout, summary);
  } else {
    print_text(std::cout, summary);
  }
  return summary.check.pass() ? kExitPass : kExitFailure;
}

int info_command() {
  const int devices = cuda_device_count();
  std::cout << build_info() << "\n"
            << "cuda kernels compiled: " << (cuda_kernels_compiled() ? "yes" : "no") << "\n"
            << "cuda devices visible: " << devices << "\n"
            << "cuda available: " << (cuda_available() ? "yes" : "no") << "\n"
            << "hardware threads: " << std::thread::hardware_concurrency() << "\n";
  return kExitPass;
}

int dispatch(std::span<const std::string_view> arguments) {
  const std::string_view command = arguments.empty() ? "" : arguments.front();
  if (command == "run") return run_command(arguments.subspan(1));
  if (command == "info" && arguments.size() == 1) return info_command();
  if (command == "help" || command == "--help" || command == "-h") {
    std::cout << kMainHelp;
    return kExitPass;
  }
  if (command.empty()) {
    std::cerr << "flashattn: missing command\n\n";
  } else if (command == "info") {
    std::cerr << "flashattn info: takes no arguments\n\n";
  } else {
    std::cerr << "flashattn: unknown command '" << command << "'\n\n";
  }
  std::cerr << kMainHelp;
  return kExitUsage;
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string_view> arguments(argv + 1, argv + argc);
  try {
    return dispatch(arguments);
  } catch (const InvalidArgument& error) {  // options the library rejects
    std::cerr << "flashattn: invalid argument: " << error.what() << "\n";
    return kExitUsage;
  } catch (const Unsupported& error) {
    std::cerr << "flashattn: unsupported: " << error.what() << "\n";
    return kExitUsage;
  } catch (const std::bad_alloc&) {
    std::cerr << "flashattn: out of host memory; choose a smaller problem\n";
    return kExitFailure;
  } catch (const std::exception& error) {
    std::cerr << "flashattn: error: " << error.what() << "\n";
    return kExitFailure;
  }
}
