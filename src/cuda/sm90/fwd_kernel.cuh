// The sm90 forward kernel: warp-specialised. Warpgroup 0 (the producer; one thread works) loads
// Q once and K, V blocks into a 2-stage ring with TMA, each arrival counted by an mbarrier;
// the others (the consumers: 3 at d64, else 2) own 64 query rows each and run S = Q Kᵀ (wgmma,
// both operands from shared memory), the online softmax of the sm80 path on the accumulators
// (same fragment layout), then O += P V (wgmma, P from registers, V from shared memory). The
// softmax of one block overlaps the P V of the one before, the consumers take turns issuing their
// GEMMs (ping-pong), and K and V are released apart so the ring refills early. Key blocks are
// walked last to first, so masked blocks come first.
#pragma once

#include <cuda.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

#include "cuda/common/fwd_params.h"
#include "cuda/ptx/mbarrier.cuh"
#include "cuda/ptx/named_barrier.cuh"
#include "cuda/ptx/special_registers.cuh"
#include "cuda/ptx/tma.cuh"
#include "cuda/ptx/wgmma.cuh"
#include "cuda/sm80/query_block.cuh"
#include "cuda/sm80/softmax.cuh"
#include "cuda/sm80/tile_io.cuh"
#include "cuda/sm80/warp_gemm.cuh"
#include "cuda/sm90/fwd_config.h"

namespace flashattn::sm90 {

using sm80::ForwardBlock;

template <typename Config, typename Element>
struct ForwardSmem {
  Element* query;  // kColumnBlocks blocks of [kBlockM][64]
  Element* keys;   // kStages tiles of kColumnBlocks blocks of [kBlockN][64]
  Element* values;
  std::uint64_t* query_full;
  std::uint64_t* key_full;    // [kStages]
  std::uint64_t* value_full;  // [kStages]
  // [kStages]: every consumer thread is done with the stage's K (once its S has landed) or V
  // (once its P V has); released apart, K can be refilled while the P V still reads V.
  std::uint64_t* key_free;
  std::uint64_t* value_free;

