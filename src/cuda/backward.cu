// cuda_backward: the forward's checks plus the gradients' alignment, the per-call fp32
// workspace (LSE·log2 e, delta and, unless deterministic, the dQ accumulator), then the
// kernels for the head dim.
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "common/problem.h"
#include "common/tile_order.h"
#include "cuda/backend.h"
#include "cuda/common/bwd_params.h"
#include "cuda/common/check.h"
#include "cuda/common/device.h"
#include "cuda/common/workspace.h"
#include "cuda/compiled_head_dims.h"
#include "cuda/params.h"
#include "cuda/sm80/backward.h"

namespace flashattn {
namespace {

// Workspace rows are padded to a multiple of every kernel's query block.
constexpr std::int64_t kWorkspaceRowAlignment = 128;

// Key blocks of the main kernel in sections of KV heads whose per-row data shared by the CTAs
// (Q and dO in 16 bits, the dQ accumulator in fp32, for every query head of the group) fills at
// most half of L2, where a mask or window gives the blocks different work.
TileOrder key_block_order(const AttentionProblem& problem) {
  const AttentionShape& shape = problem.shape;
  const MaskWindow& window = problem.score.window;
  const std::int64_t row_bytes = 2 * shape.head_dim * 2 + shape.head_dim * 4;
  return TileOrder::for_work(window.banded(), shape.seqlen_q * shape.group_size() * row_bytes,
                             l2_cache_bytes(problem.q.device.index) / 2);
}

}  // namespace

void cuda_backward(const BackwardProblem& problem, void* stream) {
  const int head_dim = check_cuda_problem(problem);
  for (const auto& [name, view] : {std::pair{"dout", &problem.dout},
                                   {"dq", &problem.dq},
                                   {"dk", &problem.dk},
                                   {"dv", &problem.dv}}) {
    check_rows_aligned(name, *view);
  }
  const int device = problem.q.device.index;
  const DeviceGuard guard(device);
  require_compute_capability(device, 80);
  const AttentionShape& shape = problem.shape;
  if (shape.batch == 0) return;

  BackwardParams params;
  static_cast<ForwardParams&>(params) = forward_params(problem);
  params.dout = problem.dout.data;
  params.dq = problem.dq.data;
  params.dk = problem.dk.data;
  params.dv = problem.dv.data;
  params.dout_strides = row_strides(problem.dout);
  params.dq_strides = row_strides(problem.dq);
  params.dk_strides = row_strides(problem.dk);
  params.dv_strides = row_strides(problem.dv);
  params.heads_kv = static_cast<int>(shape.heads_kv);
  params.scale = static_cast<float>(problem.score.scale);
  params.kernel_head_dim = head_dim;
  params.deterministic = problem.deterministic;
  const std::int64_t padded = (shape.seqlen_q + kWorkspaceRowAlignment - 1) /
                              kWorkspaceRowAlignment * kWorkspaceRowAlignment;
  params.padded_seqlen_q = static_cast<int>(padded);
  params.key_block_order = key_block_order(problem);

  const auto cuda_stream = static_cast<cudaStream_t>(stream);
  const std::size_t rows = static_cast<std::size_t>(shape.batch * shape.heads_q * padded);
  const std::size_t accumulator_floats = params.deterministic ? 0 : rows * head_dim;
  const Workspace workspace(device, (2 * rows + accumulator_floats) * sizeof(float), cuda_stream);
  auto* floats = static_cast<float*>(workspace.data());
  params.lse_log2 = floats;
  params.delta = floats + rows;
  params.dq_accum = floats + 2 * rows;
  if (accumulator_floats > 0) {
    check_cuda(cudaMemsetAsync(params.dq_accum, 0, accumulator_floats * sizeof(float), cuda_stream),
               "cudaMemsetAsync");
  }
  switch (head_dim) {
#define FLASHATTN_RUN_BACKWARD(HEAD_DIM) \
  case HEAD_DIM:                         \
    return sm80::run_backward<HEAD_DIM>(params, problem.q.dtype, cuda_stream);
    FLASHATTN_FOR_EACH_COMPILED_HEAD_DIM(FLASHATTN_RUN_BACKWARD)
#undef FLASHATTN_RUN_BACKWARD
  }
}

}  // namespace flashattn
