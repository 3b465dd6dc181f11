// The sm80 backward kernel: one CTA per (key block, KV head, batch). K and V stay in shared
// memory; the CTA walks every query block of every query head of its group that sees its keys,
// recomputing P from Q, K and the saved LSE:
//   S = Q Kᵀ,  P = exp2(S·scale·log2 e − LSE·log2 e),  dP = dO Vᵀ,  dS = P ∘ (dP − delta),
//   dV += Pᵀ dO,  dK += dSᵀ Q,  dQ += dS K (fp32 atomics; in deterministic mode dQ comes from
//   bwd_dq_kernel.cuh instead, in a fixed order).
// Each GEMM splits its output over the warps in two dimensions (bwd_config.h); P and dS pass
// through shared memory between the GEMMs that produce and consume them. dK and dV are sums
// over the whole group, held in registers and written once: no atomics. Scale (and the softcap
// derivative) are applied to dK here and to dQ by the convert kernel.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

#include "cuda/common/bwd_params.h"
#include "cuda/ptx/atomic.cuh"
#include "cuda/ptx/cp_async.cuh"
#include "cuda/ptx/math.cuh"
#include "cuda/ptx/mma.cuh"
#include "cuda/ptx/tma.cuh"
#include "cuda/sm80/bwd_config.h"
#include "cuda/sm80/query_block.cuh"
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
    // Early key blocks first: under a causal mask they see the most queries (and under any band,
    // key_block_order takes them across a section of heads before the next ones).
    int key_block = 0, batch_head = 0;
    params.key_block_order.locate(static_cast<int>(blockIdx.x), key_blocks,
                                  params.batch * params.heads_kv, key_block, batch_head);
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

// Where this warp works in each GEMM of a step: fragment (0, 0) of its output tile.
template <typename Config>
struct WarpTiles {
  int sdp_row, sdp_key;       // S, dP (and P, dS): query row, key
  int grad_key, grad_column;  // dV, dK: key, head-dim column
  int dq_row, dq_column;      // dQ: query row, head-dim column

  __device__ static WarpTiles of_this_warp() {
    const int warp = threadIdx.x / 32;
    return {warp % Config::kSdpRowWarps * 16 * Config::kRowTiles,
            warp / Config::kSdpRowWarps * 8 * Config::kKeyTiles,
            warp % Config::kGradKeyWarps * 16 * Config::kGradKeyTiles,
            warp / Config::kGradKeyWarps * 8 * Config::kGradDimTiles,
            warp % Config::kDqRowWarps * 16 * Config::kDqRowTiles,
            warp / Config::kDqRowWarps * 8 * Config::kDqDimTiles};
  }
};

template <typename Config, typename Element>
struct BackwardSmem {
  using QueryTile = typename Config::QueryTile;
  using KeyValueTile = typename Config::KeyValueTile;
  using ScoreTile = typename Config::ScoreTile;
  Element* key;
  Element* value;
  Element* probabilities;  // P [query][key]
  Element* score_grad;     // dS [query][key]
  Element* queries;        // kQueryStages Q tiles, then kQueryStages dO tiles
  float* row_stats;        // kQueryStages LSE·log2 e rows, then kQueryStages delta rows
  float* dq_stage;         // a step's fp32 dQ rows, kDqStageStride apart (where dQ is staged)

  __device__ explicit BackwardSmem(unsigned char* base)
      : key(reinterpret_cast<Element*>(base)),
        value(key + KeyValueTile::kElements),
        probabilities(value + KeyValueTile::kElements),
        score_grad(probabilities + ScoreTile::kElements),
        queries(score_grad + ScoreTile::kElements),
        row_stats(
            reinterpret_cast<float*>(queries + 2 * Config::kQueryStages * QueryTile::kElements)),
        dq_stage(row_stats + 2 * Config::kQueryStages * Config::kBlockM) {}