  __device__ explicit ForwardSmem(unsigned char* raw) {
    // The 128-byte swizzle repeats every 1024 bytes: tiles start on such a boundary.
    auto* base = reinterpret_cast<unsigned char*>((reinterpret_cast<std::uintptr_t>(raw) + 1023) &
                                                  ~std::uintptr_t{1023});
    query = reinterpret_cast<Element*>(base);
    keys = query + Config::kQueryElements;
    values = keys + Config::kStages * Config::kKeyElements;
    query_full = reinterpret_cast<std::uint64_t*>(values + Config::kStages * Config::kKeyElements);
    key_full = query_full + 1;
    value_full = key_full + Config::kStages;
    key_free = value_full + Config::kStages;
    value_free = key_free + Config::kStages;
  }
  __device__ Element* key(int stage) const { return keys + stage * Config::kKeyElements; }
  __device__ Element* value(int stage) const { return values + stage * Config::kKeyElements; }
};

// Copies one tile (kColumnBlocks boxes of `rows` x 64) of head `head`, batch `batch`, from row
// `first_row`, counted on `barrier`. Rows past the tensor are zero-filled by the TMA unit.
template <typename Config, typename Element>
__device__ __forceinline__ void load_tile(Element* tile, int rows, const CUtensorMap* map,
                                          std::uint64_t* barrier, int first_row, int head,
                                          int batch) {
  ptx::mbarrier_arrive_expect_bytes(barrier, 2 * rows * Config::kHeadDim);
#pragma unroll
  for (int block = 0; block < Config::kColumnBlocks; ++block) {
    ptx::tma_load_4d(tile + block * rows * 64, map, barrier, 64 * block, first_row, head, batch);
  }
}

template <typename Config, typename Element>
__device__ __forceinline__ void produce(const ForwardBlock& block,
                                        const ForwardSmem<Config, Element>& smem,
                                        const CUtensorMap* q_map, const CUtensorMap* k_map,
                                        const CUtensorMap* v_map) {
  load_tile<Config>(smem.query, Config::kBlockM, q_map, smem.query_full, block.first_row,
                    block.head, block.batch);
  int index = 0;
  for (int n = block.end_key_block - 1; n >= block.first_key_block; --n, ++index) {
    const int stage = index % Config::kStages;
    const int use = index / Config::kStages;
    if (use > 0) ptx::mbarrier_wait(&smem.key_free[stage], (use - 1) & 1);
    load_tile<Config>(smem.key(stage), Config::kBlockN, k_map, &smem.key_full[stage],
                      n * Config::kBlockN, block.kv_head, block.batch);
    if (use > 0) ptx::mbarrier_wait(&smem.value_free[stage], (use - 1) & 1);
    load_tile<Config>(smem.value(stage), Config::kBlockN, v_map, &smem.value_full[stage],
                      n * Config::kBlockN, block.kv_head, block.batch);
  }
}

// S (this warpgroup's 64 rows x kBlockN) = Q Kᵀ: k16 steps over the head dim, 32 bytes apart
// inside a 64-column block, a block apart across them.
template <typename Config, typename Element>
__device__ __forceinline__ void multiply_query_key(const Element* query, const Element* key,
                                                   float (&scores)[Config::kBlockN / 2]) {
#pragma unroll
  for (int kk = 0; kk < Config::kHeadDim / 16; ++kk) {
    const int block = kk / 4;
    const int column = 16 * (kk % 4);
    const std::uint64_t a =
        ptx::smem_descriptor_swizzle128(query + block * Config::kBlockM * 64 + column, 16, 1024);
    const std::uint64_t b =
        ptx::smem_descriptor_swizzle128(key + block * Config::kBlockN * 64 + column, 16, 1024);
    ptx::wgmma_ss<Element, 0, 0>(scores, a, b, kk > 0);
  }
}

// O += P V with P packed as A fragments and V MN-major: a k16 step is 16 rows (keys); the
// descriptor's leading offset jumps between V's 64-column blocks.
template <typename Config, typename Element>
__device__ __forceinline__ void multiply_probability_value(
    const std::uint32_t (&probabilities)[Config::kBlockN / 16][4], const Element* value,
    float (&output)[Config::kHeadDim / 2]) {
#pragma unroll
  for (int kk = 0; kk < Config::kBlockN / 16; ++kk) {
    const std::uint64_t b =
        ptx::smem_descriptor_swizzle128(value + 16 * kk * 64, Config::kBlockN * 128, 1024);
    ptx::wgmma_rs<Element, 1>(output, probabilities[kk], b, 1);
  }
}

// The step's scores, from the key block in `stage` once it has landed, waited for.
template <typename Config, typename Element>
__device__ __forceinline__ void issue_query_key(const Element* query,
                                                const ForwardSmem<Config, Element>& smem, int stage,
                                                std::uint32_t parity,
                                                float (&scores)[Config::kBlockN / 2]) {
  ptx::mbarrier_wait(&smem.key_full[stage], parity);
  ptx::wgmma_fence();
  multiply_query_key<Config>(query, smem.key(stage), scores);
  ptx::wgmma_commit();
}

// The consumer warpgroups take turns issuing their GEMMs round-robin (ping-pong), so one's
// softmax runs while another's GEMMs occupy the tensor cores. Named barrier 1 + c opens consumer
// c's turn: c waits on it (128 threads) and its predecessor c - 1 (mod N) arrives on it (128)
// once its own GEMMs are issued, so each barrier counts 256 whatever N is.
// Balance: every consumer takes T = key blocks + 1 turns (all share the CTA's blocks), so it
// waits T times on its barrier. Barrier 1 + c, c > 0, gets T arrivals from c - 1; barrier 1
// gets T - 1 from consumer N - 1, which skips the arrival after its last turn, plus the one it
// makes up front to open consumer 0's first turn. Phases never merge: turns run 0, 1, ..,
// N - 1, 0, .., so a consumer's next arrival on a barrier comes after its successor's wait on
// it has completed.
template <int Consumers>
struct GemmTurns {
  static constexpr int kFirstBarrier = 1;  // 0 is __syncthreads
  static constexpr int kThreads = 256;     // the waiting and the arriving warpgroup
  static_assert(Consumers >= 2 && kFirstBarrier + Consumers <= 16, "named barriers are 0..15");
  int barrier;  // this consumer's; the only register the turns keep

