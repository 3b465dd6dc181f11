// Launches the sm90 forward for one head dim: TMA descriptors of q, k, v, then the kernel.
#pragma once

#include <algorithm>
#include <string>
#include <utility>

#include "cuda/common/check.h"
#include "cuda/common/device.h"
#include "cuda/common/launch.h"
#include "cuda/common/tensor_map.h"
#include "cuda/common/workspace.h"
#include "cuda/sm90/forward.h"
#include "cuda/sm90/fwd_kernel.cuh"

namespace flashattn::sm90 {

// A dimension of size 1 is never stepped over: give it a stride TMA accepts (torch may report
// any, 0 included, for it).
inline TensorMapShape tensor_map_shape(const TensorView& view) {
  const auto stride = [&](int dim) { return view.size(dim) == 1 ? 8 : view.stride(dim); };
  return {view.size(0), view.size(1), view.size(2), view.size(3), stride(0), stride(1), stride(2)};
}

template <typename Config>
std::string launch_forward(const ForwardParams& params, const ForwardProblem& problem,
                           cudaStream_t stream) {
  const TensorMapShape q_shape = tensor_map_shape(problem.q);
  const TensorMapShape k_shape = tensor_map_shape(problem.k);
  const TensorMapShape v_shape = tensor_map_shape(problem.v);
  const TensorMapShape out_shape = tensor_map_shape(problem.out);
  const std::pair<const char*, const TensorMapShape*> operands[] = {
      {"q", &q_shape}, {"k", &k_shape}, {"v", &v_shape}, {"out", &out_shape}};
  for (const auto& [name, shape] : operands) {
    const std::string limit = tensor_map_limits(*shape);
    if (!limit.empty()) return std::string(name) + " has " + limit + ", which TMA cannot load";
  }
  const CUtensorMap q_map = make_tensor_map_16bit(problem.q.data, q_shape, Config::kBlockM);
  const CUtensorMap k_map = make_tensor_map_16bit(problem.k.data, k_shape, Config::kBlockN);
  const CUtensorMap v_map = make_tensor_map_16bit(problem.v.data, v_shape, Config::kBlockN);
  // Each consumer warpgroup stores its own 64 rows of O.
  const CUtensorMap o_map = make_tensor_map_16bit(problem.out.data, out_shape, 64);
  const long long row_blocks = (params.seqlen_q + Config::kBlockM - 1) / Config::kBlockM;
  const unsigned tiles = flat_grid(row_blocks, params.batch, params.heads_q, "q", "query blocks");
  // One CTA per multiprocessor (its shared memory and registers leave no room for a second)
  // takes tiles until none is left, each starting its next tile's loads under the last one's
  // epilogue; the tiles after the first wave come from a counter zeroed here.
  const unsigned blocks =
      std::min(tiles, static_cast<unsigned>(multiprocessor_count(problem.q.device.index)));
  const Workspace counter(problem.q.device.index, sizeof(unsigned), stream);
  auto* tile_counter = static_cast<unsigned*>(counter.data());
  check_cuda(cudaMemsetAsync(tile_counter, 0, sizeof(unsigned), stream), "cudaMemsetAsync");
  with_16bit_element(problem.q.dtype, [&]<typename Element>() {
    launch_kernel(forward_kernel<Config, Element>, blocks, Config::kThreads, Config::kSmemBytes,
                  stream, "sm90 forward kernel launch", params, tiles, tile_counter, q_map, k_map,
                  v_map, o_map);
  });
  return {};
}

template <int HeadDim>
std::string run_forward(const ForwardParams& params, const ForwardProblem& problem,
                        cudaStream_t stream) {
  // Softcap runs on the kernel that compiles its tanh loop in; the rest skip it (ForwardConfig).
  const bool softcap = params.softcap > 0.0f;
  if constexpr (HeadDim == 128) {
    // The band-free kernel's 192-row tiles leave rows of a block idle where the sequence is not
    // a multiple of 192: where that is a sixteenth of it more than 128-row tiles leave (S = 1k:
    // 12.5%), the two-consumer kernel is the faster (at 1k by 4.1%; at 2k the three-consumer one by
    // 3.6%).
    using BandFree = ForwardConfig<HeadDim, false, false>;
    const auto idle_rows = [&](int block) {
      return (params.seqlen_q + block - 1) / block * block - params.seqlen_q;
    };
    if (!params.window.banded() && !softcap &&
        16 * (idle_rows(BandFree::kBlockM) - idle_rows(ForwardConfig<HeadDim>::kBlockM)) <
            params.seqlen_q) {
      return launch_forward<BandFree>(params, problem, stream);
    }
  }
  if constexpr (HeadDim == 64) {
    if (!softcap)
      return launch_forward<ForwardConfig<HeadDim, true, false>>(params, problem, stream);
  }
  return launch_forward<ForwardConfig<HeadDim>>(params, problem, stream);
}

}  // namespace flashattn::sm90