  // Indexed arithmetically: a runtime index into an array of pointers would go to local memory.
  __device__ Element* query(int stage) const { return queries + stage * QueryTile::kElements; }
  __device__ Element* dout(int stage) const {
    return queries + (Config::kQueryStages + stage) * QueryTile::kElements;
  }
  __device__ float* lse_log2(int stage) const { return row_stats + stage * Config::kBlockM; }
  __device__ float* delta(int stage) const {
    return row_stats + (Config::kQueryStages + stage) * Config::kBlockM;
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

// P and dS of the warp's S tile for one step, stored to their shared tiles (16-bit: the
// rounding the GEMMs that read them use). S = Q Kᵀ first; then, without softcap, each P
// fragment is formed and stored between the k steps of dP = dO Vᵀ, so the exp2 and stores issue
// among that GEMM's MMAs instead of in a stretch of their own before the barrier (P takes the
// scores' registers: nothing more is live across the GEMM). Under softcap dS also needs the
// capped scores, so P is formed after the GEMM, from them, with dS. Softcap: the problem has one
// (the kernel compiles one path only).
template <typename Config, bool Softcap, typename Element>
__device__ __forceinline__ void compute_probabilities_and_score_grad(
    const BackwardParams& params, const BackwardBlock& block,
    const BackwardSmem<Config, Element>& smem, const QueryStep<Config>& step,
    const WarpTiles<Config>& warp) {
  using QueryTile = typename Config::QueryTile;
  using KeyValueTile = typename Config::KeyValueTile;
  using ScoreTile = typename Config::ScoreTile;
  constexpr int kKSteps = Config::kHeadDim / 16;
  constexpr int kRowTiles = Config::kRowTiles;
  constexpr int kKeyTiles = Config::kKeyTiles;
  float p[kRowTiles][kKeyTiles][4] = {};
  gemm<kKSteps, false, false, QueryTile, KeyValueTile>(smem.query(step.stage), warp.sdp_row, 0,
                                                       smem.key, warp.sdp_key, 0, p);
  const float score_scale = transform_scores<kRowTiles, kKeyTiles, true, Softcap>(
      params, step.first_row() + warp.sdp_row, block.first_key + warp.sdp_key, step.masked(block),
      p);
  const int lane = threadIdx.x % 32;
  float lse_log2[kRowTiles][2], delta[kRowTiles][2];
#pragma unroll
  for (int t = 0; t < kRowTiles; ++t) {
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const int row = warp.sdp_row + 16 * t + lane / 4 + 8 * h;
      lse_log2[t][h] = smem.lse_log2(step.stage)[row];
      delta[t][h] = smem.delta(step.stage)[row];
    }
  }
  float dp[kRowTiles][kKeyTiles][4] = {};
  if constexpr (Softcap) {
    gemm<kKSteps, false, false, QueryTile, KeyValueTile>(smem.dout(step.stage), warp.sdp_row, 0,
                                                         smem.value, warp.sdp_key, 0, dp);
    probabilities_and_score_grad(params, score_scale, lse_log2, delta, p, dp);
    store_fragments<ScoreTile>(smem.probabilities, warp.sdp_row, warp.sdp_key, p);
  } else {
    // Fragment f (of kFragments) after k step f kKSteps / kFragments: spread evenly.
    constexpr int kFragments = kRowTiles * kKeyTiles;
    const auto form_probabilities = [&](int kk) {
#pragma unroll
      for (int f = 0; f < kFragments; ++f) {
        if (f * kKSteps / kFragments != kk) continue;
        const int t = f / kKeyTiles;
        const int n = f % kKeyTiles;
#pragma unroll
        for (int e = 0; e < 4; ++e)
          p[t][n][e] = probability(p[t][n][e], score_scale, lse_log2[t][e / 2]);
        store_fragment<ScoreTile>(smem.probabilities, warp.sdp_row, warp.sdp_key, t, n, p);
      }
    };
    gemm<kKSteps, false, false, QueryTile, KeyValueTile>(smem.dout(step.stage), warp.sdp_row, 0,
                                                         smem.value, warp.sdp_key, 0, dp,
                                                         form_probabilities);
    score_grad(delta, p, dp);
  }
  store_fragments<ScoreTile>(smem.score_grad, warp.sdp_row, warp.sdp_key, dp);
}

// Whether this compilation pass stages dQ in shared memory for the bulk copy engine (sm_90 and
// newer; bwd_config.h). The launcher sizes shared memory by the same rule (stages_dq_on_device).
inline constexpr bool kStagesDq = FLASHATTN_SM90 != 0;

// The step's first dQ workspace row: rows are kHeadDim floats (the workspace is laid out for
// this kernel), so every address below is this one plus a compile-time offset.
template <typename Config>
__device__ __forceinline__ float* query_grad_rows(const BackwardParams& params,
                                                  const BackwardBlock& block,
                                                  const QueryStep<Config>& step) {
  return params.dq_accum + ((static_cast<std::int64_t>(block.batch) * params.heads_q + step.head) *
                                params.padded_seqlen_q +
                            step.first_row()) *
                               Config::kHeadDim;
}

// dQ += dS K for the step's rows, from the dS tile, each warp's fp32 tile either stored to the
// staging tile (then each writing thread fences for the bulk copy engine's reads) or added to
// the workspace with reductions. Rows past the sequence are not skipped: their dS is 0 (so is
// P, by their LSE), and the workspace's rows are padded to whole blocks, so they add 0 inside it.
template <typename Config, typename Element>
__device__ __forceinline__ void accumulate_query_grad(const BackwardParams& params,
                                                      const BackwardBlock& block,
                                                      const BackwardSmem<Config, Element>& smem,
                                                      const QueryStep<Config>& step,
                                                      const WarpTiles<Config>& warp) {
  const int lane = threadIdx.x % 32;
  float partial[Config::kDqRowTiles][Config::kDqDimTiles][4] = {};
  gemm<Config::kBlockN / 16, false, true, typename Config::ScoreTile, typename Config::KeyValueTile,
       Config::kDqXorSteps>(smem.score_grad, warp.dq_row, 0, smem.key, 0, warp.dq_column, partial);
  const int lane_row = warp.dq_row + lane / 4;
  const int lane_column = warp.dq_column + 2 * (lane % 4);
  constexpr int kStride = kStagesDq ? Config::kDqStageStride : Config::kHeadDim;
  float* lane_target = (kStagesDq ? smem.dq_stage : query_grad_rows(params, block, step)) +
                       lane_row * kStride + lane_column;
#pragma unroll
  for (int t = 0; t < Config::kDqRowTiles; ++t) {
#pragma unroll
    for (int h = 0; h < 2; ++h) {
#pragma unroll
      for (int c = 0; c < Config::kDqDimTiles; ++c) {
        float* target = lane_target + (16 * t + 8 * h) * kStride + 8 * c;
        if constexpr (kStagesDq) {
          *reinterpret_cast<float2*>(target) =
              make_float2(partial[t][c][2 * h], partial[t][c][2 * h + 1]);
        } else {
          ptx::red_add_pair(target, partial[t][c][2 * h], partial[t][c][2 * h + 1]);
        }
      }
    }
  }
  if constexpr (kStagesDq) ptx::fence_async_shared();
}

// The bulk copy engine adds the staged dQ rows of `step` to the workspace: thread r issues row r
// (after a barrier behind every warp's stores and fences). Before the staging tile is written
// again, the issuing threads wait for the reads (bulk_wait_group_read) ahead of a barrier.
template <typename Config, typename Element>
__device__ __forceinline__ void reduce_staged_query_grad(const BackwardParams& params,
                                                         const BackwardBlock& block,
                                                         const BackwardSmem<Config, Element>& smem,
                                                         const QueryStep<Config>& step) {
  const int row = static_cast<int>(threadIdx.x);
  if (row < Config::kBlockM) {
    ptx::bulk_reduce_add(query_grad_rows(params, block, step) + row * Config::kHeadDim,
                         smem.dq_stage + row * Config::kDqStageStride, 4 * Config::kHeadDim);
    ptx::bulk_commit_group();
  }
}

// Softcap: whether the problem has one (run_backward takes the matching kernel).
template <typename Config, typename Element, bool Softcap>
__global__ void __launch_bounds__(Config::kThreads, 1)
    backward_kernel(const BackwardParams params) {
  using QueryTile = typename Config::QueryTile;
  using KeyValueTile = typename Config::KeyValueTile;
  using ScoreTile = typename Config::ScoreTile;
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
  const auto warp = WarpTiles<Config>::of_this_warp();
  float value_grad[Config::kGradKeyTiles][Config::kGradDimTiles][4] = {};
  float key_grad[Config::kGradKeyTiles][Config::kGradDimTiles][4] = {};

  // Q, dO, LSE and delta of the next step load behind this one's work: for the whole step
  // with two stages, behind dQ += dS K with one.
  const int steps = (block.end_query_block - block.first_query_block) * params.group_size;
  QueryStep<Config> step{block.kv_head * params.group_size, block.first_query_block, 0};
  if (steps > 0) load_query_block(params, block, smem, step);
  // With dQ staged, a step's rows leave for the workspace after the next step's first barrier.
  const bool stages_dq = kStagesDq && !params.deterministic;
  QueryStep<Config> staged_step = step;
  for (int index = 0; index < steps; ++index, step = step.next(block)) {
    const auto load_next = [&] {
      if (index + 1 < steps) load_query_block(params, block, smem, step.next(block));
    };
    ptx::cp_async_wait<0>();
    // This step's tiles landed; every warp is done with the previous step's P, dS (dQ) and,
    // with two stages, with the buffers the next step loads into.
    __syncthreads();
    if (stages_dq && index > 0) reduce_staged_query_grad<Config>(params, block, smem, staged_step);
    if constexpr (Config::kQueryStages == 2) load_next();
    compute_probabilities_and_score_grad<Config, Softcap>(params, block, smem, step, warp);
    if (stages_dq) ptx::bulk_wait_group_read();  // the staging tile is free after this barrier
    __syncthreads();                             // P and dS complete
    constexpr int kKSteps = Config::kBlockM / 16;
    gemm<kKSteps, true, true, ScoreTile, QueryTile, Config::kGradXorSteps>(
        smem.probabilities, 0, warp.grad_key, smem.dout(step.stage), 0, warp.grad_column,
        value_grad);
    gemm<kKSteps, true, true, ScoreTile, QueryTile, Config::kGradXorSteps>(
        smem.score_grad, 0, warp.grad_key, smem.query(step.stage), 0, warp.grad_column, key_grad);
    if constexpr (Config::kQueryStages == 1) {
      __syncthreads();  // every warp is done with this step's Q and dO
      load_next();
    }
    if (!params.deterministic) accumulate_query_grad<Config>(params, block, smem, step, warp);
    staged_step = step;
  }
  if (stages_dq && steps > 0) {
    __syncthreads();
    reduce_staged_query_grad<Config>(params, block, smem, staged_step);
    ptx::bulk_wait_group_read();  // shared memory must outlive the reads
  }

  // dK and dV straight from the accumulators.
  const auto store = [&](const auto& grad, void* base, const RowStrides& strides, float scale) {
    store_fragment_rows(grad, scale,
                        const_cast<Element*>(row_pointer<Element>(base, strides, block.batch,
                                                                  block.first_key, block.kv_head)) +
                            warp.grad_column,
                        strides.row, warp.grad_key, block.keys, params.head_dim - warp.grad_column);
  };
  store(value_grad, params.dv, params.dv_strides, 1.0f);
  store(key_grad, params.dk, params.dk_strides, params.scale);
  ptx::cp_async_wait<0>();  // a walk of no steps leaves the K/V copies in flight
}

}  // namespace flashattn::sm80