  __device__ explicit GemmTurns(int consumer) : barrier(kFirstBarrier + consumer) {
    if (consumer == Consumers - 1) ptx::named_barrier_arrive(kFirstBarrier, kThreads);
  }
  __device__ void begin() const { ptx::named_barrier_sync(barrier, kThreads); }
  __device__ void end(bool last = false) const {
    const bool wraps = barrier == kFirstBarrier + Consumers - 1;  // the last consumer
    if (!(last && wraps)) ptx::named_barrier_arrive(wraps ? kFirstBarrier : barrier + 1, kThreads);
  }
};

// O leaves through shared memory and TMA: once a warpgroup's last S = Q Kᵀ has landed its 64
// rows of Q are dead, so its threads write the normalised O there in 16-bit, in the same
// 128-byte-swizzled 64-column blocks, and one thread stores the blocks (TMA clips the rows and
// columns past the tensor). Full 128-byte rows instead of the fragments' 16-byte pieces.
template <typename Config, typename Element>
__device__ __forceinline__ void store_output(const float (&output)[1][Config::kDimTiles][4],
                                             Element* rows, const CUtensorMap* o_map,
                                             const ForwardBlock& block, int consumer) {
  constexpr int kEpilogueBarrier =
      GemmTurns<Config::kConsumers>::kFirstBarrier + Config::kConsumers;
  static_assert(kEpilogueBarrier + Config::kConsumers <= 16, "named barriers are 0..15");
  const int lane = threadIdx.x % 32;
  const std::uint32_t base = ptx::shared_address(rows);
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    const int row = 16 * (threadIdx.x / 32 % 4) + lane / 4 + 8 * h;
#pragma unroll
    for (int d = 0; d < Config::kDimTiles; ++d) {
      // Column 8 d + 2 (lane % 4) of 64-column block d / 8: 16-byte chunk d % 8, XOR the row.
      const std::uint32_t address = base + 2 * (d / 8) * Config::kBlockM * 64 + row * 128 +
                                    ((d % 8) ^ (row % 8)) * 16 + 4 * (lane % 4);
      ptx::store_shared_32(address,
                           ptx::pack2<Element>(output[0][d][2 * h], output[0][d][2 * h + 1]));
    }
  }
  ptx::fence_async_shared();
  ptx::named_barrier_sync(kEpilogueBarrier + consumer, 128);
  if (threadIdx.x % 128 == 0 && block.rows > 64 * consumer) {
#pragma unroll
    for (int column_block = 0; column_block < Config::kColumnBlocks; ++column_block) {
      ptx::tma_store_4d(o_map, rows + column_block * Config::kBlockM * 64, 64 * column_block,
                        block.first_row + 64 * consumer, block.head, block.batch);
    }
    ptx::bulk_commit_group();
    ptx::bulk_wait_group_read();  // shared memory must outlive the reads
  }
}

// First row (in the CTA's block) of this warp's 16: the producer's 4 warps come first, then
// each consumer's 4 own its 64 rows in order.
__device__ __forceinline__ int first_warp_row(unsigned thread) {
  return 16 * (static_cast<int>(thread / 32) - 4);
}

