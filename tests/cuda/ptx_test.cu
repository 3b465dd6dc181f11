// Device unit tests of the PTX wrappers in src/cuda/ptx/: each checks the contract documented at
// the top of its header (fragment layouts, zero-fill, rounding, accuracy) on one warp or block.
// Every test skips without an sm_80+ device, so GPU-less CI reports them skipped, not failed.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <vector>

#include "cuda/ptx/atomic.cuh"
#include "cuda/ptx/cp_async.cuh"
#include "cuda/ptx/ldmatrix.cuh"
#include "cuda/ptx/math.cuh"
#include "cuda/ptx/mma.cuh"
#include "cuda_test_support.h"

namespace flashattn::testing {
namespace {

using namespace flashattn::ptx;

// ---- mma_m16n8k16: D (16x8) = A (16x16, row-major) * B (16x8, [k][n]) + C -------------------

template <typename Element>
__global__ void mma_kernel(const float* a, const float* b, const float* c, float* d) {
  const int lane = static_cast<int>(threadIdx.x);
  const int group = lane / 4;
  const int column = 2 * (lane % 4);
  auto a_pair = [&](int row, int k) {
    return pack2<Element>(a[row * 16 + k], a[row * 16 + k + 1]);
  };
  auto b_pair = [&](int k) { return pack2<Element>(b[k * 8 + group], b[(k + 1) * 8 + group]); };
  const std::uint32_t a_fragment[4] = {a_pair(group, column), a_pair(group + 8, column),
                                       a_pair(group, column + 8), a_pair(group + 8, column + 8)};
  const std::uint32_t b_fragment[2] = {b_pair(column), b_pair(column + 8)};
  const int c_index[4] = {group * 8 + column, group * 8 + column + 1, (group + 8) * 8 + column,
                          (group + 8) * 8 + column + 1};
  float accumulator[4];
  for (int i = 0; i < 4; ++i)
    accumulator[i] = c[c_index[i]];
  mma_m16n8k16<Element>(accumulator, a_fragment, b_fragment);
  for (int i = 0; i < 4; ++i)
    d[c_index[i]] = accumulator[i];
}

// Small integers (and halves in C) are exact in fp16, bf16 and fp32, so D must match exactly.
template <typename Element>
void expect_mma_matches_host_matmul() {
  auto a = make_managed<float>(16 * 16);
  auto b = make_managed<float>(16 * 8);
  auto c = make_managed<float>(16 * 8);
  auto d = make_managed<float>(16 * 8);
  ASSERT_TRUE(a && b && c && d);
  for (int i = 0; i < 16 * 16; ++i) {  // A[m][k], m = i / 16, k = i % 16
    a[i] = static_cast<float>((3 * (i / 16) + 5 * (i % 16)) % 9 - 4);
  }
  for (int i = 0; i < 16 * 8; ++i) {  // B[k][n] and C[m][n], row = i / 8, n = i % 8
    b[i] = static_cast<float>((3 * (i / 8) + 2 * (i % 8) + 1) % 7 - 3);
    c[i] = static_cast<float>(i / 8) - 0.5f * static_cast<float>(i % 8);
  }
  mma_kernel<Element><<<1, 32>>>(a.get(), b.get(), c.get(), d.get());
  ASSERT_TRUE(kernel_succeeded());
  for (int m = 0; m < 16; ++m) {
    for (int n = 0; n < 8; ++n) {
      double expected = c[m * 8 + n];
      for (int k = 0; k < 16; ++k)
        expected += double{a[m * 16 + k]} * double{b[k * 8 + n]};
      EXPECT_EQ(d[m * 8 + n], static_cast<float>(expected)) << "D[" << m << "][" << n << "]";
    }
  }
}

TEST(PtxMma, HalfMatchesHostMatmul) {
  SKIP_WITHOUT_SM80_DEVICE();
  expect_mma_matches_host_matmul<__half>();
}

TEST(PtxMma, Bfloat16MatchesHostMatmul) {
  SKIP_WITHOUT_SM80_DEVICE();
  expect_mma_matches_host_matmul<__nv_bfloat16>();
}

// ---- pack2: low 16 bits = first argument, round to nearest (ties to even) -------------------

struct Pack2Case {
  float low;
  float high;
  std::uint16_t low_bits;
  std::uint16_t high_bits;
};

template <typename Element>
__global__ void pack2_kernel(const Pack2Case* cases, int count, std::uint32_t* packed) {
  const int i = static_cast<int>(threadIdx.x);
  if (i < count) packed[i] = pack2<Element>(cases[i].low, cases[i].high);
}

template <typename Element>
void expect_pack2(const std::vector<Pack2Case>& cases) {
  const int count = static_cast<int>(cases.size());
  auto device_cases = make_managed<Pack2Case>(cases.size());
  auto packed = make_managed<std::uint32_t>(cases.size());
  ASSERT_TRUE(device_cases && packed);
  std::copy(cases.begin(), cases.end(), device_cases.get());
  pack2_kernel<Element><<<1, 32>>>(device_cases.get(), count, packed.get());
  ASSERT_TRUE(kernel_succeeded());
  for (int i = 0; i < count; ++i) {
    EXPECT_EQ(packed[i] & 0xFFFFu, cases[i].low_bits) << "low of case " << i;
    EXPECT_EQ(packed[i] >> 16, cases[i].high_bits) << "high of case " << i;
  }
}

TEST(PtxPack2, HalfLowIsFirstAndRoundsToNearestEven) {
  SKIP_WITHOUT_SM80_DEVICE();
  // fp16 ulp at 1 is 2^-10: just over half an ulp rounds up, just under down, ties to even.
  expect_pack2<__half>({{1.0f, 2.0f, 0x3C00, 0x4000},
                        {1.0f + 0x1p-11f + 0x1p-13f, -1.0f - 0x1p-12f, 0x3C01, 0xBC00},
                        {1.0f + 3 * 0x1p-11f, 1.0f + 0x1p-11f, 0x3C02, 0x3C00}});
}

TEST(PtxPack2, Bfloat16LowIsFirstAndRoundsToNearestEven) {
  SKIP_WITHOUT_SM80_DEVICE();
  // bf16 ulp at 1 is 2^-7 (truncation would give 0x3F80 in the second case).
  expect_pack2<__nv_bfloat16>({{1.0f, 2.0f, 0x3F80, 0x4000},
                               {1.0f + 0x1p-8f + 0x1p-10f, -1.0f - 0x1p-9f, 0x3F81, 0xBF80},
                               {1.0f + 3 * 0x1p-8f, 1.0f + 0x1p-8f, 0x3F82, 0x3F80}});
}

// ---- ldmatrix_x4 / ldmatrix_x4_trans ----------------------------------------------------------

__host__ __device__ constexpr std::uint16_t tile_value(int matrix, int row, int column) {
  return static_cast<std::uint16_t>(100 * matrix + 10 * row + column);
}

template <bool Transposed>
__global__ void ldmatrix_kernel(std::uint32_t* registers) {
  // Matrices sit in reverse order so only the lane addresses say where each one is.
  __shared__ alignas(16) std::uint16_t tiles[4][8][8];
  const int lane = static_cast<int>(threadIdx.x);
  for (int i = lane; i < 4 * 8 * 8; i += 32) {
    const int matrix = i / 64, row = i / 8 % 8, column = i % 8;
    tiles[3 - matrix][row][column] = tile_value(matrix, row, column);
  }
  __syncwarp();
  std::uint32_t r[4];
  const void* row_address = &tiles[3 - lane / 8][lane % 8][0];
  if constexpr (Transposed) {
    ldmatrix_x4_trans(r, row_address);
  } else {
    ldmatrix_x4(r, row_address);
  }
  for (int i = 0; i < 4; ++i)
    registers[lane * 4 + i] = r[i];
}

// Register i of lane l holds row l / 4, elements 2 (l % 4) .. +1 of matrix i (or its transpose).
template <bool Transposed>
void expect_ldmatrix_layout() {
  auto registers = make_managed<std::uint32_t>(32 * 4);
  ASSERT_TRUE(registers);
  ldmatrix_kernel<Transposed><<<1, 32>>>(registers.get());
  ASSERT_TRUE(kernel_succeeded());
  for (int lane = 0; lane < 32; ++lane) {
    const int row = lane / 4, column = 2 * (lane % 4);
    for (int i = 0; i < 4; ++i) {
      const std::uint32_t low =
          Transposed ? tile_value(i, column, row) : tile_value(i, row, column);
      const std::uint32_t high =
          Transposed ? tile_value(i, column + 1, row) : tile_value(i, row, column + 1);
      EXPECT_EQ(registers[lane * 4 + i], low | (high << 16))
          << "lane " << lane << ", register " << i;
    }
  }
}

TEST(PtxLdmatrix, X4DeliversDocumentedFragments) {
  SKIP_WITHOUT_SM80_DEVICE();
  expect_ldmatrix_layout<false>();
}

TEST(PtxLdmatrix, X4TransDeliversTransposedFragments) {
  SKIP_WITHOUT_SM80_DEVICE();
  expect_ldmatrix_layout<true>();
}

// ---- cp_async_16 / commit / wait ---------------------------------------------------------------

constexpr int kChunks = 8;
constexpr int kWordsPerChunk = 4;  // 16 bytes

__host__ __device__ constexpr bool chunk_is_valid(int chunk) {
  return chunk % 3 != 1;
}

__global__ void cp_async_kernel(const std::uint32_t* source, std::uint32_t* destination) {
  __shared__ alignas(16) std::uint32_t staging[kChunks * kWordsPerChunk];
  const int chunk = static_cast<int>(threadIdx.x);
  // A non-zero sentinel first, so a missing zero-fill cannot pass.
  for (int w = 0; w < kWordsPerChunk; ++w)
    staging[chunk * kWordsPerChunk + w] = 0xFFFFFFFFu;
  __syncthreads();
  cp_async_16(&staging[chunk * kWordsPerChunk], &source[chunk * kWordsPerChunk],
              chunk_is_valid(chunk));
  cp_async_commit();
  cp_async_wait<0>();
  __syncthreads();
  // Read a neighbour's chunk: wait + barrier must make other threads' copies visible too.
  const int other = (chunk + 1) % kChunks;
  for (int w = 0; w < kWordsPerChunk; ++w) {
    destination[other * kWordsPerChunk + w] = staging[other * kWordsPerChunk + w];
  }
}

TEST(PtxCpAsync, CopiesValidChunksAndZeroFillsInvalidOnes) {
  SKIP_WITHOUT_SM80_DEVICE();
  constexpr int kWords = kChunks * kWordsPerChunk;
  auto source = make_managed<std::uint32_t>(kWords);
  auto destination = make_managed<std::uint32_t>(kWords);
  ASSERT_TRUE(source && destination);
  for (int i = 0; i < kWords; ++i) {
    source[i] = 0x01000000u + static_cast<std::uint32_t>(i);
    destination[i] = 0xDEADBEEFu;
  }
  cp_async_kernel<<<1, kChunks>>>(source.get(), destination.get());
  ASSERT_TRUE(kernel_succeeded());
  for (int i = 0; i < kWords; ++i) {
    const std::uint32_t expected = chunk_is_valid(i / kWordsPerChunk) ? source[i] : 0u;
    EXPECT_EQ(destination[i], expected) << "word " << i;
  }
}

// ---- exp2_approx --------------------------------------------------------------------------------

__global__ void exp2_kernel(const float* x, int count, float* result) {
  const int i = static_cast<int>(threadIdx.x);
  if (i < count) result[i] = exp2_approx(x[i]);
}

TEST(PtxExp2Approx, MatchesExp2AndFlushesToZero) {
  SKIP_WITHOUT_SM80_DEVICE();
  // 2^-130 is subnormal and -inf gives 0: .ftz must turn both into exactly 0.
  constexpr float kInfinity = std::numeric_limits<float>::infinity();
  const std::vector<float> inputs = {0.0f,   1.0f,  -1.0f,   0.5f,    -0.75f,  3.3f,      10.25f,
                                     -20.5f, 64.1f, -100.0f, -120.5f, -130.0f, -kInfinity};
  const int count = static_cast<int>(inputs.size());
  auto x = make_managed<float>(inputs.size());
  auto result = make_managed<float>(inputs.size());
  ASSERT_TRUE(x && result);
  std::copy(inputs.begin(), inputs.end(), x.get());
  exp2_kernel<<<1, 32>>>(x.get(), count, result.get());
  ASSERT_TRUE(kernel_succeeded());
  for (int i = 0; i < count; ++i) {
    const double expected = std::exp2(double{inputs[i]});
    if (expected < FLT_MIN) {
      EXPECT_EQ(result[i], 0.0f) << "exp2_approx(" << inputs[i] << ")";
    } else {
      EXPECT_NEAR(result[i], expected, 0x1p-21 * expected) << "exp2_approx(" << inputs[i] << ")";
    }
  }
}

// ---- red_add_pair --------------------------------------------------------------------------

// Every thread of 4 blocks adds (1, 2) times its block number + 1 to pair threadIdx.x % 64.
__global__ void red_add_pair_kernel(float* sums) {
  const float weight = static_cast<float>(blockIdx.x + 1);
  red_add_pair(sums + 2 * (threadIdx.x % 64), weight, 2.0f * weight);
}

TEST(PtxRedAddPair, AddsBothHalvesFromEveryThread) {
  SKIP_WITHOUT_SM80_DEVICE();
  auto sums = make_managed<float>(128);
  ASSERT_NE(sums, nullptr);
  std::fill(sums.get(), sums.get() + 128, 0.5f);
  red_add_pair_kernel<<<4, 256>>>(sums.get());
  ASSERT_TRUE(kernel_succeeded());
  // Each pair gets 4 threads per block: 4 * (1 + 2 + 3 + 4) = 40 times (1, 2).
  for (int i = 0; i < 64; ++i) {
    EXPECT_EQ(sums[2 * i], 40.5f) << i;
    EXPECT_EQ(sums[2 * i + 1], 80.5f) << i;
  }
}

}  // namespace
}  // namespace flashattn::testing
