// Everything a forward kernel reads, resolved on the host from a ForwardProblem: raw pointers,
// element strides (64-bit, so tensors over 2^31 elements index correctly) and the score
// parameters with the scale folded into log2(e).
#pragma once

#include <cstdint>

#include "common/mask.h"

namespace flashattn {

struct RowStrides {  // of a [B, S, H, D] tensor, in elements; the last dimension is contiguous
  std::int64_t batch = 0;
  std::int64_t row = 0;
  std::int64_t head = 0;
};

struct ForwardParams {
  const void* q = nullptr;
  const void* k = nullptr;
  const void* v = nullptr;
  void* out = nullptr;
  float* lse = nullptr;
  RowStrides q_strides, k_strides, v_strides, out_strides;
  std::int64_t lse_batch_stride = 0, lse_head_stride = 0, lse_row_stride = 0;

  int batch = 0, seqlen_q = 0, seqlen_k = 0, heads_q = 0, group_size = 1, head_dim = 0;
  float scale_log2 = 0.0f;  // softmax scale * log2(e): scores live in the exp2 domain
  // Softcap (0 = off): s = softcap * tanh(scale * q.k / softcap), in the exp2 domain
  // softcap_log2 * tanh(q.k * softcap_input_scale).
  float softcap = 0.0f;
  float softcap_input_scale = 0.0f;  // scale / softcap
  float softcap_log2 = 0.0f;         // softcap * log2(e)
  MaskWindow window{};
};

}  // namespace flashattn