// A consumer warpgroup whose 64 rows all lie past the sequence (in the last query block of a
// length that is not a multiple of kBlockM: at d64, 192 rows, S = 1k leaves two of three idle)
// does no GEMM and no softmax: it only keeps the CTA's protocol, taking the same turns as
// consume() (turn t issues S of block t and P V of block t - 1) and releasing each K and V stage
// once it has landed (waiting for it first keeps its arrivals in the stage's current phase).
template <typename Config, typename Element>
__device__ __forceinline__ void pass_idle_rows(const ForwardBlock& block,
                                               const ForwardSmem<Config, Element>& smem,
                                               const GemmTurns<Config::kConsumers>& turns) {
  const int blocks = block.end_key_block - block.first_key_block;
  for (int turn = 0; turn <= blocks; ++turn) {
    turns.begin();
    turns.end(/*last=*/turn == blocks);
    if (turn < blocks) {
      const int stage = turn % Config::kStages;
      ptx::mbarrier_wait(&smem.key_full[stage], (turn / Config::kStages) & 1);
      ptx::mbarrier_arrive(&smem.key_free[stage]);
    }
    if (turn > 0) {
      const int stage = (turn - 1) % Config::kStages;
      ptx::mbarrier_wait(&smem.value_full[stage], ((turn - 1) / Config::kStages) & 1);
      ptx::mbarrier_arrive(&smem.value_free[stage]);
    }
  }
}

// Consumer warpgroup: software-pipelined by one key block. While the tensor cores add the
// previous block's P V into O, the warps run this block's softmax; O is rescaled only after
// that group has finished, before the next P V.
template <typename Config, typename Element>
__device__ __forceinline__ void consume(const ForwardParams& params, const ForwardBlock& block,
                                        const ForwardSmem<Config, Element>& smem, int consumer,
                                        const CUtensorMap* o_map) {
  constexpr int kKeyTiles = Config::kKeyTiles;
  constexpr int kDimTiles = Config::kDimTiles;
  using Softmax = sm80::OnlineSoftmax<1, kKeyTiles, kDimTiles>;
  const int warp_row = first_warp_row(threadIdx.x);
  Element* const query = smem.query + 64 * consumer * 64;  // this warpgroup's 64 rows (then O's)
  float output[1][kDimTiles][4] = {};
  auto& output_flat = *reinterpret_cast<float(*)[Config::kHeadDim / 2]>(&output[0][0][0]);
  float scores[1][kKeyTiles][4];
  auto& scores_flat = *reinterpret_cast<float(*)[Config::kBlockN / 2]>(&scores[0][0][0]);
  std::uint32_t probabilities[Config::kBlockN / 16][4];
  Softmax softmax;
  softmax.reset();
  // Scores of key block n to probabilities, in place (the rescale O needs is returned).
  const auto softmax_step = [&](int n) {
    ptx::wgmma_fence_operands(scores_flat);
    // The row is derived again each step: with three consumers (160 registers) a copy kept
    // across the loop for the masked blocks alone would be spilled.
    const float score_scale = sm80::transform_scores(
        params, block.first_row + first_warp_row(ptx::thread_index_x()),
        static_cast<std::int64_t>(n) * Config::kBlockN, block.needs_mask(n), scores);
    return softmax.absorb_scores(scores, score_scale);
  };
  // Only once the previous P V has finished: its wgmmas read these registers asynchronously.
  const auto pack_probabilities = [&] {
#pragma unroll
    for (int kk = 0; kk < Config::kBlockN / 16; ++kk) {
      sm80::pack_a_fragment<Element>(probabilities[kk], scores[0][2 * kk], scores[0][2 * kk + 1]);
    }
  };

  const GemmTurns<Config::kConsumers> turns(consumer);
  if (block.rows <= 64 * consumer) {
    pass_idle_rows<Config>(block, smem, turns);
    return;
  }
  ptx::mbarrier_wait(smem.query_full, 0);
  int n = block.end_key_block - 1;
  turns.begin();
  issue_query_key<Config>(query, smem, 0, 0, scores_flat);
  turns.end();
  ptx::wgmma_wait<0>();
  ptx::mbarrier_arrive(&smem.key_free[0]);
  softmax_step(n);  // O is still 0: nothing to rescale
  pack_probabilities();
  for (int index = 1; n > block.first_key_block; ++index) {
    const int stage = index % Config::kStages;
    const int previous = (index - 1) % Config::kStages;
    turns.begin();
    issue_query_key<Config>(query, smem, stage, (index / Config::kStages) & 1, scores_flat);
    ptx::mbarrier_wait(&smem.value_full[previous], ((index - 1) / Config::kStages) & 1);
    multiply_probability_value<Config>(probabilities, smem.value(previous), output_flat);
    ptx::wgmma_commit();
    turns.end();
    ptx::wgmma_wait<1>();  // the scores have landed; P V may still run
    ptx::mbarrier_arrive(&smem.key_free[stage]);
    const typename Softmax::Rescale rescale = softmax_step(--n);
    ptx::wgmma_wait<0>();
    ptx::wgmma_fence_operands(output_flat);
    ptx::mbarrier_arrive(&smem.value_free[previous]);
    Softmax::apply(rescale, output);
    pack_probabilities();
  }
  const int last = (block.end_key_block - 1 - block.first_key_block) % Config::kStages;
  const int last_use = (block.end_key_block - 1 - block.first_key_block) / Config::kStages;
  turns.begin();
  ptx::mbarrier_wait(&smem.value_full[last], last_use & 1);
  ptx::wgmma_fence();
  multiply_probability_value<Config>(probabilities, smem.value(last), output_flat);
  ptx::wgmma_commit();
  turns.end(/*last=*/true);
  ptx::wgmma_wait<0>();
  ptx::wgmma_fence_operands(output_flat);
  ptx::mbarrier_arrive(&smem.value_free[last]);

  sm80::finish_rows(softmax, params, block, warp_row, output);
  store_output<Config>(output, query, o_map, block, consumer);
}

