// Invalid calls through the public forward() / backward(): each is rejected with the library's
// exception type, names the offending argument, says what was expected, and leaves every
// output buffer byte-for-byte as it was.
#include <gtest/gtest.h>

#include <cmath>
#include <cstddef>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "flashattn/attention.h"
#include "flashattn/error.h"
#include "tests/support/attention_buffers.h"
#include "tests/support/case_name.h"

namespace flashattn::testing {
namespace {

using flashattn::testing::PrintTo;  // prints cases by name (case_name.h)

// B=2, Sq=5, Sk=6, Hq=4, Hkv=2, D=8: every extent differs, so a message that quotes a shape
// shows which one it checked.
AttentionConfig small_config() {
  AttentionConfig config;
  config.batch = 2;
  config.seqlen_q = 5;
  config.seqlen_k = 6;
  config.heads_q = 4;
  config.heads_kv = 2;
  config.head_dim = 8;
  config.seed = 1;
  return config;
}

// A valid call whose views and options a case breaks before calling.
struct Call {
  Call() : buffers(small_config()) {
    buffers.fill_inputs(small_config());
    q = buffers.q.view();
    k = buffers.k.view();
    v = buffers.v.view();
    out = buffers.out.view();
    lse = buffers.lse.view();
    dout = buffers.dout.view();
    dq = buffers.dq.view();
    dk = buffers.dk.view();
    dv = buffers.dv.view();
  }

  void forward() const { flashattn::forward(q, k, v, out, lse, options); }
  void backward() const { flashattn::backward(dout, q, k, v, out, lse, dq, dk, dv, options); }

  // Every output allocation as raw bytes (outputs start as NaN, which no valid call leaves).
  std::map<std::string, std::vector<std::byte>> output_bytes() const {
    std::map<std::string, std::vector<std::byte>> snapshot;
    for (const auto& [name, output] : {std::pair{"out", &buffers.out},
                                       {"lse", &buffers.lse},
                                       {"dq", &buffers.dq},
                                       {"dk", &buffers.dk},
                                       {"dv", &buffers.dv}}) {
      snapshot[name].assign(output->bytes().begin(), output->bytes().end());
    }
    return snapshot;
  }

  void set_device(Device device) {
    for (TensorView* view : {&q, &k, &v, &out, &lse, &dout, &dq, &dk, &dv})
      view->device = device;
  }

