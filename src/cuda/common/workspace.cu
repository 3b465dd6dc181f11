#include "cuda/common/workspace.h"

#include <cstdint>
#include <mutex>
#include <vector>

#include "cuda/common/check.h"

namespace flashattn {
namespace {

cudaMemPool_t device_pool(int device) {
  static std::mutex mutex;
  static std::vector<cudaMemPool_t> pools;
  const std::lock_guard lock(mutex);
  if (pools.size() <= static_cast<std::size_t>(device)) pools.resize(device + 1, nullptr);
  if (pools[device] == nullptr) {
    cudaMemPoolProps props{};
    props.allocType = cudaMemAllocationTypePinned;
    props.location.type = cudaMemLocationTypeDevice;
    props.location.id = device;
    cudaMemPool_t pool = nullptr;
    check_cuda(cudaMemPoolCreate(&pool, &props), "cudaMemPoolCreate");
    // Keep freed memory in the pool: the next call of the same size reuses it.
    std::uint64_t keep = UINT64_MAX;
    check_cuda(cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &keep),
               "cudaMemPoolSetAttribute");
    pools[device] = pool;
  }
  return pools[device];
}

}  // namespace

Workspace::Workspace(int device, std::size_t bytes, cudaStream_t stream) : stream_(stream) {
  if (bytes == 0) return;
  check_cuda(cudaMallocFromPoolAsync(&data_, bytes, device_pool(device), stream),
             "cudaMallocFromPoolAsync");
}

Workspace::~Workspace() {
  if (data_ != nullptr) (void)cudaFreeAsync(data_, stream_);
}

}  // namespace flashattn
