// Front door: validate, then hand the problem to the backend it resolved to.
#include "flashattn/attention.h"

#include "api/validate.h"
#include "cpu/backend.h"
#include "cpu/reference.h"
#include "cuda/backend.h"
#include "flashattn/version.h"

namespace flashattn {

void forward(const TensorView& q, const TensorView& k, const TensorView& v, const TensorView& out,
             const TensorView& lse, const Options& options, void* stream) {
  const ForwardProblem problem = validate_forward(q, k, v, out, lse, options);
  switch (problem.backend) {
    case Backend::reference:
      return reference_forward(problem);
    case Backend::cuda:
    case Backend::cuda_sm80:
    case Backend::cuda_sm90:
      return cuda_forward(problem, stream);
    default:
      return cpu_forward(problem);
  }
}

void backward(const TensorView& dout, const TensorView& q, const TensorView& k, const TensorView& v,
              const TensorView& out, const TensorView& lse, const TensorView& dq,
              const TensorView& dk, const TensorView& dv, const Options& options, void* stream) {
  const BackwardProblem problem = validate_backward(dout, q, k, v, out, lse, dq, dk, dv, options);
  switch (problem.backend) {
    case Backend::reference:
      return reference_backward(problem);
    case Backend::cuda:
    case Backend::cuda_sm80:
    case Backend::cuda_sm90:  // no sm90 backward yet: the sm80 one serves Hopper too
      return cuda_backward(problem, stream);
    default:
      return cpu_backward(problem);
  }
}

bool cuda_available() {
  return cuda_kernels_compiled() && cuda_device_count() > 0;
}

std::string build_info() {
  return std::string("flashattn ") + FLASHATTN_VERSION_STRING + "; backends: cpu, reference" +
         (cuda_build_info().empty() ? "" : ", " + cuda_build_info());
}

}  // namespace flashattn
