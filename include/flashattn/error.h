// Exceptions thrown by the library. Every check runs before any output is written.
#pragma once

#include <stdexcept>
#include <string>

namespace flashattn {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// An argument is malformed: wrong shape, dtype, device, stride or option value.
class InvalidArgument : public Error {
 public:
  InvalidArgument(std::string argument, const std::string& message)
      : Error(argument + ": " + message), argument_(std::move(argument)) {}
  const std::string& argument() const { return argument_; }

 private:
  std::string argument_;
};

// The arguments are valid but this build or device cannot run them (e.g. no kernel compiled).
class Unsupported : public Error {
 public:
  using Error::Error;
};

// A CUDA runtime call failed.
class CudaError : public Error {
 public:
  using Error::Error;
};

}  // namespace flashattn
