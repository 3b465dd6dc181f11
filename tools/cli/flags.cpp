#include "flags.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <limits>

namespace flashattn::cli {
namespace {

constexpr std::int64_t kMaxExtent = std::numeric_limits<std::int32_t>::max();
// Far beyond any memory this program could allocate, but keeps element counts in int64.
constexpr std::int64_t kMaxTensorElements = std::int64_t{1} << 40;

[[noreturn]] void fail(std::string_view flag, const std::string& message) {
  throw UsageError(std::string(flag) + ": " + message);
}

// Appends rather than "'" + std::string(text): GCC 12 at -O3 flags that with a false
// -Wrestrict (GCC bug 105329).
std::string quoted(std::string_view text) {
  std::string result(1, '\'');
  result.append(text).push_back('\'');
  return result;
}

template <typename Integer>
Integer parse_integer(std::string_view flag, std::string_view text, Integer min, Integer max) {
  Integer value{};
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc{} || end != text.data() + text.size() || value < min || value > max) {
    fail(flag, "expected an integer in [" + std::to_string(min) + ", " + std::to_string(max) +
                   "], got " + quoted(text));
  }
  return value;
}

std::int64_t parse_extent(std::string_view flag, std::string_view text) {
  return parse_integer<std::int64_t>(flag, text, 1, kMaxExtent);
}

double parse_softcap(std::string_view flag, std::string_view text) {
  double value = 0.0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc{} || end != text.data() + text.size()) {
    fail(flag, "expected a number, got " + quoted(text));
  }
  if (!std::isfinite(value) || value < 0) {
    fail(flag, "expected a finite number >= 0 (0 = off), got " + quoted(text));
  }
  return value;
}

DType parse_dtype(std::string_view flag, std::string_view text) {
  if (text == "float16" || text == "fp16") return DType::float16;
  if (text == "bfloat16" || text == "bf16") return DType::bfloat16;
  if (text == "float32" || text == "fp32") return DType::float32;
  fail(flag, "expected float16, bfloat16 or float32, got " + quoted(text));
}

DeviceChoice parse_device(std::string_view flag, std::string_view text) {
  if (text == "auto") return DeviceChoice::automatic;
  if (text == "cpu") return DeviceChoice::cpu;
  if (text == "cuda") return DeviceChoice::cuda;
  if (text == "cuda-sm80") return DeviceChoice::cuda_sm80;
  fail(flag, "expected cpu, cuda, cuda-sm80 or auto, got " + quoted(text));
}

// What the parser accumulates: the config plus which defaults depend on other flags.
struct ParseState {
  RunConfig config;
  bool seqlen_k_given = false;
  bool kv_heads_given = false;
};

struct Flag {
  std::string_view name;
  std::string_view value_name;  // shown in the help; empty for switches
  std::string_view help;
  void (*apply)(ParseState& state, std::string_view flag, std::string_view value);
};

