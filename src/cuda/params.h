// Host-side checks and parameter resolution shared by the CUDA forward and backward: what only
// the GPU kernels need of a validated problem (head dim a multiple of 8, 16-byte aligned rows,
// a compiled kernel) and the ForwardParams every kernel reads.
#pragma once

#include <cstdint>

#include "common/problem.h"
#include "cuda/common/fwd_params.h"

namespace flashattn {

// Throws InvalidArgument / Unsupported unless the CUDA kernels can run `problem`; returns the
// compiled kernel head dim that serves it (the smallest one that holds its head dim).
int check_cuda_problem(const AttentionProblem& problem);

// Tile loads and stores move 16-byte pieces: every row must start on a 16-byte boundary.
void check_rows_aligned(const char* name, const TensorView& view);

RowStrides row_strides(const TensorView& view);

// Pointers, strides, sizes and score parameters of the inputs and the forward's outputs.
ForwardParams forward_params(const AttentionProblem& problem);

}  // namespace flashattn
