// Runs one small CPU forward through the installed library; exit 0 when out and lse are finite.
#include <cmath>
#include <cstdio>
#include <vector>

#include "flashattn/flashattn.h"

int main() {
  constexpr int kBatch = 1, kSeqlen = 8, kHeads = 2, kHeadDim = 16;
  constexpr int kElements = kBatch * kSeqlen * kHeads * kHeadDim;
  std::vector<float> q(kElements), k(kElements), v(kElements);
  // NaN until written, so a forward that does nothing fails too.
  std::vector<float> out(kElements, std::nanf(""));
  std::vector<float> lse(kBatch * kHeads * kSeqlen, std::nanf(""));
  for (int i = 0; i < kElements; ++i) {
    q[i] = std::sin(0.1f * static_cast<float>(i));
    k[i] = std::cos(0.2f * static_cast<float>(i));
    v[i] = 0.1f + 0.01f * static_cast<float>(i % 17);
  }

  using flashattn::DType;
  using flashattn::TensorView;
  const auto view = [](std::vector<float>& data) {
    return TensorView::contiguous(data.data(), DType::float32, {kBatch, kSeqlen, kHeads, kHeadDim});
  };
  flashattn::Options options;
  options.causal = true;
  options.backend = flashattn::Backend::cpu;
  flashattn::forward(view(q), view(k), view(v), view(out),
                     TensorView::contiguous(lse.data(), DType::float32, {kBatch, kHeads, kSeqlen}),
                     options);

  for (const auto* values : {&out, &lse}) {
    for (float value : *values) {
      if (!std::isfinite(value)) {
        std::puts("package_consumer: non-finite output");
        return 1;
      }
    }
  }
  std::printf("package_consumer: %s, out[0] = %g\n", flashattn::build_info().c_str(), out[0]);
  return 0;
}
