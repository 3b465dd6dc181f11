// Device unit tests of the Hopper wrappers (mbarrier, TMA, wgmma): each checks the layout
// contract written at the top of its header on one CTA. They skip unless the device is an sm_90
// and this binary carries sm_90a code (FLASHATTN_CUDA_ARCHS containing 90a).
#include <cuda.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <string>

#include "cuda/common/tensor_map.h"
#include "cuda/ptx/mbarrier.cuh"
#include "cuda/ptx/mma.cuh"
#include "cuda/ptx/tma.cuh"
#include "cuda/ptx/wgmma.cuh"
#include "cuda_test_support.h"

namespace flashattn::testing {
namespace {

using namespace flashattn::ptx;

__global__ void probe_sm90a_kernel(int* has_sm90a) {
  *has_sm90a = FLASHATTN_SM90A;
}

// True when the device is an sm_90 and the code it runs was compiled for sm_90a.
bool runs_sm90a_code() {
  if (device_compute_capability() != 90) return false;
  auto flag = make_managed<int>(1);
  if (!flag) return false;
  flag[0] = 0;
  probe_sm90a_kernel<<<1, 1>>>(flag.get());
  return kernel_succeeded() && flag[0] == 1;
}

#define SKIP_WITHOUT_SM90A() \
  if (!runs_sm90a_code()) GTEST_SKIP() << "needs an sm_90 device and sm_90a code in this build"

// Offset of element (row, column) of a tile of 64-element (128-byte) rows, 128-byte swizzle.
__host__ __device__ int swizzled_offset(int row, int column) {
  return row * 64 + ((column / 8) ^ (row % 8)) * 8 + column % 8;
}

// ---- TMA load + mbarrier ------------------------------------------------------------------------

// Loads the 64 x 64 box at row `first_row` of a [1, rows, 1, 64] tensor and copies the shared
// tile out unchanged (still swizzled).
__global__ void tma_load_kernel(const __grid_constant__ CUtensorMap map, int first_row,
                                std::uint16_t* out) {
  __shared__ __align__(1024) std::uint16_t tile[64 * 64];
  __shared__ std::uint64_t barrier;
  if (threadIdx.x == 0) {
    mbarrier_init(&barrier, 1);
    mbarrier_init_fence();
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    mbarrier_arrive_expect_bytes(&barrier, sizeof(tile));
    tma_load_4d(tile, &map, &barrier, 0, first_row, 0, 0);
  }
  mbarrier_wait(&barrier, 0);
  for (int i = threadIdx.x; i < 64 * 64; i += blockDim.x)
    out[i] = tile[i];
}

TEST(PtxTma, LoadsSwizzledBoxesAndZeroFillsOutsideTheTensor) {
  SKIP_WITHOUT_SM90A();
  constexpr int kRows = 100;
  auto tensor = make_managed<std::uint16_t>(kRows * 64);
  auto out = make_managed<std::uint16_t>(64 * 64);
  ASSERT_TRUE(tensor && out);
  for (int i = 0; i < kRows * 64; ++i)
    tensor[i] = static_cast<std::uint16_t>(i + 1);
  const TensorMapShape shape{1, kRows, 1, 64, kRows * 64, 64, 64};
  const CUtensorMap map = make_tensor_map_16bit(tensor.get(), shape, 64);
  // Rows before the start (a box at a negative row) are zero-filled as those past the end.
  for (int first_row : {0, 50, -30}) {
    tma_load_kernel<<<1, 128>>>(map, first_row, out.get());
    ASSERT_TRUE(kernel_succeeded());
    for (int row = 0; row < 64; ++row) {
      for (int column = 0; column < 64; ++column) {
        const int source_row = first_row + row;
        const bool inside = source_row >= 0 && source_row < kRows;
        const int expected = inside ? source_row * 64 + column + 1 : 0;
        ASSERT_EQ(out[swizzled_offset(row, column)], expected)
            << "box at row " << first_row << ", element (" << row << ", " << column << ")";
      }
    }
  }
}

// ---- TMA store ---------------------------------------------------------------------------------

// Fills a swizzled 64 x 64 tile with row * 64 + column + 1 (of the box) and stores it at row
// `first_row` of a [1, rows, 1, 64] tensor.
__global__ void tma_store_kernel(const __grid_constant__ CUtensorMap map, int first_row) {
  __shared__ __align__(1024) std::uint16_t tile[64 * 64];
  for (int i = threadIdx.x; i < 64 * 64; i += blockDim.x)
    tile[swizzled_offset(i / 64, i % 64)] = static_cast<std::uint16_t>(i + 1);
  fence_async_shared();
  __syncthreads();
  if (threadIdx.x == 0) {
    tma_store_4d(&map, tile, 0, first_row, 0, 0);
    bulk_commit_group();
    bulk_wait_group_read();
  }
}

// Rows past the end are clipped. A box at a negative row is not: that store faults (illegal
// instruction, on the H200), so the forward never issues one; a load there zero-fills (above).
TEST(PtxTma, StoresOnlyTheRowsBeforeTheEnd) {
  SKIP_WITHOUT_SM90A();
  constexpr int kRows = 100;
  constexpr std::uint16_t kUntouched = 0xffff;
  auto tensor = make_managed<std::uint16_t>(kRows * 64);
  ASSERT_TRUE(tensor);
  const TensorMapShape shape{1, kRows, 1, 64, kRows * 64, 64, 64};
  const CUtensorMap map = make_tensor_map_16bit(tensor.get(), shape, 64);
  for (int first_row : {0, 50}) {
    std::fill(tensor.get(), tensor.get() + kRows * 64, kUntouched);
    tma_store_kernel<<<1, 128>>>(map, first_row);
    ASSERT_TRUE(kernel_succeeded());
    for (int row = 0; row < kRows; ++row) {
      for (int column = 0; column < 64; ++column) {
        const int box_row = row - first_row;
        const bool stored = box_row >= 0 && box_row < 64;
        const int expected = stored ? box_row * 64 + column + 1 : kUntouched;
        ASSERT_EQ(tensor[row * 64 + column], expected)
            << "box at row " << first_row << ", element (" << row << ", " << column << ")";
      }
    }
  }
}

// ---- bulk reduction ----------------------------------------------------------------------------

// Each of 4 blocks stages 64 floats (i + 1) * (block + 1) and has one thread add the first
// `floats` of them to `sums` with the bulk copy engine.
__global__ void bulk_reduce_kernel(float* sums, int floats) {
  __shared__ __align__(16) float staged[64];
  for (int i = threadIdx.x; i < 64; i += blockDim.x)
    staged[i] = static_cast<float>((i + 1) * (blockIdx.x + 1));
  fence_async_shared();
  __syncthreads();
  if (threadIdx.x == 0) {
    bulk_reduce_add(sums, staged, 4 * floats);
    bulk_commit_group();
    bulk_wait_group_read();
  }
}

TEST(PtxBulkReduce, AddsExactlyTheRangeFromEveryBlock) {
  SKIP_WITHOUT_SM90A();
  auto sums = make_managed<float>(64);
  ASSERT_TRUE(sums);
  for (int floats : {64, 12}) {  // 256 and 48 bytes
    std::fill(sums.get(), sums.get() + 64, 0.5f);
    bulk_reduce_kernel<<<4, 64>>>(sums.get(), floats);
    ASSERT_TRUE(kernel_succeeded());
    // Blocks 1..4 add (i + 1) times 1 + 2 + 3 + 4 = 10; past the range nothing changes.
    for (int i = 0; i < 64; ++i) {
      const float expected = i < floats ? 0.5f + 10.0f * static_cast<float>(i + 1) : 0.5f;
      ASSERT_EQ(sums[i], expected) << floats << " floats, element " << i;
    }
  }
}

// ---- wgmma
// ----------------------------------------------------------------------------------------

// Small integers: products and sums are exact in bf16 and fp32.
float a_value(int m, int k) {
  return static_cast<float>((3 * m + 5 * k) % 7 - 3);
}
float b_value(int n, int k) {
  return static_cast<float>((2 * n + 3 * k) % 5 - 2);
}

// Elements of d[64][columns] that differ from the host's sum over k < 64 of
// a_value(m, k) b_value(n, k) (small integers: exact in bf16 and fp32).
int host_product_mismatches(const float* d, int columns) {
  int mismatches = 0;
  for (int m = 0; m < 64; ++m) {
    for (int n = 0; n < columns; ++n) {
      float expected = 0.0f;
      for (int k = 0; k < 64; ++k)
        expected += a_value(m, k) * b_value(n, k);
      mismatches += d[m * columns + n] != expected;
    }
  }
  return mismatches;
}

// Writes the accumulators of one m64nN wgmma (layout in wgmma.cuh) to d[64][N].
template <int N>
__device__ void store_accumulators(const float (&accumulators)[N / 2], float* d) {
  const int warp = threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  for (int i = 0; i < N / 2; ++i) {
    const int row = 16 * warp + lane / 4 + 8 * ((i % 4) / 2);
    const int column = 8 * (i / 4) + 2 * (lane % 4) + i % 2;
    d[row * N + column] = accumulators[i];
  }
}

// D[64][N] = A[64][64] Bᵀ with A and B (N rows) K-major (k contiguous) in 128-byte-swizzled
// shared tiles: four k16 steps, the descriptors' start address advancing 32 bytes per step.
template <int N>
__global__ void wgmma_ss_kernel(const float* a, const float* b, float* d) {
  __shared__ __align__(1024) __nv_bfloat16 a_tile[64 * 64];
  __shared__ __align__(1024) __nv_bfloat16 b_tile[N * 64];
  for (int i = threadIdx.x; i < 64 * 64; i += blockDim.x)
    a_tile[swizzled_offset(i / 64, i % 64)] = __float2bfloat16(a[i]);
  for (int i = threadIdx.x; i < N * 64; i += blockDim.x)
    b_tile[swizzled_offset(i / 64, i % 64)] = __float2bfloat16(b[i]);
  fence_async_shared();  // thread stores, then the async proxy (wgmma) reads
  __syncthreads();
  float accumulators[N / 2];
  wgmma_fence();
  for (int step = 0; step < 4; ++step) {
    const std::uint64_t a_descriptor = smem_descriptor_swizzle128(a_tile + 16 * step, 16, 1024);
    const std::uint64_t b_descriptor = smem_descriptor_swizzle128(b_tile + 16 * step, 16, 1024);
    wgmma_ss<__nv_bfloat16, 0, 0>(accumulators, a_descriptor, b_descriptor, step > 0);
  }
  wgmma_commit();
  wgmma_wait<0>();
  wgmma_fence_operands(accumulators);
  store_accumulators<N>(accumulators, d);
}

// Returns the number of mismatching elements of D = A Bᵀ for an m64nNk16 wgmma_ss.
template <int N>
int wgmma_ss_mismatches() {
  auto a = make_managed<float>(64 * 64);
  auto b = make_managed<float>(N * 64);
  auto d = make_managed<float>(64 * N);
  if (!a || !b || !d) return -1;
  for (int i = 0; i < 64 * 64; ++i)
    a[i] = a_value(i / 64, i % 64);
  for (int i = 0; i < N * 64; ++i)
    b[i] = b_value(i / 64, i % 64);
  wgmma_ss_kernel<N><<<1, 128>>>(a.get(), b.get(), d.get());
  if (!kernel_succeeded()) return -1;
  return host_product_mismatches(d.get(), N);
}

// N = 64 and the d256 forward's 80-key blocks (an N that is not a power of two).
TEST(PtxWgmma, SharedSharedKMajorMatchesHostMatmul) {
  SKIP_WITHOUT_SM90A();
  EXPECT_EQ(wgmma_ss_mismatches<64>(), 0) << "m64n64k16";
  EXPECT_EQ(wgmma_ss_mismatches<80>(), 0) << "m64n80k16";
}

// D[64][128] = A[64][64] B with A in registers (mma.sync A fragments, warp w rows 16 w..) and
// B[k][n] MN-major (n contiguous, like V), stored as two 64-column swizzled blocks of 64 rows:
// a k16 step advances 16 rows (2048 bytes); the descriptor's offsets between 8-row groups of k
// and between the two column blocks are `k_group_bytes` and `column_block_bytes`, given as
// (leading, stride) in the order under test.
__global__ void wgmma_rs_kernel(const float* a, const float* b, float* d, bool blocks_in_leading) {
  __shared__ __align__(1024) __nv_bfloat16 b_tile[2 * 64 * 64];
  for (int i = threadIdx.x; i < 64 * 128; i += blockDim.x) {
    const int k = i / 128;
    const int n = i % 128;
    b_tile[(n / 64) * 64 * 64 + swizzled_offset(k, n % 64)] = __float2bfloat16(b[i]);
  }
  fence_async_shared();
  __syncthreads();
  const int warp = threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  const auto pair = [&](int row, int k) {
    return pack2<__nv_bfloat16>(a[row * 64 + k], a[row * 64 + k + 1]);
  };
  constexpr std::uint32_t kGroupBytes = 8 * 128;
  constexpr std::uint32_t kBlockBytes = 64 * 128;
  const std::uint32_t leading = blocks_in_leading ? kBlockBytes : kGroupBytes;
  const std::uint32_t stride = blocks_in_leading ? kGroupBytes : kBlockBytes;
  float accumulators[64];
  wgmma_fence();
  for (int step = 0; step < 4; ++step) {
    const int row = 16 * warp + lane / 4;
    const int k = 16 * step + 2 * (lane % 4);
    const std::uint32_t fragment[4] = {pair(row, k), pair(row + 8, k), pair(row, k + 8),
                                       pair(row + 8, k + 8)};
    const std::uint64_t b_descriptor =
        smem_descriptor_swizzle128(b_tile + 16 * step * 64, leading, stride);
    wgmma_rs<__nv_bfloat16, 1>(accumulators, fragment, b_descriptor, step > 0);
  }
  wgmma_commit();
  wgmma_wait<0>();
  wgmma_fence_operands(accumulators);
  store_accumulators<128>(accumulators, d);
}

// Returns the number of mismatching elements of D for one descriptor convention.
int wgmma_rs_mismatches(bool blocks_in_leading) {
  auto a = make_managed<float>(64 * 64);
  auto b = make_managed<float>(64 * 128);
  auto d = make_managed<float>(64 * 128);
  if (!a || !b || !d) return -1;
  for (int i = 0; i < 64 * 64; ++i)
    a[i] = a_value(i / 64, i % 64);
  for (int i = 0; i < 64 * 128; ++i)
    b[i] = b_value(i % 128, i / 128);  // B[k][n]
  wgmma_rs_kernel<<<1, 128>>>(a.get(), b.get(), d.get(), blocks_in_leading);
  if (!kernel_succeeded()) return -1;
  return host_product_mismatches(d.get(), 128);
}

// The documented convention (wgmma.cuh): MN-major, leading = between column blocks, stride =
// between 8-row groups of k. The other order is run too, so a failure says which one holds.
TEST(PtxWgmma, RegistersTimesMnMajorSharedMatchesHostMatmul) {
  SKIP_WITHOUT_SM90A();
  const int documented = wgmma_rs_mismatches(true);
  const int swapped = documented == 0 ? -2 : wgmma_rs_mismatches(false);
  EXPECT_EQ(documented, 0) << "mismatches with leading = column blocks, stride = k groups; "
                           << "with the offsets swapped: " << swapped;
}

}  // namespace
}  // namespace flashattn::testing
