// Everything the backward kernels read: the forward's parameters plus the gradients and the
// fp32 workspace the host allocates per call (cuda/backward.cu).
#pragma once

#include "common/tile_order.h"
#include "cuda/common/fwd_params.h"

namespace flashattn {

struct BackwardParams : ForwardParams {
  const void* dout = nullptr;
  void* dq = nullptr;
  void* dk = nullptr;
  void* dv = nullptr;
  RowStrides dout_strides, dq_strides, dk_strides, dv_strides;
  int heads_kv = 0;
  float scale = 0.0f;  // softmax scale: dQ and dK carry it (times the softcap derivative)
  // Workspace, row r of (batch b, query head h) at (b * heads_q + h) * padded_seqlen_q + r;
  // rows past seqlen_q (up to the padding) hold lse_log2 = +inf and delta = 0, so tiles read
  // them without bounds checks and get P = 0.
  int padded_seqlen_q = 0;
  float* lse_log2 = nullptr;  // LSE * log2(e) (+inf for rows that see no key)
  float* delta = nullptr;     // rowsum(dO * O)
  float* dq_accum = nullptr;  // fp32 dQ / scale, rows of kernel_head_dim floats
  int kernel_head_dim = 0;
  // dQ from its own kernel, summed in a fixed order, instead of fp32 atomics.
  bool deterministic = false;
  TileOrder key_block_order{};  // of the main kernel's key blocks over batch x KV heads
};

}  // namespace flashattn
