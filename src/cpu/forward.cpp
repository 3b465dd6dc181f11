// Tiled forward: each task owns one (batch, head, block of query rows) and streams the key
// blocks it can see through an online softmax, so memory stays O(block * head_dim) per thread.
#include <algorithm>
#include <cmath>
#include <limits>

#include "cpu/backend.h"
#include "cpu/online_softmax.h"
#include "cpu/parallel.h"
#include "cpu/tile.h"

namespace flashattn {
namespace {

template <typename Element, typename Accum>
void forward_query_block(const ForwardProblem& problem, std::int64_t batch, std::int64_t head,
                         std::int64_t first_query) {
  const AttentionShape& shape = problem.shape;
  const std::int64_t rows = std::min(kQueryTile, shape.seqlen_q - first_query);
  const std::int64_t kv_head = head / shape.group_size();
  Tile<Accum> queries, keys_t, values, scores, accumulator;  // accumulator: sum exp(s - m) v
  OnlineSoftmax<Accum> softmax;
  softmax.reset(rows);
  accumulator.reset(rows, shape.head_dim);
  load_rows<Element>(problem.q, batch, first_query, rows, head, queries);

  const auto [key_begin, key_end] = visible_keys(problem.score.window, first_query, rows);
  for (std::int64_t first_key = key_begin; first_key < key_end; first_key += kKeyTile) {
    const std::int64_t cols = std::min(kKeyTile, key_end - first_key);
    load_rows_transposed<Element>(problem.k, batch, first_key, cols, kv_head, keys_t);
    load_rows<Element>(problem.v, batch, first_key, cols, kv_head, values);
    compute_scores(problem.score, queries, keys_t, first_query, first_key, scores);
    softmax.absorb(scores);
    for (std::int64_t r = 0; r < rows; ++r) {
      Accum* acc = accumulator.row(r);
      for (std::int64_t d = 0; d < accumulator.cols; ++d)
        acc[d] *= softmax.correction[r];
    }
    matmul_add(scores, values, accumulator);
  }

  // out = acc / l; rows that saw no key get out = 0 and LSE = +inf.
  std::vector<Accum> inverse_sum(static_cast<std::size_t>(rows));
  for (std::int64_t r = 0; r < rows; ++r) {
    const bool empty = softmax.empty(r);
    inverse_sum[r] = empty ? Accum(0) : Accum(1) / softmax.row_sum[r];
    store_from_double(
        problem.lse.data, problem.lse.dtype,
        static_cast<std::size_t>(lse_offset(problem.lse, batch, head, first_query + r)),
        empty ? std::numeric_limits<double>::infinity()
              : static_cast<double>(softmax.row_max[r] + std::log(softmax.row_sum[r])));
  }
  store_rows<Element>(accumulator, inverse_sum.data(), problem.out, batch, first_query, head);
}

}  // namespace

void cpu_forward(const ForwardProblem& problem) {
  const AttentionShape& shape = problem.shape;
  const std::int64_t query_blocks = (shape.seqlen_q + kQueryTile - 1) / kQueryTile;
  dispatch_dtype(problem.q.dtype, [&]<typename Element, typename Accum>() {
    parallel_for(shape.batch * shape.heads_q * query_blocks, problem.num_threads,
                 [&](std::int64_t task) {
                   const std::int64_t block = task % query_blocks;
                   const std::int64_t head = (task / query_blocks) % shape.heads_q;
                   const std::int64_t batch = task / (query_blocks * shape.heads_q);
                   forward_query_block<Element, Accum>(problem, batch, head, block * kQueryTile);
                 });
  });
}

}  // namespace flashattn