// The one list of flags: the parser reads it and --help prints it.
constexpr std::array kFlags{
    Flag{"--batch", "N", "batch size (default 2)",
         [](ParseState& s, std::string_view f, std::string_view v) {
           s.config.batch = parse_extent(f, v);
         }},
    Flag{"--seqlen-q", "N", "query sequence length (default 512)",
         [](ParseState& s, std::string_view f, std::string_view v) {
           s.config.seqlen_q = parse_extent(f, v);
         }},
    Flag{"--seqlen-k", "N", "key/value sequence length (default: --seqlen-q)",
         [](ParseState& s, std::string_view f, std::string_view v) {
           s.config.seqlen_k = parse_extent(f, v);
           s.seqlen_k_given = true;
         }},
    Flag{"--heads", "N", "query heads (default 8)",
         [](ParseState& s, std::string_view f, std::string_view v) {
           s.config.heads = parse_extent(f, v);
         }},
    Flag{"--kv-heads", "N", "key/value heads, must divide --heads; fewer = GQA (default: --heads)",
         [](ParseState& s, std::string_view f, std::string_view v) {
           s.config.kv_heads = parse_extent(f, v);
           s.kv_heads_given = true;
         }},
    Flag{"--head-dim", "N", "head dimension, 1 to 256 (default 64)",
         [](ParseState& s, std::string_view f, std::string_view v) {
           s.config.head_dim = parse_integer<std::int64_t>(f, v, 1, 256);
         }},
    Flag{"--dtype", "TYPE",
         "float16 | bfloat16 | float32, or fp16 | bf16 | fp32 (default bfloat16)",
         [](ParseState& s, std::string_view f, std::string_view v) {
           s.config.dtype = parse_dtype(f, v);
         }},
    Flag{"--causal", "", "causal mask aligned to the bottom-right corner: key j <= i + Sk - Sq",
         [](ParseState& s, std::string_view, std::string_view) { s.config.causal = true; }},
    Flag{"--window", "LEFT,RIGHT",
         "sliding window: query i sees keys i+Sk-Sq-LEFT .. i+Sk-Sq+RIGHT;\n"
         "-1 = unbounded on that side (default -1,-1)",
         [](ParseState& s, std::string_view f, std::string_view v) {
           const std::size_t comma = v.find(',');
           if (comma == std::string_view::npos) {
             fail(f, "expected LEFT,RIGHT (e.g. 128,0; -1 = unbounded), got " + quoted(v));
           }
           constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
           s.config.window_left = parse_integer<std::int64_t>(f, v.substr(0, comma), -1, kMax);
           s.config.window_right = parse_integer<std::int64_t>(f, v.substr(comma + 1), -1, kMax);
         }},
    Flag{"--softcap", "X", "soft-cap scores to X*tanh(s/X) before masking; 0 = off (default 0)",
         [](ParseState& s, std::string_view f, std::string_view v) {
           s.config.softcap = parse_softcap(f, v);
         }},
    Flag{"--backward", "", "also run, time and check the backward pass (dq, dk, dv)",
         [](ParseState& s, std::string_view, std::string_view) { s.config.backward = true; }},
    Flag{"--deterministic", "", "bitwise-reproducible backward (no float atomics in varying order)",
         [](ParseState& s, std::string_view, std::string_view) { s.config.deterministic = true; }},
    Flag{"--device", "DEV",
         "cpu | cuda | cuda-sm80 | auto (default auto). auto = cuda when this build\n"
         "has CUDA kernels, a GPU is visible and --dtype is 16-bit; cpu otherwise.\n"
         "cuda-sm80 forces the mma.sync kernels (on Hopper too, to compare the paths)",
         [](ParseState& s, std::string_view f, std::string_view v) {
           s.config.device = parse_device(f, v);
         }},
    Flag{"--seed", "N", "seed of the random inputs (default 0)",
         [](ParseState& s, std::string_view f, std::string_view v) {
           s.config.seed =
               parse_integer<std::uint64_t>(f, v, 0, std::numeric_limits<std::uint64_t>::max());
         }},
    Flag{"--threads", "N", "CPU threads for the operator and the check; 0 = all cores (default 0)",
         [](ParseState& s, std::string_view f, std::string_view v) {
           s.config.threads = parse_integer<int>(f, v, 0, 4096);
         }},
    Flag{"--repeats", "N", "timed runs after one warm-up run; the median is reported (default 5)",
         [](ParseState& s, std::string_view f, std::string_view v) {
           s.config.repeats = parse_integer<int>(f, v, 1, 1000000);
         }},
    Flag{"--json", "", "print one JSON object instead of the text report",
         [](ParseState& s, std::string_view, std::string_view) { s.config.json = true; }},
    Flag{"--help", "", "print this help and exit",
         [](ParseState& s, std::string_view, std::string_view) { s.config.help = true; }},
};

const Flag* find_flag(std::string_view name) {
  for (const Flag& flag : kFlags) {
    if (flag.name == name) return &flag;
  }
  return nullptr;
}

std::int64_t elements(std::int64_t batch, std::int64_t seqlen, std::int64_t heads,
                      std::int64_t head_dim) {
  std::int64_t count = batch;
  for (std::int64_t factor : {seqlen, heads, head_dim}) {
    if (__builtin_mul_overflow(count, factor, &count)) return kMaxTensorElements + 1;
  }
  return count;
}

