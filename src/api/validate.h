// Argument checking for the public API: turns raw views and options into a problem the
// backends can trust, or throws InvalidArgument / Unsupported naming the argument.
#pragma once

#include "common/problem.h"

namespace flashattn {

inline constexpr std::int64_t kMaxHeadDim = 256;

ForwardProblem validate_forward(const TensorView& q, const TensorView& k, const TensorView& v,
                                const TensorView& out, const TensorView& lse,
                                const Options& options);

BackwardProblem validate_backward(const TensorView& dout, const TensorView& q, const TensorView& k,
                                  const TensorView& v, const TensorView& out, const TensorView& lse,
                                  const TensorView& dq, const TensorView& dk, const TensorView& dv,
                                  const Options& options);

}  // namespace flashattn
