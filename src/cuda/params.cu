#include "cuda/params.h"

#include <string>

#include "cuda/common/device.h"
#include "cuda/compiled_head_dims.h"
#include "flashattn/error.h"

namespace flashattn {
namespace {

int kernel_head_dim(std::int64_t head_dim) {
  int best = 0;
  for (int compiled : {FLASHATTN_COMPILED_HEAD_DIMS}) {
    if (compiled >= head_dim && (best == 0 || compiled < best)) best = compiled;
  }
  return best;
}

}  // namespace

RowStrides row_strides(const TensorView& view) {
  return {view.stride(0), view.stride(1), view.stride(2)};
}

void check_rows_aligned(const char* name, const TensorView& view) {
  const auto address = reinterpret_cast<std::uintptr_t>(view.data);
  const bool aligned = address % 16 == 0 && view.stride(0) % 8 == 0 && view.stride(1) % 8 == 0 &&
                       view.stride(2) % 8 == 0;
  if (!aligned) {
    throw InvalidArgument(name,
                          "CUDA kernels need 16-byte aligned rows: the data pointer aligned to "
                          "16 bytes and the batch, sequence and head strides multiples of 8");
  }
}

int check_cuda_problem(const AttentionProblem& problem) {
  const std::int64_t head_dim = problem.shape.head_dim;
  if (head_dim % 8 != 0) {
    throw InvalidArgument("q", "CUDA kernels need a head dim that is a multiple of 8, got " +
                                   std::to_string(head_dim));
  }
  for (const auto& [name, view] :
       {std::pair{"q", &problem.q}, {"k", &problem.k}, {"v", &problem.v}, {"out", &problem.out}}) {
    check_rows_aligned(name, *view);
  }
  const int kernel = kernel_head_dim(head_dim);
  if (kernel == 0) {
    throw Unsupported("no CUDA kernel for head dim " + std::to_string(head_dim) +
                      " is compiled in: rebuild with FLASHATTN_HEAD_DIMS including " +
                      "the next one of 32, 64, 96, 128, 192, 256");
  }
  return kernel;
}

ForwardParams forward_params(const AttentionProblem& problem) {
  const AttentionShape& shape = problem.shape;
  ForwardParams params;
  params.q = problem.q.data;
  params.k = problem.k.data;
  params.v = problem.v.data;
  params.out = problem.out.data;
  params.lse = static_cast<float*>(problem.lse.data);
  params.q_strides = row_strides(problem.q);
  params.k_strides = row_strides(problem.k);
  params.v_strides = row_strides(problem.v);
  params.out_strides = row_strides(problem.out);
  params.lse_batch_stride = problem.lse.stride(0);
  params.lse_head_stride = problem.lse.stride(1);
  params.lse_row_stride = problem.lse.stride(2);
  params.batch = static_cast<int>(shape.batch);
  params.seqlen_q = static_cast<int>(shape.seqlen_q);
  params.seqlen_k = static_cast<int>(shape.seqlen_k);
  params.heads_q = static_cast<int>(shape.heads_q);
  params.group_size = static_cast<int>(shape.group_size());
  params.head_dim = static_cast<int>(shape.head_dim);
  constexpr double kLog2e = 1.4426950408889634;
  params.scale_log2 = static_cast<float>(problem.score.scale * kLog2e);
  params.softcap = static_cast<float>(problem.score.softcap);
  if (problem.score.softcap > 0) {
    params.softcap_input_scale = static_cast<float>(problem.score.scale / problem.score.softcap);
    params.softcap_log2 = static_cast<float>(problem.score.softcap * kLog2e);
  }
  params.window = problem.score.window;
  return params;
}

}  // namespace flashattn
