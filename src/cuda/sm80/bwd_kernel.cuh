// The sm80 backward kernel: one CTA per (key block, KV head, batch). K and V stay in shared
// memory; the CTA walks every query block of every query head of its group that sees its keys,
// recomputing P from Q, K and the saved LSE:
//   Sᵀ = K Qᵀ,  Pᵀ = exp2(Sᵀ·scale·log2 e − LSE·log2 e),  dV += Pᵀ dO,
//   dPᵀ = V dOᵀ,  dSᵀ = Pᵀ ∘ (dPᵀ − delta),  dK += dSᵀ Q,  dQ += dS K (fp32 atomics; in
//   deterministic mode dQ comes from bwd_dq_kernel.cuh instead, in a fixed order).
// dK and dV are sums over the whole group, held in registers and written once: no atomics.
// Scale (and the softcap derivative) are applied to dK here and to dQ by the convert kernel.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

#include "cuda/common/bwd_params.h"
#include "cuda/ptx/atomic.cuh"
#include "cuda/ptx/cp_async.cuh"
#include "cuda/ptx/math.cuh"
#include "cuda/ptx/mma.cuh"
#include "cuda/sm80/bwd_config.h"
#include "cuda/sm80/tile_io.cuh"
#include "cuda/sm80/warp_gemm.cuh"

namespace flashattn::sm80 {

// Where this CTA works: its keys and the query blocks that see them.
struct BackwardBlock {
  int batch, kv_head, first_key, keys, first_query_block, end_query_block;
  // Query blocks [first_unmasked_block, end_unmasked_block) see every key of this (whole) key
  // block: they skip the mask.
  int first_unmasked_block, end_unmasked_block;

  template <typename Config>
  __device__ static BackwardBlock locate(const BackwardParams& params) {
    constexpr int kBlockM = Config::kBlockM;
    constexpr int kBlockN = Config::kBlockN;
    BackwardBlock block;
    const int key_blocks = (params.seqlen_k + kBlockN - 1) / kBlockN;
    // Early key blocks first: under a causal mask they see the most queries.
    const int key_block = static_cast<int>(blockIdx.x % key_blocks);
    const int batch_head = static_cast<int>(blockIdx.x / key_blocks);
    block.kv_head = batch_head % params.heads_kv;
    block.batch = batch_head / params.heads_kv;
    block.first_key = key_block * kBlockN;
    block.keys = min(kBlockN, params.seqlen_k - block.first_key);
    const int last_key = block.first_key + block.keys - 1;
    // The rows that see some key of the block form one range (both ends grow with the key).
    const auto first_query = params.window.first_query(block.first_key);
    const auto last_query = params.window.last_query(last_key, params.seqlen_q);
    block.first_query_block = static_cast<int>(first_query / kBlockM);
    block.end_query_block = last_query >= first_query ? static_cast<int>(last_query / kBlockM) + 1
                                                      : block.first_query_block;
    // A row block is unmasked iff its first row sees the last key and its last row the first
    // key (a ragged key block is always masked: its zero-filled keys must get P = 0).
    block.first_unmasked_block = 0;
    block.end_unmasked_block = 0;
    if (block.keys == kBlockN) {
      const auto first_seeing_last = params.window.first_query(last_key);
      const auto last_seeing_first = params.window.last_query(block.first_key, params.seqlen_q);
      block.first_unmasked_block = static_cast<int>((first_seeing_last + kBlockM - 1) / kBlockM);
      block.end_unmasked_block =
          last_seeing_first >= params.seqlen_q - 1
              ? (params.seqlen_q + kBlockM - 1) / kBlockM
              : static_cast<int>(last_seeing_first + 1 > 0 ? (last_seeing_first + 1) / kBlockM : 0);
    }
    return block;
  }
};

// One step of the walk: a query block of one query head, and the buffers it was loaded into.
// Steps go through the query blocks of each head of the group in turn.
template <typename Config>
struct QueryStep {
  int head, query_block, stage;

