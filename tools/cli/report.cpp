#include "report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <thread>

#include "flashattn/attention.h"

namespace flashattn::cli {
namespace {

std::string format(const char* pattern, double value) {
  char text[64];
  std::snprintf(text, sizeof text, pattern, value);
  return text;
}

std::string padded(std::string_view text, std::size_t width) {
  std::string result(text);
  result.resize(std::max(width, result.size() + 1), ' ');
  return result;
}

bool on_gpu(const RunSummary& summary) {
  return is_cuda(summary.backend);
}

// The report's name for where the run went, spelled as --device takes it.
std::string_view device_label(const RunSummary& summary) {
  if (!on_gpu(summary)) return "cpu";
  return summary.backend == Backend::cuda_sm80 ? "cuda-sm80" : "cuda";
}

// Threads the CPU operator used (the library resolves 0 to every hardware thread).
unsigned cpu_threads(const RunConfig& config) {
  return config.threads > 0 ? static_cast<unsigned>(config.threads)
                            : std::max(1u, std::thread::hardware_concurrency());
}

std::string device_text(const RunSummary& summary) {
  if (on_gpu(summary)) return "cuda:0";
  return "cpu, " + std::to_string(cpu_threads(summary.config)) + " threads";
}

std::string mask_text(const RunConfig& config) {
  std::string text = config.causal ? "causal (bottom-right)" : "";
  if (config.window_left != -1 || config.window_right != -1) {
    text += std::string(text.empty() ? "" : ", ") + "window (" +
            std::to_string(config.window_left) + ", " + std::to_string(config.window_right) + ")";
  }
  return text.empty() ? "none" : text;
}

// GPU throughput reads best in TFLOP/s, CPU throughput in GFLOP/s.
std::string throughput_text(const RunSummary& summary, const Timing& timing) {
  const double flops_per_second = timing.flops / timing.median_seconds;
  return on_gpu(summary) ? format("%.1f TFLOP/s", flops_per_second * 1e-12)
                         : format("%.2f GFLOP/s", flops_per_second * 1e-9);
}

std::string json_quote(std::string_view text) {
  std::string quoted = "\"";
  for (const char c : text) {
    if (c == '"' || c == '\\') {
      quoted += '\\';
      quoted += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char escape[8];
      std::snprintf(escape, sizeof escape, "\\u%04x", static_cast<unsigned>(c));
      quoted += escape;
    } else {
      quoted += c;
    }
  }
  return quoted + "\"";
}

// Builds one JSON object field by field; nested objects and arrays go in through raw().
class JsonObject {
 public:
  JsonObject& text(std::string_view key, std::string_view value) {
    return raw(key, json_quote(value));
  }
  JsonObject& number(std::string_view key, double value) {  // JSON has no inf/NaN: null
    return raw(key, std::isfinite(value) ? format("%.9g", value) : "null");
  }
  template <typename Integer>
  JsonObject& integer(std::string_view key, Integer value) {
    return raw(key, std::to_string(value));
  }
  JsonObject& boolean(std::string_view key, bool value) {
    return raw(key, value ? "true" : "false");
  }
  JsonObject& raw(std::string_view key, const std::string& json) {
    if (!body_.empty()) body_ += ',';
    body_.append(json_quote(key)).append(":").append(json);
    return *this;
  }
  std::string str() const { return "{" + body_ + "}"; }