  AttentionBuffers buffers;
  TensorView q, k, v, out, lse, dout, dq, dk, dv;
  Options options;
};

enum class Entry { forward, backward };
enum class Rejection { invalid_argument, unsupported };

struct InvalidCase {
  const char* name;
  Entry entry;
  void (*break_call)(Call&);
  Rejection rejection;
  const char* argument;  // InvalidArgument::argument(); unused for Unsupported
  const char* expected;  // text the message must contain: what a valid value looks like
};

constexpr auto kForward = Entry::forward;
constexpr auto kBackward = Entry::backward;
constexpr auto kInvalid = Rejection::invalid_argument;
constexpr auto kUnsupported = Rejection::unsupported;
constexpr double kNan = std::numeric_limits<double>::quiet_NaN();

std::byte* bytes_of(void* data) {
  return static_cast<std::byte*>(data);
}

const InvalidCase kInvalidCases[] = {
    // Rank and sizes.
    {"q_rank_3", kForward, [](Call& c) { c.q.rank = 3; }, kInvalid, "q", "expected 4 dimensions"},
    {"lse_rank_4", kForward,
     [](Call& c) {
       c.lse.rank = 4;
       c.lse.shape[3] = c.lse.strides[3] = 1;
     },
     kInvalid, "lse", "expected 3 dimensions"},
    {"q_negative_size", kForward, [](Call& c) { c.q.shape[1] = -5; }, kInvalid, "q",
     "negative size"},
    {"q_zero_heads", kForward, [](Call& c) { c.q.shape[2] = 0; }, kInvalid, "q",
     "needs at least one head"},
    {"k_zero_heads", kForward, [](Call& c) { c.k.shape[2] = 0; }, kInvalid, "k",
     "needs at least one head"},
    {"head_dim_zero", kForward,
     [](Call& c) {
       for (TensorView* view : {&c.q, &c.k, &c.v, &c.out})
         view->shape[3] = 0;
     },
     kInvalid, "q", "head dimension must be in [1, 256]"},
    {"q_rank_corrupt", kForward, [](Call& c) { c.q.rank = 9; }, kInvalid, "q",
     "expected 4 dimensions"},
    {"q_dtype_corrupt", kForward, [](Call& c) { c.q.dtype = static_cast<DType>(42); }, kInvalid,
     "q", "unknown dtype"},
    // Dtypes.
    {"k_dtype", kForward, [](Call& c) { c.k.dtype = DType::float16; }, kInvalid, "k",
     "expected dtype float32"},
    {"v_dtype", kForward, [](Call& c) { c.v.dtype = DType::bfloat16; }, kInvalid, "v",
     "expected dtype float32"},
    {"out_dtype", kForward, [](Call& c) { c.out.dtype = DType::float64; }, kInvalid, "out",
     "expected dtype float32"},
    {"lse_dtype", kForward, [](Call& c) { c.lse.dtype = DType::float16; }, kInvalid, "lse",
     "expected dtype float32"},
    {"lse_float64_with_float32_inputs", kForward, [](Call& c) { c.lse.dtype = DType::float64; },
     kInvalid, "lse", "float64 with float64 inputs"},
    // Shapes that disagree with q.
    {"lse_shape", kForward, [](Call& c) { c.lse.shape[2] = 6; }, kInvalid, "lse",
     "expected shape [2, 4, 5]"},
    {"k_batch", kForward, [](Call& c) { c.k.shape[0] = 1; }, kInvalid, "k",
     "expected shape [2, *, *, 8]"},
    {"k_head_dim", kForward, [](Call& c) { c.k.shape[3] = 4; }, kInvalid, "k",
     "expected shape [2, *, *, 8]"},
    {"v_seqlen", kForward, [](Call& c) { c.v.shape[1] = 5; }, kInvalid, "v",
     "expected shape [2, 6, 2, 8]"},
    {"out_heads", kForward, [](Call& c) { c.out.shape[2] = 2; }, kInvalid, "out",
     "expected shape [2, 5, 4, 8]"},
    {"heads_not_divisible", kForward, [](Call& c) { c.k.shape[2] = c.v.shape[2] = 3; }, kInvalid,
     "k", "must divide the query head count Hq=4"},
    {"head_dim_above_256", kForward,
     [](Call& c) {
       for (TensorView* view : {&c.q, &c.k, &c.v, &c.out})
         view->shape[3] = 257;
     },
     kInvalid, "q", "head dimension must be in [1, 256]"},
    // Strides and pointers.
    {"q_last_stride_not_1", kForward, [](Call& c) { c.q.strides[3] = 2; }, kInvalid, "q",
     "must be contiguous (stride 1)"},
    {"lse_last_stride_not_1", kForward, [](Call& c) { c.lse.strides[2] = 3; }, kInvalid, "lse",
     "must be contiguous (stride 1)"},
    {"k_negative_stride", kForward, [](Call& c) { c.k.strides[1] = -c.k.strides[1]; }, kInvalid,
     "k", "negative strides are not supported"},
    {"out_zero_stride", kForward, [](Call& c) { c.out.strides[1] = 0; }, kInvalid, "out",
     "may not have stride 0"},
    {"lse_zero_stride", kForward, [](Call& c) { c.lse.strides[0] = 0; }, kInvalid, "lse",
     "may not have stride 0"},
    {"q_extent_overflows", kForward,
     [](Call& c) { c.q.strides[0] = std::numeric_limits<std::int64_t>::max(); }, kInvalid, "q",
     "more than 2^63 elements"},
    {"v_null", kForward, [](Call& c) { c.v.data = nullptr; }, kInvalid, "v",
     "data pointer is null"},
    {"q_misaligned", kForward, [](Call& c) { c.q.data = bytes_of(c.q.data) + 1; }, kInvalid, "q",
     "aligned to its element size (4 bytes)"},
    // Devices and backends.
    {"k_on_cuda", kForward, [](Call& c) { c.k.device = Device::cuda(); }, kInvalid, "k",
     "expected device cpu"},
    {"lse_on_other_cuda_device", kForward,
     [](Call& c) {
       c.set_device(Device::cuda(0));
       c.lse.device = Device::cuda(1);
     },
     kInvalid, "lse", "expected device cuda:0"},
    {"cuda_backend_on_cpu_tensors", kForward, [](Call& c) { c.options.backend = Backend::cuda; },
     kInvalid, "backend", "needs CUDA tensors"},
    {"cpu_backend_on_cuda_tensors", kForward,
     [](Call& c) {
       c.set_device(Device::cuda());
       c.options.backend = Backend::cpu;
     },
     kInvalid, "backend", "need CPU tensors"},
    {"reference_backend_on_cuda_tensors", kForward,
     [](Call& c) {
       c.set_device(Device::cuda());
       c.options.backend = Backend::reference;
     },
     kInvalid, "backend", "need CPU tensors"},
    {"float32_on_cuda", kForward, [](Call& c) { c.set_device(Device::cuda()); }, kInvalid, "q",
     "must be float16 or bfloat16"},
    {"unknown_backend", kForward, [](Call& c) { c.options.backend = static_cast<Backend>(99); },
     kInvalid, "backend", "unknown"},
    // Options.
    {"scale_nan", kForward, [](Call& c) { c.options.scale = kNan; }, kInvalid, "scale",
     "expected a finite number"},
    {"scale_infinite", kForward,
     [](Call& c) { c.options.scale = std::numeric_limits<double>::infinity(); }, kInvalid, "scale",
     "expected a finite number"},
    {"softcap_negative", kForward, [](Call& c) { c.options.softcap = -1.0; }, kInvalid, "softcap",
     "expected a finite value >= 0"},
    {"softcap_nan", kForward, [](Call& c) { c.options.softcap = kNan; }, kInvalid, "softcap",
     "expected a finite value >= 0"},
    {"window_left_below_minus_1", kForward, [](Call& c) { c.options.window_left = -2; }, kInvalid,
     "window_left", "expected -1 (unbounded) or >= 0"},
    {"window_right_below_minus_1", kForward, [](Call& c) { c.options.window_right = -7; }, kInvalid,
     "window_right", "expected -1 (unbounded) or >= 0"},
    {"causal_with_window_right", kForward,
     [](Call& c) {
       c.options.causal = true;
       c.options.window_right = 2;
     },
     kInvalid, "window_right", "causal=true means window_right=0"},
    {"dropout_not_implemented", kForward, [](Call& c) { c.options.dropout_p = 0.1; }, kUnsupported,
     nullptr, "dropout is not implemented"},
    {"dropout_one", kForward, [](Call& c) { c.options.dropout_p = 1.0; }, kInvalid, "dropout_p",
     "expected a probability in [0, 1)"},
    {"dropout_nan", kForward, [](Call& c) { c.options.dropout_p = kNan; }, kInvalid, "dropout_p",
     "expected a probability in [0, 1)"},
    {"num_threads_negative", kForward, [](Call& c) { c.options.num_threads = -1; }, kInvalid,
     "num_threads", "expected 0 (all cores) to 4096"},
    {"num_threads_huge", kForward, [](Call& c) { c.options.num_threads = 1 << 20; }, kInvalid,
     "num_threads", "expected 0 (all cores) to 4096"},
    // Outputs that share memory with themselves or another argument.
    {"out_overlaps_q", kForward, [](Call& c) { c.out.data = c.q.data; }, kInvalid, "out",
     "overlaps q in memory"},
    {"lse_overlaps_k", kForward,
     [](Call& c) {
       c.lse.data = c.k.data;  // same element size (float32 inputs)
     },
     kInvalid, "lse", "overlaps k in memory"},
    {"out_rows_interleave", kForward, [](Call& c) { c.out.strides[2] = 4; }, kInvalid, "out",
     "must not make elements share memory"},
    {"backward_dq_overlaps_dk", kBackward, [](Call& c) { c.dk.data = c.dq.data; }, kInvalid, "dq",
     "overlaps dk in memory"},
    {"backward_dv_overlaps_dout", kBackward, [](Call& c) { c.dv.data = c.dout.data; }, kInvalid,
     "dv", "overlaps dout in memory"},
    // Backward-only arguments, and the shared checks through the backward entry point.
    {"backward_dq_shape", kBackward, [](Call& c) { c.dq.shape[1] = 4; }, kInvalid, "dq",
     "expected shape [2, 5, 4, 8]"},
    {"backward_dk_dtype", kBackward, [](Call& c) { c.dk.dtype = DType::float16; }, kInvalid, "dk",
     "expected dtype float32"},
    {"backward_dv_shape", kBackward, [](Call& c) { c.dv.shape[2] = 4; }, kInvalid, "dv",
     "expected shape [2, 6, 2, 8]"},
    {"backward_dout_shape", kBackward, [](Call& c) { c.dout.shape[3] = 4; }, kInvalid, "dout",
     "expected shape [2, 5, 4, 8]"},
    {"backward_dk_rank", kBackward, [](Call& c) { c.dk.rank = 2; }, kInvalid, "dk",
     "expected 4 dimensions"},
    {"backward_dq_zero_stride", kBackward, [](Call& c) { c.dq.strides[2] = 0; }, kInvalid, "dq",
     "may not have stride 0"},
    {"backward_dv_null", kBackward, [](Call& c) { c.dv.data = nullptr; }, kInvalid, "dv",
     "data pointer is null"},
    {"backward_dout_on_cuda", kBackward, [](Call& c) { c.dout.device = Device::cuda(); }, kInvalid,
     "dout", "expected device cpu"},
    {"backward_lse_shape", kBackward, [](Call& c) { c.lse.shape[1] = 2; }, kInvalid, "lse",
     "expected shape [2, 4, 5]"},
    {"backward_out_dtype", kBackward, [](Call& c) { c.out.dtype = DType::bfloat16; }, kInvalid,
     "out", "expected dtype float32"},
    {"backward_window_left", kBackward, [](Call& c) { c.options.window_left = -3; }, kInvalid,
     "window_left", "expected -1 (unbounded) or >= 0"},
    {"backward_dropout", kBackward, [](Call& c) { c.options.dropout_p = 0.5; }, kUnsupported,
     nullptr, "dropout is not implemented"},
};

::testing::AssertionResult mentions(const Error& error, const char* expected) {
  if (std::string(error.what()).find(expected) != std::string::npos) {
    return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure()
         << "message \"" << error.what() << "\" lacks \"" << expected << "\"";
}

class InvalidInput : public ::testing::TestWithParam<InvalidCase> {};

TEST_P(InvalidInput, IsRejectedBeforeAnyWrite) {
  const InvalidCase& invalid = GetParam();
  Call call;
  invalid.break_call(call);
  const auto before = call.output_bytes();
  try {
    invalid.entry == Entry::forward ? call.forward() : call.backward();
    ADD_FAILURE() << "accepted";
  } catch (const InvalidArgument& error) {
    EXPECT_EQ(invalid.rejection, Rejection::invalid_argument)
        << "got InvalidArgument: " << error.what();
    if (invalid.argument != nullptr) {
      EXPECT_EQ(error.argument(), invalid.argument);
    }
    EXPECT_TRUE(mentions(error, invalid.expected));
  } catch (const Unsupported& error) {
    EXPECT_EQ(invalid.rejection, Rejection::unsupported) << "got Unsupported: " << error.what();
    EXPECT_TRUE(mentions(error, invalid.expected));
  }
  for (const auto& [name, bytes] : call.output_bytes()) {
    EXPECT_TRUE(bytes == before.at(name)) << name << " was written";
  }
}

INSTANTIATE_TEST_SUITE_P(Cases, InvalidInput, ::testing::ValuesIn(kInvalidCases), CaseName());

// The unbroken call is accepted and writes its outputs: every rejection above is caused by
// the one thing its case changed.
TEST(ValidInput, IsAcceptedAndWritesOutputs) {
  Call call;
  const auto before = call.output_bytes();
  call.forward();
  call.backward();
  for (const auto& [name, bytes] : call.output_bytes()) {
    EXPECT_FALSE(bytes == before.at(name)) << name << " was not written";
  }
}

}  // namespace
}  // namespace flashattn::testing