  __device__ int first_row() const { return query_block * Config::kBlockM; }
  __device__ int rows(const BackwardParams& params) const {
    return min(Config::kBlockM, params.seqlen_q - first_row());
  }
  __device__ bool masked(const BackwardBlock& block) const {
    return query_block < block.first_unmasked_block || query_block >= block.end_unmasked_block;
  }
  __device__ QueryStep next(const BackwardBlock& block) const {
    QueryStep step = *this;
    step.stage = (stage + 1) % Config::kQueryStages;
    if (++step.query_block == block.end_query_block) {
      step.query_block = block.first_query_block;
      ++step.head;
    }
    return step;
  }
};

// A warp's share of the CTA's work: kKeysPerWarp keys from key_row, and the column_part-th
// kGradColumns columns of their dK and dV.
template <typename Config>
struct WarpShare {
  int key_row, column_part;

  __device__ static WarpShare of_this_warp() {
    const int warp = threadIdx.x / 32;
    __builtin_assume(warp < Config::kWarps);  // folds the split away when kDimWarps == 1
    return {warp % Config::kKeyWarps * Config::kKeysPerWarp, warp / Config::kKeyWarps};
  }
  __device__ int grad_column() const { return column_part * Config::kGradColumns; }
  // The warps of a key group compute the same dSᵀ: the first one stores it.
  __device__ bool stores_score_grad() const { return column_part == 0; }
};

template <typename Config, typename Element>
struct BackwardSmem {
  using QueryTile = typename Config::QueryTile;
  using KeyValueTile = typename Config::KeyValueTile;
  using ScoreTile = typename Config::ScoreTile;
  Element* key;
  Element* value;
  Element* score_grad;  // dSᵀ [key][query], then kDimWarps - 1 more tiles (softcap only)
  Element* queries;     // kQueryStages Q tiles, then kQueryStages dO tiles
  float* row_stats;     // kQueryStages LSE·log2 e rows, then kQueryStages delta rows

  __device__ explicit BackwardSmem(unsigned char* base)
      : key(reinterpret_cast<Element*>(base)),
        value(key + KeyValueTile::kElements),
        score_grad(value + KeyValueTile::kElements),
        queries(score_grad + Config::kDimWarps * ScoreTile::kElements),
        row_stats(
            reinterpret_cast<float*>(queries + 2 * Config::kQueryStages * QueryTile::kElements)) {}

