// One `flashattn run`: pick the device, build seeded inputs, run and time the operator.
#pragma once

#include <string_view>
#include <vector>

#include "common/mask.h"
#include "flags.h"
#include "flashattn/options.h"
#include "tensors.h"

namespace flashattn::cli {

// Host copies of the operands: the random inputs and, after execute(), what the operator wrote.
struct RunData {
  HostTensor q, k, v, out, lse;
  HostTensor dout, dq, dk, dv;  // empty unless --backward
};

struct Timing {
  std::string_view direction;  // "forward" or "backward"
  double median_seconds = 0.0;
  double flops = 0.0;
};

// (query, key) pairs that `window` leaves visible in one (batch, head).
double visible_pairs(const MaskWindow& window, std::int64_t seqlen_q);

// Backend::cpu or Backend::cuda for --device; throws UsageError when CUDA was asked for and
// this build or machine cannot run it.
Backend resolve_backend(const RunConfig& config);

// The operator options the flags describe, for `backend`.
Options operator_options(const RunConfig& config, Backend backend);

RunData make_inputs(const RunConfig& config);

// Runs forward (and backward) with one warm-up and config.repeats timed calls each; leaves
// the outputs in `data`.
std::vector<Timing> execute(const RunConfig& config, const Options& options, RunData& data);

}  // namespace flashattn::cli
