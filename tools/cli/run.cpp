#include "run.h"

#include <algorithm>
#include <chrono>
#include <random>

#include "api/validate.h"
#include "cuda/backend.h"
#include "flashattn/attention.h"

namespace flashattn::cli {
namespace {

bool is_16_bit(DType dtype) {
  return dtype == DType::float16 || dtype == DType::bfloat16;
}

// Wall time of one warm-up call and then `repeats` timed calls; returns the median in seconds.
// Device work is synchronized before and after each call so the clock sees all of it.
template <typename Call>
double median_seconds(int repeats, const Placement& placement, const Call& call) {
  call();
  placement.synchronize();
  std::vector<double> samples;
  for (int repeat = 0; repeat < repeats; ++repeat) {
    placement.synchronize();
    const auto start = std::chrono::steady_clock::now();
    call();
    placement.synchronize();
    samples.push_back(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  std::sort(samples.begin(), samples.end());
  const std::size_t middle = samples.size() / 2;
  return samples.size() % 2 ? samples[middle] : (samples[middle - 1] + samples[middle]) / 2;
}

}  // namespace

double visible_pairs(const MaskWindow& window, std::int64_t seqlen_q) {
  double pairs = 0;
  for (std::int64_t i = 0; i < seqlen_q; ++i) {
    pairs += static_cast<double>(
        std::max<std::int64_t>(0, window.last_key(i) - window.first_key(i) + 1));
  }
  return pairs;
}

Backend resolve_backend(const RunConfig& config) {
  switch (config.device) {
    case DeviceChoice::cpu:
      return Backend::cpu;
    case DeviceChoice::automatic:
      // The GPU when it can run everything asked for: 16-bit inputs and, with --backward, a
      // CUDA backward in this build.
      return cuda_available() && is_16_bit(config.dtype) &&
                     (!config.backward || cuda_backward_compiled())
                 ? Backend::cuda
                 : Backend::cpu;
    case DeviceChoice::cuda:
    case DeviceChoice::cuda_sm80:
      break;
  }
  const std::string flag = "--device " + std::string(device_choice_name(config.device));
  if (cuda_build_info().empty()) {
    throw UsageError(flag +
                     ": this build has no CUDA support (configured without nvcc, or with "
                     "FLASHATTN_ENABLE_CUDA=OFF); use --device cpu");
  }
  if (!cuda_kernels_compiled()) {
    throw UsageError(flag + ": this build contains no CUDA attention kernels yet (" + build_info() +
                     "); use --device cpu");
  }
  if (cuda_device_count() == 0) {
    throw UsageError(flag + ": no CUDA device is visible; use --device cpu");
  }
  if (!is_16_bit(config.dtype)) {
    throw UsageError(flag + ": the CUDA kernels take float16 or bfloat16, got --dtype " +
                     std::string(dtype_name(config.dtype)) + " (float32 runs with --device cpu)");
  }
  return config.device == DeviceChoice::cuda_sm80 ? Backend::cuda_sm80 : Backend::cuda;
}

Options operator_options(const RunConfig& config, Backend backend) {
  Options options;
  options.causal = config.causal;
  options.window_left = config.window_left;
  options.window_right = config.window_right;
  options.softcap = config.softcap;
  options.backend = backend;
  options.num_threads = config.threads;
  options.deterministic = config.deterministic;
  return options;
}

RunData make_inputs(const RunConfig& config) {
  const std::int64_t b = config.batch, sq = config.seqlen_q, sk = config.seqlen_k;
  const std::int64_t hq = config.heads, hkv = config.kv_heads, d = config.head_dim;
  const DType dtype = config.dtype;
  RunData data;
  data.q = HostTensor(dtype, {b, sq, hq, d});
  data.k = HostTensor(dtype, {b, sk, hkv, d});
  data.v = HostTensor(dtype, {b, sk, hkv, d});
  data.out = HostTensor(dtype, {b, sq, hq, d});
  data.lse = HostTensor(DType::float32, {b, hq, sq});
  std::mt19937_64 generator(config.seed);
  data.q.fill_normal(generator);
  data.k.fill_normal(generator);
  data.v.fill_normal(generator);
  if (config.backward) {
    data.dout = HostTensor(dtype, {b, sq, hq, d});
    data.dout.fill_normal(generator);
    data.dq = HostTensor(dtype, {b, sq, hq, d});
    data.dk = HostTensor(dtype, {b, sk, hkv, d});
    data.dv = HostTensor(dtype, {b, sk, hkv, d});
  }
  return data;
}

std::vector<Timing> execute(const RunConfig& config, const Options& options, RunData& data) {
  Placement placement(is_cuda(options.backend));
  const TensorView q = placement.place(data.q), k = placement.place(data.k),
                   v = placement.place(data.v), out = placement.place(data.out),
                   lse = placement.place(data.lse);
  const ForwardProblem problem = validate_forward(q, k, v, out, lse, options);
  // Two matmuls (q.k and p.v) of 2 flops per multiply-add for every visible pair and head.
  const double forward_flops = 4.0 *
                               static_cast<double>(config.head_dim * config.heads * config.batch) *
                               visible_pairs(problem.score.window, config.seqlen_q);
  constexpr double kBackwardFlopsPerForwardFlop = 2.5;  // the convention of DESIGN.md §1

  std::vector<Timing> timings;
  timings.push_back(
      {"forward",
       median_seconds(config.repeats, placement, [&] { forward(q, k, v, out, lse, options); }),
       forward_flops});
  placement.fetch(out, data.out);
  placement.fetch(lse, data.lse);
  if (!config.backward) return timings;

  const TensorView dout = placement.place(data.dout), dq = placement.place(data.dq),
                   dk = placement.place(data.dk), dv = placement.place(data.dv);
  timings.push_back(
      {"backward",
       median_seconds(config.repeats, placement,
                      [&] { backward(dout, q, k, v, out, lse, dq, dk, dv, options); }),
       kBackwardFlopsPerForwardFlop * forward_flops});
  placement.fetch(dq, data.dq);
  placement.fetch(dk, data.dk);
  placement.fetch(dv, data.dv);
  return timings;
}

}  // namespace flashattn::cli