  // Indexed arithmetically: a runtime index into an array of pointers would go to local memory.
  __device__ Element* query(int stage) const { return queries + stage * QueryTile::kElements; }
  __device__ Element* dout(int stage) const {
    return queries + (Config::kQueryStages + stage) * QueryTile::kElements;
  }
  __device__ float* lse_log2(int stage) const { return row_stats + stage * Config::kBlockM; }
  __device__ float* delta(int stage) const {
    return row_stats + (Config::kQueryStages + stage) * Config::kBlockM;
  }
  // Under softcap 1 - tanh² (fp16) waits here until dS is formed: in the dSᵀ tile for the
  // warp that stores dSᵀ (its own rows), in a tile of its own for each other warp of the group.
  __device__ Element* softcap_derivative(int column_part) const {
    return score_grad + column_part * ScoreTile::kElements;
  }
};

template <typename Config, typename Element>
__device__ __forceinline__ void load_query_block(const BackwardParams& params,
                                                 const BackwardBlock& block,
                                                 const BackwardSmem<Config, Element>& smem,
                                                 const QueryStep<Config>& step) {
  using QueryTile = typename Config::QueryTile;
  const int first_row = step.first_row();
  const int rows = step.rows(params);
  const bool whole = rows == Config::kBlockM && params.head_dim == Config::kHeadDim;
  const auto load = [&](Element* tile, const void* base, const RowStrides& strides) {
    const Element* source = row_pointer<Element>(base, strides, block.batch, first_row, step.head);
    if (whole) {
      load_full_tile_async<QueryTile, Config::kThreads>(tile, source, strides.row);
    } else {
      load_tile_async<QueryTile, Config::kThreads>(tile, source, strides.row, rows,
                                                   params.head_dim);
    }
  };
  load(smem.query(step.stage), params.q, params.q_strides);
  load(smem.dout(step.stage), params.dout, params.dout_strides);
  // The workspace rows are padded, so whole 16-byte pieces are always in bounds.
  const std::int64_t row = (static_cast<std::int64_t>(block.batch) * params.heads_q + step.head) *
                               params.padded_seqlen_q +
                           first_row + 4 * threadIdx.x;
  if (threadIdx.x < Config::kBlockM / 4) {
    ptx::cp_async_16(smem.lse_log2(step.stage) + 4 * threadIdx.x, params.lse_log2 + row);
    ptx::cp_async_16(smem.delta(step.stage) + 4 * threadIdx.x, params.delta + row);
  }
  ptx::cp_async_commit();
}

// This thread's slot for the softcap derivative 1 - tanh² of fragment pair [t][n][2 h, 2 h + 1]
// (fp16, in the warp's own rows of its dSᵀ-sized park).
template <typename Config, typename Element>
__device__ __forceinline__ __half2* softcap_slot(const BackwardSmem<Config, Element>& smem,
                                                 const WarpShare<Config>& share, int t, int n,
                                                 int h) {
  const int lane = threadIdx.x % 32;
  const int row = share.key_row + 16 * t + lane / 4 + 8 * h;
  return reinterpret_cast<__half2*>(smem.softcap_derivative(share.column_part) +
                                    Config::ScoreTile::offset(row, n) + 2 * (lane % 4));
}

// Calls update(t, n, i, value) for every entry [t][n][i] of a warp's Sᵀ-shaped fragments, with
// `value` the entry of `row_values` (one float per query row of the step: LSE or delta) that
// belongs to its column.
template <typename Config, typename Update>
__device__ __forceinline__ void for_each_column_value(const float* row_values, Update update) {
  const int lane = threadIdx.x % 32;
#pragma unroll
  for (int n = 0; n < Config::kQueryTiles; ++n) {
    const float2 value = *reinterpret_cast<const float2*>(row_values + 8 * n + 2 * (lane % 4));
#pragma unroll
    for (int t = 0; t < Config::kKeyRowTiles; ++t) {
#pragma unroll
      for (int i = 0; i < 4; ++i)
        update(t, n, i, i % 2 == 0 ? value.x : value.y);
    }
  }
}

// Pᵀ of this warp's keys against the step's queries: Sᵀ = K Qᵀ, softcap, exp2 against the
// saved LSE (rows past the sequence and rows that see nothing have LSE +inf: P = 0), masked
// entries zeroed afterwards (so a negative scale cannot turn -inf into +inf). Under softcap
// 1 - tanh² waits in shared memory (softcap_derivative) until dS is formed.
template <typename Config, typename Element>
__device__ __forceinline__ void compute_probabilities(
    const BackwardParams& params, const BackwardBlock& block,
    const BackwardSmem<Config, Element>& smem, const QueryStep<Config>& step,
    const WarpShare<Config>& share, float (&p)[Config::kKeyRowTiles][Config::kQueryTiles][4]) {
  const int warp_key_row = share.key_row;
  gemm_abt<Config::kHeadDim / 16, typename Config::KeyValueTile, typename Config::QueryTile>(
      smem.key, warp_key_row, smem.query(step.stage), 0, p);
  const int lane = threadIdx.x % 32;
  float score_scale = params.scale_log2;
  if (params.softcap > 0.0f) {
#pragma unroll
    for (int t = 0; t < Config::kKeyRowTiles; ++t) {
#pragma unroll
      for (int n = 0; n < Config::kQueryTiles; ++n) {
#pragma unroll
        for (int h = 0; h < 2; ++h) {
          const float first = tanhf(p[t][n][2 * h] * params.softcap_input_scale);
          const float second = tanhf(p[t][n][2 * h + 1] * params.softcap_input_scale);
          p[t][n][2 * h] = params.softcap_log2 * first;
          p[t][n][2 * h + 1] = params.softcap_log2 * second;
          *softcap_slot(smem, share, t, n, h) =
              __floats2half2_rn(1.0f - first * first, 1.0f - second * second);
        }
      }
    }
    score_scale = 1.0f;
  }
  for_each_column_value<Config>(smem.lse_log2(step.stage), [&](int t, int n, int i, float lse) {
    p[t][n][i] = ptx::exp2_approx(fmaf(p[t][n][i], score_scale, -lse));
  });
  if (!step.masked(block)) return;
  // A thread holds 2 kKeyRowTiles keys but 2 kQueryTiles rows: the 64-bit window arithmetic
  // runs per key (the rows that see it), leaving one 32-bit compare pair per score.
  const int thread_first_row = step.first_row() + 2 * (lane % 4);
  const auto to_column = [](std::int64_t row) {  // clamped: every column lies in [0, kBlockM)
    return static_cast<int>(row < 0 ? 0 : row < Config::kBlockM ? row : Config::kBlockM);
  };
#pragma unroll
  for (int t = 0; t < Config::kKeyRowTiles; ++t) {
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const std::int64_t key = block.first_key + warp_key_row + 16 * t + lane / 4 + 8 * h;
      // The rows that see this key as the thread's columns 8 n + e in [begin, end); keys past
      // the sequence (the zero-filled tail of a ragged block) are seen by none.
      const int begin = to_column(params.window.first_query(key) - thread_first_row);
      const int end =
          key < params.seqlen_k
              ? to_column(params.window.last_query(key, params.seqlen_q) + 1 - thread_first_row)
              : 0;
#pragma unroll
      for (int n = 0; n < Config::kQueryTiles; ++n) {
#pragma unroll
        for (int e = 0; e < 2; ++e) {
          if (8 * n + e < begin || 8 * n + e >= end) p[t][n][2 * h + e] = 0.0f;
        }
      }
    }
  }
}

