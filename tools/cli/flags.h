// The flags of `flashattn run`: parsed into a RunConfig, documented in one table.
#pragma once

#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>

#include "flashattn/dtype.h"

namespace flashattn::cli {

// A request the program cannot carry out as written: bad flag, bad value, unusable device.
// main() prints it and exits with status 2.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

enum class DeviceChoice { automatic, cpu, cuda, cuda_sm80 };

struct RunConfig {
  std::int64_t batch = 2;
  std::int64_t seqlen_q = 512;
  std::int64_t seqlen_k = 512;
  std::int64_t heads = 8;
  std::int64_t kv_heads = 8;
  std::int64_t head_dim = 64;
  DType dtype = DType::bfloat16;
  bool causal = false;
  std::int64_t window_left = -1;  // -1 = unbounded
  std::int64_t window_right = -1;
  double softcap = 0.0;  // 0 = off
  bool backward = false;
  bool deterministic = false;
  DeviceChoice device = DeviceChoice::automatic;
  std::uint64_t seed = 0;
  int threads = 0;  // 0 = all hardware threads
  int repeats = 5;
  bool json = false;
  bool help = false;
};

// Parses the arguments after `run`. Throws UsageError naming the flag and the problem.
RunConfig parse_run_flags(std::span<const std::string_view> arguments);

// The --help text of `flashattn run`, generated from the same table the parser uses.
std::string run_help();

std::string_view device_choice_name(DeviceChoice device);

}  // namespace flashattn::cli
