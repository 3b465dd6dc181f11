// CPU backend behaviour the random sweep does not pin down: float64 accuracy, rows with no
// visible key, very large scores, and bitwise reproducibility across runs and thread counts.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "cpu/reference.h"
#include "flashattn/attention.h"
#include "tests/support/attention_buffers.h"
#include "tests/support/case_name.h"
#include "tests/support/oracle_check.h"
#include "tests/support/random_config.h"

namespace flashattn::testing {
namespace {

using flashattn::testing::PrintTo;  // prints cases by name (case_name.h)

// The input dtypes the tolerance rule covers.
constexpr DType kInputDtypes[] = {DType::float32, DType::float16, DType::bfloat16};
constexpr double kInfinity = std::numeric_limits<double>::infinity();

// max|ours - ref| <= relative * max(1, max|ref|); infinities must match exactly.
::testing::AssertionResult close_to(const char* tensor, const std::vector<double>& ours,
                                    const std::vector<double>& ref, double relative) {
  double max_error = 0.0;
  double max_ref = 1.0;
  for (std::size_t i = 0; i < ref.size(); ++i) {
    if (std::isinf(ref[i])) {
      if (ours[i] != ref[i]) max_error = kInfinity;
      continue;
    }
    const double error = std::abs(ours[i] - ref[i]);
    max_error = std::max(max_error, std::isnan(error) ? kInfinity : error);
    max_ref = std::max(max_ref, std::abs(ref[i]));
  }
  const double bound = relative * max_ref;
  if (max_error <= bound) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << tensor << ": max_error=" << max_error << " bound=" << bound;
}

bool has_nan(const HostTensor& tensor) {
  const std::vector<double> values = tensor.to_doubles();
  return std::any_of(values.begin(), values.end(), [](double x) { return std::isnan(x); });
}

bool same_bytes(const HostTensor& a, const HostTensor& b) {
  return std::ranges::equal(a.bytes(), b.bytes());
}

// ---------------------------------------------------------------------------------------------
// float64 inputs with a float64 LSE: the backend accumulates in double, so forward and
// backward agree with the oracle to rounding.

class CpuFloat64 : public ::testing::TestWithParam<int> {};

TEST_P(CpuFloat64, MatchesOracleToRounding) {
  AttentionConfig config = random_config(GetParam());
  config.dtype = DType::float64;
  config.lse_dtype = DType::float64;
  SCOPED_TRACE(config.describe());
  AttentionBuffers buffers(config);
  buffers.fill_inputs(config);
  const Options options = config.options(Backend::cpu);
  const ReferenceForward oracle = reference_forward_values(buffers.forward_problem(options));
  buffers.forward(options);
  EXPECT_TRUE(close_to("out", buffers.out.to_doubles(), oracle.out, 1e-10));
  EXPECT_TRUE(close_to("lse", buffers.lse.to_doubles(), oracle.lse, 1e-10));
  const ReferenceBackward grads = reference_backward_values(buffers.backward_problem(options));
  buffers.backward(options);
  EXPECT_TRUE(close_to("dq", buffers.dq.to_doubles(), grads.dq, 1e-10));
  EXPECT_TRUE(close_to("dk", buffers.dk.to_doubles(), grads.dk, 1e-10));
  EXPECT_TRUE(close_to("dv", buffers.dv.to_doubles(), grads.dv, 1e-10));
}

// The shapes and options of the first random configurations, with float64 data.
INSTANTIATE_TEST_SUITE_P(RandomConfigs, CpuFloat64, ::testing::Range(0, 24));

// ---------------------------------------------------------------------------------------------
// Rows with no visible key: out exactly 0, LSE +inf, dQ exactly 0, and no NaN anywhere, for
// the CPU backend and the reference backend alike.

struct MaskedRowsCase {
  const char* name;
  std::int64_t seqlen_q;
  std::int64_t seqlen_k;
  bool causal;
  std::int64_t window_left;
  std::int64_t window_right;
};

constexpr MaskedRowsCase kMaskedRowsCases[] = {
    {"causal_sq_greater_than_sk", 40, 10, true, -1, -1},
    {"causal_with_left_window", 70, 9, true, 3, -1},
    {"zero_width_window", 20, 8, false, 0, 0},
    {"narrow_window", 90, 12, false, 5, 2},
    {"single_key", 5, 1, true, -1, -1},
};

AttentionConfig masked_rows_config(const MaskedRowsCase& masked, DType dtype) {
  AttentionConfig config;
  config.batch = 2;
  config.seqlen_q = masked.seqlen_q;
  config.seqlen_k = masked.seqlen_k;
  config.heads_q = 4;
  config.heads_kv = 2;
  config.head_dim = 24;
  config.dtype = dtype;
  config.causal = masked.causal;
  config.window_left = masked.window_left;
  config.window_right = masked.window_right;
  config.mixed_layouts = true;
  config.seed = 7;
  return config;
}

void expect_empty_rows_zero(const AttentionConfig& config, Backend backend) {
  SCOPED_TRACE(config.describe() + (backend == Backend::cpu ? " cpu" : " reference"));
  AttentionBuffers buffers(config);
  buffers.fill_inputs(config);
  const Options options = config.options(backend);
  buffers.forward(options);
  buffers.backward(options);

  const MaskWindow window = buffers.forward_problem(options).score.window;
  const std::vector<double> out = buffers.out.to_doubles();  // [B, Sq, Hq, D]
  const std::vector<double> lse = buffers.lse.to_doubles();  // [B, Hq, Sq]
  const std::vector<double> dq = buffers.dq.to_doubles();    // [B, Sq, Hq, D]
  const auto [batch, seqlen_q, heads, head_dim] =
      std::array{config.batch, config.seqlen_q, config.heads_q, config.head_dim};
  int empty_rows = 0;
  for (std::int64_t b = 0; b < batch; ++b) {
    for (std::int64_t h = 0; h < heads; ++h) {
      for (std::int64_t i = 0; i < seqlen_q; ++i) {
        const bool empty = window.first_key(i) > window.last_key(i);
        const double row_lse = lse[static_cast<std::size_t>((b * heads + h) * seqlen_q + i)];
        EXPECT_EQ(row_lse == kInfinity, empty) << "row " << i << " head " << h << ": " << row_lse;
        if (!empty) continue;
        ++empty_rows;
        const auto row = static_cast<std::size_t>(((b * seqlen_q + i) * heads + h) * head_dim);
        for (std::size_t d = row; d < row + static_cast<std::size_t>(head_dim); ++d) {
          ASSERT_EQ(out[d], 0.0) << "out, empty row " << i << " head " << h;
          ASSERT_EQ(dq[d], 0.0) << "dq, empty row " << i << " head " << h;
        }
      }
    }
  }
  EXPECT_GT(empty_rows, 0) << "the case should leave some rows empty";
  for (const HostTensor* output :
       {&buffers.out, &buffers.lse, &buffers.dq, &buffers.dk, &buffers.dv}) {
    EXPECT_FALSE(has_nan(*output));
  }
}

class CpuMaskedRows : public ::testing::TestWithParam<MaskedRowsCase> {};

TEST_P(CpuMaskedRows, GiveZeroOutputInfiniteLseAndZeroGradients) {
  for (DType dtype : kInputDtypes) {
    for (Backend backend : {Backend::cpu, Backend::reference}) {
      expect_empty_rows_zero(masked_rows_config(GetParam(), dtype), backend);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Cases, CpuMaskedRows, ::testing::ValuesIn(kMaskedRowsCases), CaseName());

// ---------------------------------------------------------------------------------------------
// Scores of magnitude ~1e4 (q and k scaled by 100, head dim 1): the online softmax must stay
// finite and correct, forward and backward.

TEST(CpuLargeScores, AreFiniteAndMatchOracle) {
  for (DType dtype : kInputDtypes) {
    for (bool causal : {false, true}) {
      AttentionConfig config;
      config.seqlen_q = 70;
      config.seqlen_k = 90;
      config.heads_q = 2;
      config.head_dim = 1;
      config.dtype = dtype;
      config.causal = causal;
      config.input_scale = 100.0;
      config.seed = 11;
      expect_cpu_matches_oracle(config);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Reproducibility: the same call gives the same bits, whatever the thread count.

struct RunOutputs {
  explicit RunOutputs(const AttentionConfig& config, int num_threads) : buffers(config) {
    buffers.fill_inputs(config);
    Options options = config.options(Backend::cpu);
    options.num_threads = num_threads;
    buffers.forward(options);
    buffers.backward(options);
  }
  AttentionBuffers buffers;
};

void expect_identical(const RunOutputs& a, const RunOutputs& b) {
  EXPECT_TRUE(same_bytes(a.buffers.out, b.buffers.out));
  EXPECT_TRUE(same_bytes(a.buffers.lse, b.buffers.lse));
  EXPECT_TRUE(same_bytes(a.buffers.dq, b.buffers.dq));
  EXPECT_TRUE(same_bytes(a.buffers.dk, b.buffers.dk));
  EXPECT_TRUE(same_bytes(a.buffers.dv, b.buffers.dv));
}

AttentionConfig threaded_config(DType dtype) {
  AttentionConfig config;
  config.batch = 2;
  config.seqlen_q = 150;
  config.seqlen_k = 200;
  config.heads_q = 6;
  config.heads_kv = 2;
  config.head_dim = 40;
  config.dtype = dtype;
  config.causal = true;
  config.softcap = 8.0;
  config.seed = 3;
  return config;
}

TEST(CpuReproducibility, RepeatedRunsAreBitwiseIdentical) {
  for (DType dtype : kInputDtypes) {
    SCOPED_TRACE(dtype_name(dtype));
    const AttentionConfig config = threaded_config(dtype);
    expect_identical(RunOutputs(config, 0), RunOutputs(config, 0));
  }
}

TEST(CpuReproducibility, ThreadCountDoesNotChangeBits) {
  for (DType dtype : kInputDtypes) {
    SCOPED_TRACE(dtype_name(dtype));
    const AttentionConfig config = threaded_config(dtype);
    const RunOutputs single(config, 1);
    for (int num_threads : {2, 5, 16}) {
      SCOPED_TRACE("num_threads=" + std::to_string(num_threads));
      expect_identical(single, RunOutputs(config, num_threads));
    }
  }
}

}  // namespace
}  // namespace flashattn::testing

// ---------------------------------------------------------------------------------------------
// Empty problems, as PyTorch and flash-attn accept them: no batch or no query is a no-op; no
// key makes every row empty (output 0, LSE +inf, zero gradients).

namespace flashattn::testing {
namespace {

TEST(CpuEmptyProblems, NoKeysGiveEmptyRowsAndNoBatchIsANoOp) {
  for (const Backend backend : {Backend::cpu, Backend::reference}) {
    const std::int64_t batch = 2, seqlen_q = 3, heads = 2, head_dim = 4;
    std::vector<float> q(batch * seqlen_q * heads * head_dim, 1.0f), out(q.size(), 7.0f);
    std::vector<float> dout(q.size(), 1.0f), dq(q.size(), 7.0f), lse(batch * heads * seqlen_q);
    float no_keys = 0.0f;  // a valid pointer for the empty k, v, dk, dv
    const auto rows = [&](float* data) {
      return TensorView::contiguous(data, DType::float32, {batch, seqlen_q, heads, head_dim});
    };
    const auto keys = TensorView::contiguous(&no_keys, DType::float32, {batch, 0, heads, head_dim});
    const auto lse_view =
        TensorView::contiguous(lse.data(), DType::float32, {batch, heads, seqlen_q});
    Options options;
    options.backend = backend;
    flashattn::forward(rows(q.data()), keys, keys, rows(out.data()), lse_view, options);
    EXPECT_TRUE(std::ranges::all_of(out, [](float x) { return x == 0.0f; }));
    EXPECT_TRUE(std::ranges::all_of(lse, [](float x) { return x == kInfinity; }));
    flashattn::backward(rows(dout.data()), rows(q.data()), keys, keys, rows(out.data()), lse_view,
                        rows(dq.data()), keys, keys, options);
    EXPECT_TRUE(std::ranges::all_of(dq, [](float x) { return x == 0.0f; }));

    std::vector<float> untouched(q.size(), 7.0f);
    const auto empty_batch =
        TensorView::contiguous(untouched.data(), DType::float32, {0, seqlen_q, heads, head_dim});
    const auto empty_lse = TensorView::contiguous(lse.data(), DType::float32, {0, heads, seqlen_q});
    flashattn::forward(empty_batch, empty_batch, empty_batch, empty_batch, empty_lse, options);
    EXPECT_TRUE(std::ranges::all_of(untouched, [](float x) { return x == 7.0f; }));
  }
}

}  // namespace
}  // namespace flashattn::testing