// dSᵀ = Pᵀ ∘ (dPᵀ − delta) with dPᵀ = V dOᵀ, times 1 - tanh² under softcap; built in `ds`.
template <typename Config, typename Element>
__device__ __forceinline__ void compute_score_grad(
    const BackwardParams& params, const BackwardSmem<Config, Element>& smem,
    const QueryStep<Config>& step, const WarpShare<Config>& share,
    const float (&p)[Config::kKeyRowTiles][Config::kQueryTiles][4],
    float (&ds)[Config::kKeyRowTiles][Config::kQueryTiles][4]) {
  gemm_abt<Config::kHeadDim / 16, typename Config::KeyValueTile, typename Config::QueryTile>(
      smem.value, share.key_row, smem.dout(step.stage), 0, ds);
  for_each_column_value<Config>(smem.delta(step.stage), [&](int t, int n, int i, float delta) {
    ds[t][n][i] = p[t][n][i] * (ds[t][n][i] - delta);
  });
  if (params.softcap > 0.0f) {
#pragma unroll
    for (int t = 0; t < Config::kKeyRowTiles; ++t) {
#pragma unroll
      for (int n = 0; n < Config::kQueryTiles; ++n) {
#pragma unroll
        for (int h = 0; h < 2; ++h) {
          const float2 derivative = __half22float2(*softcap_slot(smem, share, t, n, h));
          ds[t][n][2 * h] *= derivative.x;
          ds[t][n][2 * h + 1] *= derivative.y;
        }
      }
    }
  }
}

// Each warp parks its rows of dSᵀ (16-bit, the same rounding dK used) in shared memory.
template <typename Config, typename Element>
__device__ __forceinline__ void store_score_grad(
    const BackwardSmem<Config, Element>& smem, int warp_key_row,
    const float (&ds)[Config::kKeyRowTiles][Config::kQueryTiles][4]) {
  using ScoreTile = typename Config::ScoreTile;
  const int lane = threadIdx.x % 32;
#pragma unroll
  for (int t = 0; t < Config::kKeyRowTiles; ++t) {
#pragma unroll
    for (int n = 0; n < Config::kQueryTiles; ++n) {
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const int row = warp_key_row + 16 * t + lane / 4 + 8 * h;
        *reinterpret_cast<std::uint32_t*>(smem.score_grad + ScoreTile::offset(row, n) +
                                          2 * (lane % 4)) =
            ptx::pack2<Element>(ds[t][n][2 * h], ds[t][n][2 * h + 1]);
      }
    }
  }
}

