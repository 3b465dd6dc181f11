// The random sweep covers what the issue asks for: every dtype, lengths 1-300 with Sq != Sk
// and Sq > Sk, GQA groups up to 8, causal, windows that leave rows empty, softcap, strided
// layouts, head dims 1-256. Guards against a generator change silently narrowing the sweep.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <string>

#include "tests/support/attention_buffers.h"
#include "tests/support/random_config.h"

namespace flashattn::testing {
namespace {

// Counts of configurations that have each feature.
std::map<std::string, int> feature_counts() {
  std::map<std::string, int> counts;
  for (int index = 0; index < kRandomConfigCount; ++index) {
    const AttentionConfig c = random_config(index);
    const MaskWindow window =
        AttentionBuffers(c).forward_problem(c.options(Backend::cpu)).score.window;
    bool empty_rows = false;
    for (std::int64_t i = 0; i < c.seqlen_q; ++i) {
      empty_rows = empty_rows || window.first_key(i) > window.last_key(i);
    }
    counts[std::string("dtype ") + std::string(dtype_name(c.dtype))] += 1;
    counts["sq != sk"] += c.seqlen_q != c.seqlen_k;
    counts["sq > sk"] += c.seqlen_q > c.seqlen_k;
    counts["length 1"] += c.seqlen_q == 1 || c.seqlen_k == 1;
    counts["length >= 290"] += std::max(c.seqlen_q, c.seqlen_k) >= 290;
    counts["gqa group 8"] += c.heads_q == 8 * c.heads_kv;
    counts["gqa group > 1"] += c.heads_q > c.heads_kv;
    counts["causal"] += c.causal;
    counts["window"] += c.window_left >= 0 || c.window_right >= 0;
    counts["empty rows"] += empty_rows;
    counts["causal, sq > sk"] += c.causal && c.seqlen_q > c.seqlen_k;
    counts["softcap"] += c.softcap > 0;
    counts["explicit scale"] += c.scale.has_value();
    counts["mixed layouts"] += c.mixed_layouts;
    counts["head dim 256"] += c.head_dim == 256;
    counts["head dim 128"] += c.head_dim == 128;
    counts["head dim 1"] += c.head_dim == 1;
    counts["batch 2"] += c.batch == 2;
  }
  return counts;
}

TEST(RandomConfigs, CoverEveryFeature) {
  const std::map<std::string, int> counts = feature_counts();
  for (const char* feature :
       {"dtype float32", "dtype float16", "dtype bfloat16",  "sq != sk",      "sq > sk",
        "length 1",      "length >= 290", "gqa group 8",     "gqa group > 1", "causal",
        "window",        "empty rows",    "causal, sq > sk", "softcap",       "explicit scale",
        "mixed layouts", "head dim 1",    "head dim 128",    "head dim 256",  "batch 2"}) {
    EXPECT_GT(counts.count(feature) ? counts.at(feature) : 0, 0) << feature;
  }
  EXPECT_GE(kRandomConfigCount, 300);
}

}  // namespace
}  // namespace flashattn::testing
