#include "tests/support/attention_config.h"

#include <sstream>

#include "tests/support/tolerance.h"

namespace flashattn::testing {

Options AttentionConfig::options(Backend backend) const {
  Options options;
  options.scale = scale;
  options.causal = causal;
  options.window_left = window_left;
  options.window_right = window_right;
  options.softcap = softcap;
  options.backend = backend;
  return options;
}

double AttentionConfig::rtol() const {
  return softcap > 0 ? kRelativeToleranceSoftcap : kRelativeTolerance;
}

std::string AttentionConfig::describe() const {
  std::ostringstream text;
  text << dtype_name(dtype) << " B=" << batch << " Sq=" << seqlen_q << " Sk=" << seqlen_k
       << " Hq=" << heads_q << " Hkv=" << heads_kv << " D=" << head_dim;
  if (lse_dtype != DType::float32) text << " lse=" << dtype_name(lse_dtype);
  if (causal) text << " causal";
  if (window_left >= 0 || window_right >= 0) {
    text << " window=(" << window_left << "," << window_right << ")";
  }
  if (softcap > 0) text << " softcap=" << softcap;
  if (scale) text << " scale=" << *scale;
  if (input_scale != 1.0) text << " input_scale=" << input_scale;
  if (mixed_layouts) text << " layouts=mixed";
  text << " seed=" << seed;
  return text.str();
}

}  // namespace flashattn::testing