 private:
  std::string body_;
};

std::string json_array(const std::vector<std::string>& elements) {
  std::string text = "[";
  for (const std::string& element : elements)
    text += (text.size() > 1 ? "," : "") + element;
  return text + "]";
}

std::string config_json(const RunConfig& config) {
  return JsonObject()
      .integer("batch", config.batch)
      .integer("seqlen_q", config.seqlen_q)
      .integer("seqlen_k", config.seqlen_k)
      .integer("heads", config.heads)
      .integer("kv_heads", config.kv_heads)
      .integer("head_dim", config.head_dim)
      .text("dtype", dtype_name(config.dtype))
      .boolean("causal", config.causal)
      .integer("window_left", config.window_left)
      .integer("window_right", config.window_right)
      .number("softcap", config.softcap)
      .boolean("backward", config.backward)
      .boolean("deterministic", config.deterministic)
      .text("device", device_choice_name(config.device))
      .integer("seed", config.seed)
      .integer("threads", config.threads)
      .integer("repeats", config.repeats)
      .str();
}

}  // namespace

void print_text(std::ostream& stream, const RunSummary& summary) {
  const RunConfig& c = summary.config;
  stream << build_info() << "\n"
         << "problem   batch " << c.batch << ", seqlen q " << c.seqlen_q << " k " << c.seqlen_k
         << ", heads q " << c.heads << " kv " << c.kv_heads << ", head dim " << c.head_dim << ", "
         << dtype_name(c.dtype) << "\n"
         << "mask      " << mask_text(c)
         << (c.softcap > 0 ? ", softcap " + format("%g", c.softcap) : "") << "\n"
         << "device    " << device_text(summary) << "\n";
  for (const Timing& timing : summary.timings) {
    stream << padded(timing.direction, 10) << format("%.3f ms", timing.median_seconds * 1e3)
           << " (median of " << c.repeats << ")  " << throughput_text(summary, timing) << "  ("
           << format("%.3g GFLOP", timing.flops * 1e-9) << ")\n";
  }
  const CheckReport& check = summary.check;
  stream << "check     against the fp64 oracle, rtol " << check.rtol << " (docs/numerics.md)\n"
         << "          out, lse: " << check.forward_scope << "\n";
  if (!check.backward_scope.empty()) {
    stream << "          dq, dk, dv: " << check.backward_scope << "\n";
  }
  // Columns: quantity, max error, naive error, bound, verdict; header and rows share widths.
  const std::string naive_header = "naive " + std::string(dtype_name(c.dtype)) + " error";
  const std::size_t naive_width = naive_header.size() + 3;
  stream << padded("", 10) << padded("max error", 12) << padded(naive_header, naive_width)
         << "bound\n";
  for (const QuantityCheck& quantity : check.quantities) {
    const testing::ToleranceResult& r = quantity.result;
    stream << "  " << padded(quantity.name, 8) << padded(format("%.3e", r.max_error), 12)
           << padded(format("%.3e", r.naive_error), naive_width)
           << padded(format("%.3e", r.bound), 12) << (r.pass() ? "PASS" : "FAIL");
    if (r.mismatches > 0) stream << " (" << r.mismatches << " non-finite mismatches)";
    stream << "\n";
  }
  stream << (check.pass() ? "PASS" : "FAIL") << "\n";
}

void print_json(std::ostream& stream, const RunSummary& summary) {
  std::vector<std::string> timings;
  for (const Timing& timing : summary.timings) {
    timings.push_back(JsonObject()
                          .text("direction", timing.direction)
                          .number("ms", timing.median_seconds * 1e3)
                          .number("flops", timing.flops)
                          .number("tflops", timing.flops / timing.median_seconds * 1e-12)
                          .str());
  }
  std::vector<std::string> quantities;
  for (const QuantityCheck& quantity : summary.check.quantities) {
    const testing::ToleranceResult& r = quantity.result;
    quantities.push_back(JsonObject()
                             .text("name", quantity.name)
                             .number("max_error", r.max_error)
                             .number("naive_error", r.naive_error)
                             .number("bound", r.bound)
                             .integer("mismatches", r.mismatches)
                             .boolean("pass", r.pass())
                             .str());
  }
  const CheckReport& check = summary.check;
  JsonObject check_json;
  check_json.text("oracle", "float64")
      .number("rtol", check.rtol)
      .text("forward", check.forward_scope);
  if (!check.backward_scope.empty()) check_json.text("backward", check.backward_scope);
  check_json.raw("quantities", json_array(quantities));

  JsonObject root;
  root.text("build", build_info())
      .raw("config", config_json(summary.config))
      .text("backend", device_label(summary));
  if (!on_gpu(summary)) root.integer("cpu_threads", cpu_threads(summary.config));
  root.raw("timings", json_array(timings))
      .raw("check", check_json.str())
      .boolean("pass", check.pass());
  stream << root.str() << "\n";
}

}  // namespace flashattn::cli
