// Tiled, threaded CPU implementation: online-softmax forward, recomputation backward.
#pragma once

#include "common/problem.h"

namespace flashattn {

void cpu_forward(const ForwardProblem& problem);
void cpu_backward(const BackwardProblem& problem);

}  // namespace flashattn
