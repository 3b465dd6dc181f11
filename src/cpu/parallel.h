// A fork-join loop over task indices on std::threads: enough for coarse CPU work items.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace flashattn {

inline int resolve_thread_count(int requested, std::int64_t num_tasks) {
  const int hardware = std::max(1u, std::thread::hardware_concurrency());
  const int wanted = requested > 0 ? requested : hardware;
  return static_cast<int>(std::max<std::int64_t>(1, std::min<std::int64_t>(wanted, num_tasks)));
}

// Calls task(index) for every index in [0, num_tasks), in no particular order, on up to
// `requested_threads` threads (0 = all cores). The first exception is rethrown after joining.
template <typename Task>
void parallel_for(std::int64_t num_tasks, int requested_threads, const Task& task) {
  const int num_threads = resolve_thread_count(requested_threads, num_tasks);
  if (num_threads == 1) {
    for (std::int64_t index = 0; index < num_tasks; ++index)
      task(index);
    return;
  }
  std::atomic<std::int64_t> next{0};
  std::exception_ptr failure;
  std::mutex failure_mutex;
  auto worker = [&] {
    try {
      for (std::int64_t index = next++; index < num_tasks; index = next++)
        task(index);
    } catch (...) {
      const std::lock_guard lock(failure_mutex);
      if (!failure) failure = std::current_exception();
      next = num_tasks;
    }
  };
  std::vector<std::thread> threads;
  threads.reserve(static_cast<std::size_t>(num_threads - 1));
  for (int t = 1; t < num_threads; ++t)
    threads.emplace_back(worker);
  worker();
  for (std::thread& thread : threads)
    thread.join();
  if (failure) std::rethrow_exception(failure);
}

}  // namespace flashattn
