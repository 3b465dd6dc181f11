// The extension module: converts DLPack arrays (numpy, torch, CPU or CUDA) to tensor views
// without copying and maps library errors to Python exceptions. Nothing else lives here.
#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>

#include <cstdint>
#include <optional>
#include <string>

#include "flashattn/flashattn.h"

namespace nb = nanobind;
using flashattn::DType;
using flashattn::InvalidArgument;
using flashattn::TensorView;

namespace {

using Array = nb::ndarray<>;

DType dtype_of(const Array& array, const char* name) {
  const nb::dlpack::dtype type = array.dtype();
  if (type.lanes == 1) {
    if (type.code == static_cast<std::uint8_t>(nb::dlpack::dtype_code::Float)) {
      if (type.bits == 16) return DType::float16;
      if (type.bits == 32) return DType::float32;
      if (type.bits == 64) return DType::float64;
    }
    if (type.code == static_cast<std::uint8_t>(nb::dlpack::dtype_code::Bfloat) && type.bits == 16) {
      return DType::bfloat16;
    }
  }
  throw InvalidArgument(name,
                        "expected a float16, bfloat16, float32 or float64 array, got dtype "
                        "code " +
                            std::to_string(type.code) + " with " + std::to_string(type.bits) +
                            " bits");
}

TensorView view_of(const Array& array, const char* name) {
  TensorView view;
  view.data = array.data();
  view.dtype = dtype_of(array, name);
  if (array.device_type() == nb::device::cpu::value) {
    view.device = flashattn::Device::cpu();
  } else if (array.device_type() == nb::device::cuda::value) {
    view.device = flashattn::Device::cuda(array.device_id());
  } else {
    throw InvalidArgument(name, "expected a CPU or CUDA array, got DLPack device type " +
                                    std::to_string(array.device_type()));
  }
  if (array.ndim() > static_cast<std::size_t>(TensorView::kMaxRank)) {
    throw InvalidArgument(name,
                          "expected at most 4 dimensions, got " + std::to_string(array.ndim()));
  }
  view.rank = static_cast<int>(array.ndim());
  for (int dim = 0; dim < view.rank; ++dim) {
    view.shape[static_cast<std::size_t>(dim)] = static_cast<std::int64_t>(array.shape(dim));
    view.strides[static_cast<std::size_t>(dim)] = array.stride(dim);
  }
  return view;
}

flashattn::Backend backend_of(const std::string& name) {
  if (name == "auto") return flashattn::Backend::automatic;
  if (name == "cpu") return flashattn::Backend::cpu;
  if (name == "reference") return flashattn::Backend::reference;
  if (name == "cuda") return flashattn::Backend::cuda;
  if (name == "cuda_sm80") return flashattn::Backend::cuda_sm80;
  if (name == "cuda_sm90") return flashattn::Backend::cuda_sm90;
  throw InvalidArgument("backend",
                        "expected one of auto, cpu, reference, cuda, cuda_sm80, "
                        "cuda_sm90; got '" +
                            name + "'");
}

flashattn::Options options_of(std::optional<double> scale, bool causal, std::int64_t window_left,
                              std::int64_t window_right, double softcap, bool deterministic,
                              const std::string& backend, int num_threads) {
  flashattn::Options options;
  options.scale = scale;
  options.causal = causal;
  options.window_left = window_left;
  options.window_right = window_right;
  options.softcap = softcap;
  options.deterministic = deterministic;
  options.backend = backend_of(backend);
  options.num_threads = num_threads;
  return options;
}

void forward(const Array& q, const Array& k, const Array& v, const Array& out, const Array& lse,
             std::optional<double> scale, bool causal, std::int64_t window_left,
             std::int64_t window_right, double softcap, bool deterministic,
             const std::string& backend, int num_threads, std::uintptr_t stream) {
  const flashattn::Options options = options_of(scale, causal, window_left, window_right, softcap,
                                                deterministic, backend, num_threads);
  const TensorView views[] = {view_of(q, "q"), view_of(k, "k"), view_of(v, "v"),
                              view_of(out, "out"), view_of(lse, "lse")};
  nb::gil_scoped_release release;
  flashattn::forward(views[0], views[1], views[2], views[3], views[4], options,
                     reinterpret_cast<void*>(stream));
}

void backward(const Array& dout, const Array& q, const Array& k, const Array& v, const Array& out,
              const Array& lse, const Array& dq, const Array& dk, const Array& dv,
              std::optional<double> scale, bool causal, std::int64_t window_left,
              std::int64_t window_right, double softcap, bool deterministic,
              const std::string& backend, int num_threads, std::uintptr_t stream) {
  const flashattn::Options options = options_of(scale, causal, window_left, window_right, softcap,
                                                deterministic, backend, num_threads);
  const TensorView views[] = {view_of(dout, "dout"), view_of(q, "q"),     view_of(k, "k"),
                              view_of(v, "v"),       view_of(out, "out"), view_of(lse, "lse"),
                              view_of(dq, "dq"),     view_of(dk, "dk"),   view_of(dv, "dv")};
  nb::gil_scoped_release release;
  flashattn::backward(views[0], views[1], views[2], views[3], views[4], views[5], views[6],
                      views[7], views[8], options, reinterpret_cast<void*>(stream));
}

}  // namespace

NB_MODULE(_C, module) {
  module.doc() = "flashattn native module (use the flashattn package, not this directly)";

  nb::register_exception_translator([](const std::exception_ptr& pointer, void*) {
    try {
      std::rethrow_exception(pointer);
    } catch (const flashattn::InvalidArgument& error) {
      PyErr_SetString(PyExc_ValueError, error.what());
    } catch (const flashattn::Unsupported& error) {
      PyErr_SetString(PyExc_NotImplementedError, error.what());
    } catch (const flashattn::Error& error) {
      PyErr_SetString(PyExc_RuntimeError, error.what());
    }
  });

  module.def("forward", &forward, nb::arg("q"), nb::arg("k"), nb::arg("v"), nb::arg("out"),
             nb::arg("lse"), nb::kw_only(), nb::arg("scale") = nb::none(),
             nb::arg("causal") = false, nb::arg("window_left") = -1, nb::arg("window_right") = -1,
             nb::arg("softcap") = 0.0, nb::arg("deterministic") = false,
             nb::arg("backend") = "auto", nb::arg("num_threads") = 0, nb::arg("stream") = 0,
             "out, lse <- attention(q, k, v); arrays [B, S, H, D], lse [B, Hq, Sq] float32.");
  module.def("backward", &backward, nb::arg("dout"), nb::arg("q"), nb::arg("k"), nb::arg("v"),
             nb::arg("out"), nb::arg("lse"), nb::arg("dq"), nb::arg("dk"), nb::arg("dv"),
             nb::kw_only(), nb::arg("scale") = nb::none(), nb::arg("causal") = false,
             nb::arg("window_left") = -1, nb::arg("window_right") = -1, nb::arg("softcap") = 0.0,
             nb::arg("deterministic") = false, nb::arg("backend") = "auto",
             nb::arg("num_threads") = 0, nb::arg("stream") = 0,
             "dq, dk, dv <- gradients of sum(out * dout) given the forward's out and lse.");
  module.def("cuda_available", &flashattn::cuda_available,
             "True when CUDA kernels are compiled in and a GPU is visible.");
  module.def("build_info", &flashattn::build_info);
  module.attr("__version__") = FLASHATTN_VERSION_STRING;
}
