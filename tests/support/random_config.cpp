#include "tests/support/random_config.h"

#include <algorithm>
#include <array>

#include "tests/support/random.h"

namespace flashattn::testing {
namespace {

// batch * Hq * Sq * Sk * D: keeps the naive oracle (run twice per config) fast.
constexpr std::int64_t kWorkBudget = 4'000'000;
constexpr std::int64_t kLargeWorkBudget = 32'000'000;
constexpr int kLargeConfigEvery = 16;
constexpr std::uint64_t kSeedBase = 20'240'601;

std::int64_t work(const AttentionConfig& c) {
  return c.batch * c.heads_q * c.seqlen_q * c.seqlen_k * c.head_dim;
}

std::int64_t random_length(Random& random) {
  const double roll = random.uniform();
  if (roll < 0.45) return random.integer(1, 32);
  if (roll < 0.8) return random.integer(33, 130);
  return random.integer(131, 300);
}

std::int64_t random_head_dim(Random& random) {
  static constexpr std::array<std::int64_t, 4> kCommon{32, 64, 96, 128};
  const double roll = random.uniform();
  if (roll < 0.08) return 256;
  if (roll < 0.16) return 128;
  if (roll < 0.4) return random.pick<std::int64_t>(kCommon);
  return random.integer(1, 64);
}

void choose_masking(Random& random, AttentionConfig& c) {
  const double roll = random.uniform();
  if (roll < 0.3) {
    c.causal = true;
    if (random.chance(0.3)) c.window_left = random.integer(0, c.seqlen_k);
  } else if (roll < 0.4) {
    // The narrowest band: with Sq > Sk its first rows are empty.
    c.window_left = 0;
    c.window_right = 0;
  } else if (roll < 0.6) {
    c.window_left = random.chance(0.25) ? -1 : random.integer(0, c.seqlen_k);
    c.window_right = random.chance(0.25) ? -1 : random.integer(0, c.seqlen_k);
  }
}

// Drops the batch to 1, then halves the GQA group, then drops to one head, then halves the
// longer sequence, until the work fits the budget.
void shrink_to(std::int64_t budget, AttentionConfig& c) {
  while (work(c) > budget) {
    if (c.batch > 1) {
      c.batch = 1;
    } else if (c.heads_q > c.heads_kv) {
      c.heads_q = c.heads_kv * std::max<std::int64_t>(1, c.heads_q / c.heads_kv / 2);
    } else if (c.heads_kv > 1) {
      c.heads_kv = c.heads_q = 1;
    } else if (c.seqlen_q >= c.seqlen_k) {
      c.seqlen_q = (c.seqlen_q + 1) / 2;
    } else {
      c.seqlen_k = (c.seqlen_k + 1) / 2;
    }
  }
}

}  // namespace

AttentionConfig random_config(int index) {
  static constexpr std::array kDtypes{DType::float32, DType::float16, DType::bfloat16};
  AttentionConfig c;
  c.seed = kSeedBase + static_cast<std::uint64_t>(index);
  Random random(c.seed);
  c.dtype = kDtypes[static_cast<std::size_t>(index) % kDtypes.size()];
  c.head_dim = random_head_dim(random);
  c.heads_kv = random.integer(1, 3);
  c.heads_q = c.heads_kv * random.integer(1, 8);
  c.batch = random.integer(1, 2);
  c.seqlen_q = random_length(random);
  c.seqlen_k = random.chance(0.2) ? c.seqlen_q : random_length(random);
  shrink_to(index % kLargeConfigEvery == 0 ? kLargeWorkBudget : kWorkBudget, c);
  choose_masking(random, c);
  if (random.chance(0.25)) c.softcap = random.uniform(0.5, 30.0);
  if (random.chance(0.2)) c.scale = random.uniform(0.05, 1.5);
  c.mixed_layouts = random.chance(0.3);
  return c;
}

}  // namespace flashattn::testing