// dQ += dS K for the step's rows, from the dSᵀ tile (every warp's keys): warps split the rows
// and the head dim and add their fp32 partials to the workspace.
template <typename Config, typename Element>
__device__ __forceinline__ void accumulate_query_grad(const BackwardParams& params,
                                                      const BackwardBlock& block,
                                                      const BackwardSmem<Config, Element>& smem,
                                                      const QueryStep<Config>& step) {
  constexpr int kRowTiles = Config::kDqRowTiles;
  constexpr int kColumnTiles = Config::kDqChunkColumns / 8;
  const int warp = threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  const int warp_row = warp % Config::kDqRowWarps * (16 * kRowTiles);
  const int warp_column = warp / Config::kDqRowWarps * Config::kDqWarpColumns;
  const int rows = step.rows(params);
  float* accum =
      params.dq_accum + ((static_cast<std::int64_t>(block.batch) * params.heads_q + step.head) *
                             params.padded_seqlen_q +
                         step.first_row()) *
                            params.kernel_head_dim;
#pragma unroll
  for (int chunk = 0; chunk < Config::kDqWarpColumns; chunk += Config::kDqChunkColumns) {
    float partial[kRowTiles][kColumnTiles][4] = {};
    gemm_atb<Config::kBlockN / 16, typename Config::ScoreTile, typename Config::KeyValueTile>(
        smem.score_grad, 0, warp_row, smem.key, 0, warp_column + chunk, partial);
#pragma unroll
    for (int t = 0; t < kRowTiles; ++t) {
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const int row = warp_row + 16 * t + lane / 4 + 8 * h;
        if (row >= rows) continue;
#pragma unroll
        for (int c = 0; c < kColumnTiles; ++c) {
          float* target =
              accum + row * params.kernel_head_dim + warp_column + chunk + 8 * c + 2 * (lane % 4);
          ptx::red_add_pair(target, partial[t][c][2 * h], partial[t][c][2 * h + 1]);
        }
      }
    }
  }
}

struct NoGradient {};

// One walk over the block's query steps. kValueGrad: dV += Pᵀ dO. kKeyGrad: dK += dSᵀ Q and
// dQ += dS K. Q, dO, LSE and delta of the next step load behind this one's work: for the whole
// step with two stages, behind dQ += dS K with one.
template <typename Config, typename Element, bool kValueGrad, bool kKeyGrad, typename ValueGrad,
          typename KeyGrad>
__device__ __forceinline__ void backward_pass(const BackwardParams& params,
                                              const BackwardBlock& block,
                                              const BackwardSmem<Config, Element>& smem,
                                              ValueGrad& value_grad, KeyGrad& key_grad) {
  using QueryTile = typename Config::QueryTile;
  const int steps = (block.end_query_block - block.first_query_block) * params.group_size;
  if (steps == 0) return;
  const auto share = WarpShare<Config>::of_this_warp();
  __syncthreads();  // a previous pass is done with the query buffers
  QueryStep<Config> step{block.kv_head * params.group_size, block.first_query_block, 0};
  load_query_block(params, block, smem, step);
  for (int index = 0; index < steps; ++index, step = step.next(block)) {
    const auto load_next = [&] {
      if (index + 1 < steps) load_query_block(params, block, smem, step.next(block));
    };
    ptx::cp_async_wait<0>();
    __syncthreads();  // this step's tiles landed; every warp is done with the previous step
    if constexpr (Config::kQueryStages == 2) load_next();

    float p[Config::kKeyRowTiles][Config::kQueryTiles][4] = {};
    compute_probabilities<Config>(params, block, smem, step, share, p);
    if constexpr (kValueGrad) {
      gemm_pb<QueryTile>(p, smem.dout(step.stage), 0, share.grad_column(), value_grad);
    }
    if constexpr (kKeyGrad) {
      float ds[Config::kKeyRowTiles][Config::kQueryTiles][4] = {};
      compute_score_grad<Config>(params, smem, step, share, p, ds);
      gemm_pb<QueryTile>(ds, smem.query(step.stage), 0, share.grad_column(), key_grad);
      const bool query_grad = !params.deterministic;  // else the dQ kernel computes dQ
      if (query_grad && share.stores_score_grad()) {
        store_score_grad<Config>(smem, share.key_row, ds);
      }
      __syncthreads();  // dSᵀ complete; every warp is done with this step's Q and dO
      if constexpr (Config::kQueryStages == 1) load_next();
      if (query_grad) accumulate_query_grad<Config>(params, block, smem, step);
    } else if constexpr (Config::kQueryStages == 1) {
      __syncthreads();  // every warp is done with this step's Q and dO
      load_next();
    }
  }
}

