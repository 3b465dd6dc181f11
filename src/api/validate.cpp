#include "api/validate.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <sstream>
#include <string>
#include <vector>

#include "flashattn/error.h"

namespace flashattn {
namespace {

constexpr int kMaxThreads = 4096;

std::string strides_string(const TensorView& view) {
  std::string text = "[";
  for (int dim = 0; dim < view.rank; ++dim) {
    text += (dim ? ", " : "") + std::to_string(view.stride(dim));
  }
  return text + "]";
}

std::string dims_string(std::initializer_list<std::int64_t> dims) {
  std::ostringstream text;
  text << '[';
  const char* separator = "";
  for (std::int64_t dim : dims) {
    text << separator;
    if (dim < 0) {
      text << '*';
    } else {
      text << dim;
    }
    separator = ", ";
  }
  text << ']';
  return text.str();
}

[[noreturn]] void fail(const char* argument, const std::string& message) {
  throw InvalidArgument(argument, message);
}

void check_options(const Options& options) {
  if (options.scale && !std::isfinite(*options.scale)) {
    fail("scale", "expected a finite number, got " + std::to_string(*options.scale));
  }
  if (!std::isfinite(options.softcap) || options.softcap < 0) {
    fail("softcap",
         "expected a finite value >= 0 (0 disables it), got " + std::to_string(options.softcap));
  }
  if (options.window_left < -1) {
    fail("window_left",
         "expected -1 (unbounded) or >= 0, got " + std::to_string(options.window_left));
  }
  if (options.window_right < -1) {
    fail("window_right",
         "expected -1 (unbounded) or >= 0, got " + std::to_string(options.window_right));
  }
  if (options.causal && options.window_right > 0) {
    fail("window_right", "causal=true means window_right=0; got " +
                             std::to_string(options.window_right) + " together with causal");
  }
  if (!(options.dropout_p >= 0.0 && options.dropout_p < 1.0)) {
    fail("dropout_p", "expected a probability in [0, 1), got " + std::to_string(options.dropout_p));
  }
  if (options.dropout_p > 0.0) {
    throw Unsupported("dropout_p: dropout is not implemented yet; pass 0");
  }
  if (options.num_threads < 0 || options.num_threads > kMaxThreads) {
    fail("num_threads", "expected 0 (all cores) to " + std::to_string(kMaxThreads) + ", got " +
                            std::to_string(options.num_threads));
  }
}

bool known_dtype(DType dtype) {
  return dtype_size(dtype) != 0;
}

// True when two elements of the view share memory: ordered by stride, every dimension must step
// past everything the smaller-strided dimensions span.
bool has_internal_overlap(const TensorView& view) {
  std::vector<int> dims;
  for (int dim = 0; dim < view.rank; ++dim) {
    if (view.size(dim) > 1) dims.push_back(dim);
  }
  std::sort(dims.begin(), dims.end(),
            [&](int a, int b) { return view.stride(a) < view.stride(b); });
  std::int64_t span = 0;  // last element offset reachable through the dimensions so far
  for (int dim : dims) {
    if (view.stride(dim) <= span) return true;
    span += (view.size(dim) - 1) * view.stride(dim);
  }
  return false;
}

// Layout checks every tensor argument shares.
void check_view(const char* name, const TensorView& view, int rank, const char* layout) {
  if (view.rank != rank) {
    fail(name,
         "expected " + std::to_string(rank) + " dimensions " + layout + ", got " +
             std::to_string(view.rank) +
             (view.rank >= 0 && view.rank <= TensorView::kMaxRank ? " (" + shape_string(view) + ")"
                                                                  : std::string()));
  }
  if (!known_dtype(view.dtype)) {
    fail(name, "unknown dtype value " + std::to_string(static_cast<int>(view.dtype)));
  }
  for (int dim = 0; dim < rank; ++dim) {
    if (view.size(dim) < 0) fail(name, "negative size in shape " + shape_string(view));
    if (view.stride(dim) < 0) {
      fail(name, "negative strides are not supported, got stride " +
                     std::to_string(view.stride(dim)) + " in dimension " + std::to_string(dim));
    }
  }
  if (view.stride(rank - 1) != 1 && view.size(rank - 1) > 1) {
    fail(name, "the last dimension must be contiguous (stride 1), got stride " +
                   std::to_string(view.stride(rank - 1)));
  }
  if (view.data == nullptr && view.numel() > 0) fail(name, "data pointer is null");
  if (reinterpret_cast<std::uintptr_t>(view.data) % dtype_size(view.dtype) != 0) {
    fail(name, "data pointer is not aligned to its element size (" +
                   std::to_string(dtype_size(view.dtype)) + " bytes)");
  }
  if (view.extent() < 0) fail(name, "shape and strides address more than 2^63 elements");
}

void check_same_dtype(const char* name, const TensorView& view, const TensorView& q) {
  if (view.dtype != q.dtype) {
    fail(name, "expected dtype " + std::string(dtype_name(q.dtype)) + " (the dtype of q), got " +
                   std::string(dtype_name(view.dtype)));
  }
}

void check_same_device(const char* name, const TensorView& view, const TensorView& q) {
  if (!(view.device == q.device)) {
    fail(name, "expected device " + to_string(q.device) + " (the device of q), got " +
                   to_string(view.device));
  }
}

void check_shape(const char* name, const TensorView& view,
                 std::initializer_list<std::int64_t> expected, const char* layout) {
  int dim = 0;
  for (std::int64_t size : expected) {
    if (size >= 0 && view.size(dim) != size) {  // a negative entry matches any size
      fail(name, std::string("expected shape ") + dims_string(expected) + " " + layout + ", got " +
                     shape_string(view));
    }
    ++dim;
  }
}

// Shapes of q, k, v, out, lse and their agreement; returns the problem shape.
AttentionShape check_core(const TensorView& q, const TensorView& k, const TensorView& v,
                          const TensorView& out, const TensorView& lse) {
  check_view("q", q, 4, "[B, Sq, Hq, D]");
  check_view("k", k, 4, "[B, Sk, Hkv, D]");
  check_view("v", v, 4, "[B, Sk, Hkv, D]");
  check_view("out", out, 4, "[B, Sq, Hq, D]");
  check_view("lse", lse, 3, "[B, Hq, Sq]");

  check_same_dtype("k", k, q);
  check_same_dtype("v", v, q);
  check_same_dtype("out", out, q);
  // float64 inputs may keep a float64 LSE, so callers that use it keep double precision.
  const bool lse_ok =
      lse.dtype == DType::float32 || (lse.dtype == DType::float64 && q.dtype == DType::float64);
  if (!lse_ok) {
    fail("lse", "expected dtype float32 (or float64 with float64 inputs), got " +
                    std::string(dtype_name(lse.dtype)));
  }
  check_same_device("k", k, q);
  check_same_device("v", v, q);
  check_same_device("out", out, q);
  check_same_device("lse", lse, q);

  AttentionShape shape;
  shape.batch = q.size(0);
  shape.seqlen_q = q.size(1);
  shape.heads_q = q.size(2);
  shape.head_dim = q.size(3);
  shape.seqlen_k = k.size(1);
  shape.heads_kv = k.size(2);
  if (shape.heads_q < 1) fail("q", "needs at least one head, got shape " + shape_string(q));
  if (shape.heads_kv < 1) fail("k", "needs at least one head, got shape " + shape_string(k));
  if (shape.head_dim < 1 || shape.head_dim > kMaxHeadDim) {
    fail("q", "head dimension must be in [1, " + std::to_string(kMaxHeadDim) + "], got " +
                  std::to_string(shape.head_dim));
  }
  check_shape("k", k, {shape.batch, -1, -1, shape.head_dim}, "(batch and head_dim of q)");
  if (shape.heads_q % shape.heads_kv != 0) {
    fail("k", "its head count Hkv=" + std::to_string(shape.heads_kv) +
                  " must divide the query head count Hq=" + std::to_string(shape.heads_q));
  }
  check_shape("v", v, {shape.batch, shape.seqlen_k, shape.heads_kv, shape.head_dim}, "(like k)");
  check_shape("out", out, {shape.batch, shape.seqlen_q, shape.heads_q, shape.head_dim}, "(like q)");
  check_shape("lse", lse, {shape.batch, shape.heads_q, shape.seqlen_q}, "[B, Hq, Sq]");
  return shape;
}

using NamedView = std::pair<const char*, const TensorView*>;

// Outputs must not share memory: no two of their own elements (a stride 0, or strides that
// interleave) and none of another argument's (a conservative byte-range test). Runs after
// the shape checks, so a wrong shape is reported as such rather than as an overlap.
void check_disjoint(const char* name, const TensorView& output,
                    std::initializer_list<NamedView> others) {
  if (output.numel() == 0) return;  // nothing is written
  for (int dim = 0; dim < output.rank; ++dim) {
    if (output.stride(dim) == 0 && output.size(dim) > 1) {
      fail(name, "an output may not have stride 0 (elements would alias) in dimension " +
                     std::to_string(dim));
    }
  }
  if (has_internal_overlap(output)) {
    fail(name, "an output's strides must not make elements share memory, got shape " +
                   shape_string(output) + " with strides " + strides_string(output));
  }
  const auto range = [](const TensorView& view) {
    const auto begin = reinterpret_cast<std::uintptr_t>(view.data);
    return std::pair{begin,
                     begin + static_cast<std::uintptr_t>(view.extent()) * dtype_size(view.dtype)};
  };
  const auto [begin, end] = range(output);
  for (const auto& [other_name, other] : others) {
    const auto [other_begin, other_end] = range(*other);
    if (begin < other_end && other_begin < end && begin < end && other_begin < other_end) {
      fail(name,
           std::string("overlaps ") + other_name + " in memory; outputs need their own storage");
    }
  }
}

Backend resolve_backend(const Options& options, const TensorView& q) {
  const bool on_cuda = q.device.type == DeviceType::cuda;
  switch (options.backend) {
    case Backend::automatic:
      return on_cuda ? Backend::cuda : Backend::cpu;
    case Backend::cpu:
    case Backend::reference:
      if (on_cuda) fail("backend", "the CPU backends need CPU tensors, got " + to_string(q.device));
      return options.backend;
    case Backend::cuda:
    case Backend::cuda_sm80:
    case Backend::cuda_sm90:
      if (!on_cuda)
        fail("backend", "the cuda backend needs CUDA tensors, got " + to_string(q.device));
      return options.backend;
  }
  fail("backend", "unknown value");
}

void check_backend_dtype(Backend backend, const TensorView& q) {
  if (is_cuda(backend) && q.dtype != DType::float16 && q.dtype != DType::bfloat16) {
    fail("q", "CUDA tensors must be float16 or bfloat16, got " + std::string(dtype_name(q.dtype)));
  }
}

ScoreParams resolve_score(const Options& options, const AttentionShape& shape) {
  ScoreParams score;
  score.scale = options.scale.value_or(1.0 / std::sqrt(static_cast<double>(shape.head_dim)));
  score.softcap = options.softcap;
  score.window.seqlen_k = shape.seqlen_k;
  score.window.diagonal_offset = shape.seqlen_k - shape.seqlen_q;
  score.window.left = options.window_left;
  score.window.right = options.causal ? 0 : options.window_right;
  return score;
}

}  // namespace

namespace {

// The checks and resolution forward and backward share; outputs of the forward are checked
// by validate_forward, which writes them.
AttentionProblem validate_common(const TensorView& q, const TensorView& k, const TensorView& v,
                                 const TensorView& out, const TensorView& lse,
                                 const Options& options) {
  check_options(options);
  AttentionProblem problem;
  problem.shape = check_core(q, k, v, out, lse);
  problem.backend = resolve_backend(options, q);
  check_backend_dtype(problem.backend, q);
  problem.score = resolve_score(options, problem.shape);
  problem.q = q;
  problem.k = k;
  problem.v = v;
  problem.out = out;
  problem.lse = lse;
  problem.num_threads = options.num_threads;
  problem.deterministic = options.deterministic;
  return problem;
}

}  // namespace

ForwardProblem validate_forward(const TensorView& q, const TensorView& k, const TensorView& v,
                                const TensorView& out, const TensorView& lse,
                                const Options& options) {
  ForwardProblem problem{validate_common(q, k, v, out, lse, options)};
  check_disjoint("out", out, {{"q", &q}, {"k", &k}, {"v", &v}, {"lse", &lse}});
  check_disjoint("lse", lse, {{"q", &q}, {"k", &k}, {"v", &v}});
  return problem;
}

BackwardProblem validate_backward(const TensorView& dout, const TensorView& q, const TensorView& k,
                                  const TensorView& v, const TensorView& out, const TensorView& lse,
                                  const TensorView& dq, const TensorView& dk, const TensorView& dv,
                                  const Options& options) {
  BackwardProblem problem{validate_common(q, k, v, out, lse, options), dout, dq, dk, dv};
  const AttentionShape& shape = problem.shape;
  check_view("dout", dout, 4, "[B, Sq, Hq, D]");
  check_view("dq", dq, 4, "[B, Sq, Hq, D]");
  check_view("dk", dk, 4, "[B, Sk, Hkv, D]");
  check_view("dv", dv, 4, "[B, Sk, Hkv, D]");
  for (auto [name, view] : {std::pair{"dout", &dout}, {"dq", &dq}, {"dk", &dk}, {"dv", &dv}}) {
    check_same_dtype(name, *view, q);
    check_same_device(name, *view, q);
  }
  check_shape("dout", dout, {shape.batch, shape.seqlen_q, shape.heads_q, shape.head_dim},
              "(like out)");
  check_shape("dq", dq, {shape.batch, shape.seqlen_q, shape.heads_q, shape.head_dim}, "(like q)");
  check_shape("dk", dk, {shape.batch, shape.seqlen_k, shape.heads_kv, shape.head_dim}, "(like k)");
  check_shape("dv", dv, {shape.batch, shape.seqlen_k, shape.heads_kv, shape.head_dim}, "(like v)");
  // Each gradient once against everything it must not touch (the layout checks inside
  // check_disjoint then run once per output, not once per pair).
  check_disjoint("dq", dq,
                 {{"dout", &dout},
                  {"q", &q},
                  {"k", &k},
                  {"v", &v},
                  {"out", &out},
                  {"lse", &lse},
                  {"dk", &dk},
                  {"dv", &dv}});
  check_disjoint("dk", dk,
                 {{"dout", &dout},
                  {"q", &q},
                  {"k", &k},
                  {"v", &v},
                  {"out", &out},
                  {"lse", &lse},
                  {"dv", &dv}});
  check_disjoint("dv", dv,
                 {{"dout", &dout}, {"q", &q}, {"k", &k}, {"v", &v}, {"out", &out}, {"lse", &lse}});
  return problem;
}

}  // namespace flashattn