// Checks that involve more than one flag; runs once all flags are read.
void check_combination(const RunConfig& config) {
  if (config.heads % config.kv_heads != 0) {
    fail("--kv-heads", "must divide --heads (" + std::to_string(config.heads) + "), got " +
                           std::to_string(config.kv_heads));
  }
  if (config.causal && config.window_right > 0) {
    fail("--window", "RIGHT must be 0 or -1 together with --causal (causal means RIGHT = 0), got " +
                         std::to_string(config.window_right));
  }
  const std::int64_t largest =
      std::max(elements(config.batch, config.seqlen_q, config.heads, config.head_dim),
               elements(config.batch, config.seqlen_k, config.kv_heads, config.head_dim));
  if (largest > kMaxTensorElements) {
    fail("--batch", "the problem is too large: one tensor would exceed 2^40 elements");
  }
}

}  // namespace

RunConfig parse_run_flags(std::span<const std::string_view> arguments) {
  ParseState state;
  for (std::size_t index = 0; index < arguments.size(); ++index) {
    const std::string_view argument = arguments[index];
    const std::size_t equals = argument.find('=');
    const std::string_view name = argument.substr(0, equals);
    const Flag* flag = argument.starts_with("--") ? find_flag(name) : nullptr;
    if (flag == nullptr) {
      throw UsageError(argument.starts_with("-") ? "unknown flag " + quoted(name)
                                                 : "unexpected argument " + quoted(argument));
    }
    std::string_view value;
    if (flag->value_name.empty()) {
      if (equals != std::string_view::npos) fail(name, "takes no value");
    } else if (equals != std::string_view::npos) {
      value = argument.substr(equals + 1);
    } else if (index + 1 < arguments.size()) {
      value = arguments[++index];
    } else {
      fail(name, "expects a value " + std::string(flag->value_name));
    }
    flag->apply(state, name, value);
  }
  RunConfig& config = state.config;
  if (!state.seqlen_k_given) config.seqlen_k = config.seqlen_q;
  if (!state.kv_heads_given) config.kv_heads = config.heads;
  if (!config.help) check_combination(config);
  return config;
}

std::string run_help() {
  std::string text =
      "Usage: flashattn run [flags]\n"
      "\n"
      "Runs exact attention on seeded random inputs (q, k, v, and dout with --backward), times\n"
      "it (one warm-up, then the median of --repeats runs), and checks the outputs against the\n"
      "fp64 oracle with the tolerance rule of docs/numerics.md: every row when the problem is\n"
      "small, sampled rows (and sampled (batch, kv-head) slices for gradients) otherwise.\n"
      "Throughput counts 4*D flops per visible (query, key) pair and head forward, 2.5x that\n"
      "backward.\n"
      "\n"
      "Exit status: 0 all checks pass, 1 a check failed or the run failed, 2 bad flags or a\n"
      "device/configuration this build cannot run.\n"
      "\n"
      "Flags (--flag VALUE or --flag=VALUE):\n";
  constexpr std::size_t kHelpColumn = 24;
  for (const Flag& flag : kFlags) {
    std::string left(2, ' ');
    left.append(flag.name);
    if (!flag.value_name.empty()) left.append(" ").append(flag.value_name);
    left.resize(std::max(left.size() + 1, kHelpColumn), ' ');
    text.append(left);
    // Continuation lines of a help entry start at the help column too.
    for (const char c : flag.help) {
      text.push_back(c);
      if (c == '\n') text.append(kHelpColumn, ' ');
    }
    text.push_back('\n');
  }
  return text;
}

std::string_view device_choice_name(DeviceChoice device) {
  switch (device) {
    case DeviceChoice::automatic:
      return "auto";
    case DeviceChoice::cpu:
      return "cpu";
    case DeviceChoice::cuda:
      return "cuda";
    case DeviceChoice::cuda_sm80:
      return "cuda-sm80";
  }
  return "auto";
}

}  // namespace flashattn::cli
