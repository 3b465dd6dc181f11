#include "tests/support/attention_buffers.h"

#include "api/validate.h"
#include "flashattn/attention.h"
#include "tests/support/random.h"

namespace flashattn::testing {
namespace {

// Seeds layouts and values from different streams, so changing one does not reshuffle the other.
constexpr std::uint64_t kLayoutStream = 0x9e3779b97f4a7c15ull;
constexpr std::uint64_t kValueStream = 0xbf58476d1ce4e5b9ull;

enum TensorIndex { kQ, kK, kV, kDout, kOut, kLse, kDq, kDk, kDv };

Layout layout_of(const AttentionConfig& config, TensorIndex tensor) {
  if (!config.mixed_layouts) return {};
  Random random(config.seed * kLayoutStream + tensor);
  return Layout::random(random);
}

std::vector<std::int64_t> query_shape(const AttentionConfig& c) {
  return {c.batch, c.seqlen_q, c.heads_q, c.head_dim};
}
std::vector<std::int64_t> key_shape(const AttentionConfig& c) {
  return {c.batch, c.seqlen_k, c.heads_kv, c.head_dim};
}

}  // namespace

AttentionBuffers::AttentionBuffers(const AttentionConfig& config)
    : q(config.dtype, query_shape(config), layout_of(config, kQ)),
      k(config.dtype, key_shape(config), layout_of(config, kK)),
      v(config.dtype, key_shape(config), layout_of(config, kV)),
      dout(config.dtype, query_shape(config), layout_of(config, kDout)),
      out(config.dtype, query_shape(config), layout_of(config, kOut)),
      lse(config.lse_dtype, {config.batch, config.heads_q, config.seqlen_q},
          layout_of(config, kLse)),
      dq(config.dtype, query_shape(config), layout_of(config, kDq)),
      dk(config.dtype, key_shape(config), layout_of(config, kDk)),
      dv(config.dtype, key_shape(config), layout_of(config, kDv)) {}

void AttentionBuffers::fill_inputs(const AttentionConfig& config) {
  Random random(config.seed ^ kValueStream);
  q.fill_normal(random, config.input_scale);
  k.fill_normal(random, config.input_scale);
  v.fill_normal(random);
  dout.fill_normal(random);
}

ForwardProblem AttentionBuffers::forward_problem(const Options& options) const {
  return validate_forward(q.view(), k.view(), v.view(), out.view(), lse.view(), options);
}

BackwardProblem AttentionBuffers::backward_problem(const Options& options) const {
  return validate_backward(dout.view(), q.view(), k.view(), v.view(), out.view(), lse.view(),
                           dq.view(), dk.view(), dv.view(), options);
}

void AttentionBuffers::forward(const Options& options) {
  flashattn::forward(q.view(), k.view(), v.view(), out.view(), lse.view(), options);
}

void AttentionBuffers::backward(const Options& options) {
  flashattn::backward(dout.view(), q.view(), k.view(), v.view(), out.view(), lse.view(), dq.view(),
                      dk.view(), dv.view(), options);
}

std::string AttentionBuffers::describe_layouts() const {
  std::string text;
  for (const auto& [name, tensor] : {std::pair{"q", &q},
                                     {"k", &k},
                                     {"v", &v},
                                     {"dout", &dout},
                                     {"out", &out},
                                     {"lse", &lse},
                                     {"dq", &dq},
                                     {"dk", &dk},
                                     {"dv", &dv}}) {
    text += std::string(text.empty() ? "" : " ") + name + "=" + tensor->layout().describe();
  }
  return text;
}

bool AttentionBuffers::outputs_padding_intact() const {
  for (const HostTensor* output : {&out, &lse, &dq, &dk, &dv}) {
    if (!output->padding_intact()) return false;
  }
  return true;
}

}  // namespace flashattn::testing