// Writes this warp's share of dK or dV (times `scale`) straight from the accumulator.
template <typename Element, typename Config, typename Gradient>
__device__ __forceinline__ void store_key_rows(const BackwardParams& params,
                                               const BackwardBlock& block,
                                               const WarpShare<Config>& share, const Gradient& grad,
                                               void* base, const RowStrides& strides, float scale) {
  const int column = share.grad_column();
  store_fragment_rows(grad, scale,
                      const_cast<Element*>(row_pointer<Element>(base, strides, block.batch,
                                                                block.first_key, block.kv_head)) +
                          column,
                      strides.row, share.key_row, block.keys, params.head_dim - column);
}

template <typename Config, typename Element>
__global__ void __launch_bounds__(Config::kThreads, 1)
    backward_kernel(const BackwardParams params) {
  using KeyValueTile = typename Config::KeyValueTile;
  extern __shared__ __align__(128) unsigned char shared_memory[];
  const BackwardSmem<Config, Element> smem(shared_memory);
  const BackwardBlock block = BackwardBlock::locate<Config>(params);
  // K and V stay for the whole walk (the first step's wait covers them). A block no query
  // sees walks nothing and writes zero dK and dV.
  load_tile_async<KeyValueTile, Config::kThreads>(
      smem.key,
      row_pointer<Element>(params.k, params.k_strides, block.batch, block.first_key, block.kv_head),
      params.k_strides.row, block.keys, params.head_dim);
  load_tile_async<KeyValueTile, Config::kThreads>(
      smem.value,
      row_pointer<Element>(params.v, params.v_strides, block.batch, block.first_key, block.kv_head),
      params.v_strides.row, block.keys, params.head_dim);
  ptx::cp_async_commit();
  const auto share = WarpShare<Config>::of_this_warp();
  using Gradient = float[Config::kKeyRowTiles][Config::kDimTiles][4];
  if constexpr (Config::kSeparateValuePass) {
    NoGradient none;
    {
      Gradient value_grad = {};
      backward_pass<Config, Element, true, false>(params, block, smem, value_grad, none);
      store_key_rows<Element>(params, block, share, value_grad, params.dv, params.dv_strides, 1.0f);
    }
    Gradient key_grad = {};
    backward_pass<Config, Element, false, true>(params, block, smem, none, key_grad);
    store_key_rows<Element>(params, block, share, key_grad, params.dk, params.dk_strides,
                            params.scale);
  } else {
    Gradient value_grad = {};
    Gradient key_grad = {};
    backward_pass<Config, Element, true, true>(params, block, smem, value_grad, key_grad);
    store_key_rows<Element>(params, block, share, value_grad, params.dv, params.dv_strides, 1.0f);
    store_key_rows<Element>(params, block, share, key_grad, params.dk, params.dk_strides,
                            params.scale);
  }
  ptx::cp_async_wait<0>();  // a walk of no steps leaves the K/V copies in flight
}

}  // namespace flashattn::sm80