template <typename Config, typename Element>
__global__ void __launch_bounds__(Config::kThreads, 1)
    forward_kernel(const ForwardParams params, const __grid_constant__ CUtensorMap q_map,
                   const __grid_constant__ CUtensorMap k_map,
                   const __grid_constant__ CUtensorMap v_map,
                   const __grid_constant__ CUtensorMap o_map) {
  extern __shared__ unsigned char shared_memory[];
  const ForwardSmem<Config, Element> smem(shared_memory);
  const ForwardBlock block = ForwardBlock::locate<Config>(params);
  if (block.end_key_block <= block.first_key_block) {
    sm80::write_empty_rows<Config, Element>(params, block);
    return;
  }
  if (threadIdx.x == 0) {
    ptx::mbarrier_init(smem.query_full, 1);
    for (int stage = 0; stage < Config::kStages; ++stage) {
      ptx::mbarrier_init(&smem.key_full[stage], 1);
      ptx::mbarrier_init(&smem.value_full[stage], 1);
      ptx::mbarrier_init(&smem.key_free[stage], 128 * Config::kConsumers);
      ptx::mbarrier_init(&smem.value_free[stage], 128 * Config::kConsumers);
    }
    ptx::mbarrier_init_fence();
  }
  __syncthreads();
  const int warpgroup = threadIdx.x / 128;
  if (warpgroup == 0) {
    ptx::warpgroup_registers_decrease<Config::kProducerRegisters>();
    if (threadIdx.x == 0) produce<Config>(block, smem, &q_map, &k_map, &v_map);
  } else {
    ptx::warpgroup_registers_increase<Config::kConsumerRegisters>();
    consume<Config>(params, block, smem, warpgroup - 1, &o_map);
  }
}

}  // namespace flashattn::sm90
