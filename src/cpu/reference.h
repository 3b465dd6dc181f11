// The oracle: naive attention, one score row at a time, every intermediate kept in double.
//
// `intermediate` selects how intermediates are rounded. float64 is the oracle proper. float16,
// bfloat16 or float32 round every matmul result, probability and gradient to that type: the
// "naive low-precision" computation that sets the error scale of the tolerance rule
// (docs/numerics.md). Results come back as doubles, so a low-precision problem keeps an exact
// oracle; the *_values functions never write to the problem's output views.
#pragma once

#include <cstdint>
#include <vector>

#include "common/problem.h"
#include "flashattn/dtype.h"

namespace flashattn {

struct ReferenceForward {
  std::vector<double> out;  // contiguous [B, Sq, Hq, D]
  std::vector<double> lse;  // contiguous [B, Hq, Sq]; +inf for rows with no visible key
};

struct ReferenceBackward {
  std::vector<double> dq;  // contiguous [B, Sq, Hq, D]
  std::vector<double> dk;  // contiguous [B, Sk, Hkv, D]
  std::vector<double> dv;  // contiguous [B, Sk, Hkv, D]
};

ReferenceForward reference_forward_values(const ForwardProblem& problem,
                                          DType intermediate = DType::float64);
ReferenceBackward reference_backward_values(const BackwardProblem& problem,
                                            DType intermediate = DType::float64);

// Output row (batch, head, query) into `out_row` (head_dim values); returns the LSE. Lets
// callers check sampled rows of problems too large for the full oracle.
double reference_forward_row(const ForwardProblem& problem, std::int64_t batch, std::int64_t head,
                             std::int64_t query, double* out_row,
                             DType intermediate = DType::float64);

// Backend::reference: the oracle's values stored into the problem's output views.
void reference_forward(const ForwardProblem& problem);
void reference_backward(const BackwardProblem& problem);

}  // namespace flashattn
