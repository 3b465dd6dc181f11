// The seeded random configurations the CPU backend is checked on against the oracle.
#pragma once

#include <cstdint>

#include "tests/support/attention_config.h"

namespace flashattn::testing {

inline constexpr int kRandomConfigCount = 320;

// Configuration `index`: the same on every platform and every run. Dtypes cycle with the index;
// shapes lean small (lengths 1-300, head dims 1-256, GQA groups 1-8) and are shrunk to a work
// budget, with every 16th config given a larger budget so long rows and big heads appear too.
AttentionConfig random_config(int index);

}  // namespace flashattn::testing
