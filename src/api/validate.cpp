#include "api/validate.h"

#include <cmath>
#include <cstdint>
#include <sstream>
#include <string>

#include "flashattn/error.h"

namespace flashattn {
namespace {

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
  if (options.num_threads < 0) {
    fail("num_threads",
         "expected >= 0 (0 = all cores), got " + std::to_string(options.num_threads));
  }
}

// Layout checks every tensor argument shares.
void check_view(const char* name, const TensorView& view, int rank, const char* layout,
                bool is_output) {
  if (view.rank != rank) {
    fail(name, "expected " + std::to_string(rank) + " dimensions " + layout + ", got " +
                   std::to_string(view.rank) + " (" + shape_string(view) + ")");
  }
  for (int dim = 0; dim < rank; ++dim) {
    if (view.size(dim) < 1) {
      fail(name, "every dimension must be >= 1, got shape " + shape_string(view));
    }
    if (view.stride(dim) < 0) {
      fail(name, "negative strides are not supported, got stride " +
                     std::to_string(view.stride(dim)) + " in dimension " + std::to_string(dim));
    }
    if (is_output && view.stride(dim) == 0 && view.size(dim) > 1) {
      fail(name, "an output may not have stride 0 (elements would alias) in dimension " +
                     std::to_string(dim));
    }
  }
  if (view.stride(rank - 1) != 1 && view.size(rank - 1) > 1) {
    fail(name, "the last dimension must be contiguous (stride 1), got stride " +
                   std::to_string(view.stride(rank - 1)));
  }
  if (view.data == nullptr) fail(name, "data pointer is null");
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
  check_view("q", q, 4, "[B, Sq, Hq, D]", false);
  check_view("k", k, 4, "[B, Sk, Hkv, D]", false);
  check_view("v", v, 4, "[B, Sk, Hkv, D]", false);
  check_view("out", out, 4, "[B, Sq, Hq, D]", true);
  check_view("lse", lse, 3, "[B, Hq, Sq]", true);

  check_same_dtype("k", k, q);
  check_same_dtype("v", v, q);
  check_same_dtype("out", out, q);
  if (lse.dtype != DType::float32) {
    fail("lse", "expected dtype float32, got " + std::string(dtype_name(lse.dtype)));
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
  if (shape.head_dim > kMaxHeadDim) {
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
      if (!on_cuda)
        fail("backend", "the cuda backend needs CUDA tensors, got " + to_string(q.device));
      return options.backend;
  }
  fail("backend", "unknown value");
}

void check_backend_dtype(Backend backend, const TensorView& q) {
  if (backend == Backend::cuda && q.dtype != DType::float16 && q.dtype != DType::bfloat16) {
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

ForwardProblem validate_forward(const TensorView& q, const TensorView& k, const TensorView& v,
                                const TensorView& out, const TensorView& lse,
                                const Options& options) {
  check_options(options);
  ForwardProblem problem;
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

BackwardProblem validate_backward(const TensorView& dout, const TensorView& q, const TensorView& k,
                                  const TensorView& v, const TensorView& out, const TensorView& lse,
                                  const TensorView& dq, const TensorView& dk, const TensorView& dv,
                                  const Options& options) {
  check_options(options);
  BackwardProblem problem;
  problem.shape = check_core(q, k, v, out, lse);
  const AttentionShape& shape = problem.shape;
  check_view("dout", dout, 4, "[B, Sq, Hq, D]", false);
  check_view("dq", dq, 4, "[B, Sq, Hq, D]", true);
  check_view("dk", dk, 4, "[B, Sk, Hkv, D]", true);
  check_view("dv", dv, 4, "[B, Sk, Hkv, D]", true);
  for (auto [name, view] : {std::pair{"dout", &dout}, {"dq", &dq}, {"dk", &dk}, {"dv", &dv}}) {
    check_same_dtype(name, *view, q);
    check_same_device(name, *view, q);
  }
  check_shape("dout", dout, {shape.batch, shape.seqlen_q, shape.heads_q, shape.head_dim},
              "(like out)");
  check_shape("dq", dq, {shape.batch, shape.seqlen_q, shape.heads_q, shape.head_dim}, "(like q)");
  check_shape("dk", dk, {shape.batch, shape.seqlen_k, shape.heads_kv, shape.head_dim}, "(like k)");
  check_shape("dv", dv, {shape.batch, shape.seqlen_k, shape.heads_kv, shape.head_dim}, "(like v)");
  problem.backend = resolve_backend(options, q);
  check_backend_dtype(problem.backend, q);
  problem.score = resolve_score(options, shape);
  problem.dout = dout;
  problem.q = q;
  problem.k = k;
  problem.v = v;
  problem.out = out;
  problem.lse = lse;
  problem.dq = dq;
  problem.dk = dk;
  problem.dv = dv;
  problem.num_threads = options.num_threads;
  problem.deterministic = options.deterministic;
  return problem;
}

}  // namespace flashattn
