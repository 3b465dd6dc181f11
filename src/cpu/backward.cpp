// Recomputation backward in two race-free passes (so it is deterministic without atomics):
//   1. per (batch, kv head, key block): dV = sum P^T dO, dK = scale * sum dS^T Q over the
//      query heads of the group;
//   2. per (batch, head, query block): dQ = scale * sum dS K.
// Both recompute P = exp(S - LSE) and dS = P * (dO V^T - delta) from the saved LSE, where
// delta = rowsum(dO * O). Memory stays O(block * head_dim) per thread plus delta [B, Hq, Sq].
#include <algorithm>
#include <cmath>

#include "cpu/backend.h"
#include "cpu/parallel.h"
#include "cpu/tile.h"

namespace flashattn {
namespace {

template <typename Accum>
struct QueryBlock {
  std::int64_t first = 0;
  Tile<Accum> queries, dout;
  std::vector<Accum> lse, delta;
};

template <typename Accum>
struct KeyBlock {
  std::int64_t first = 0;
  Tile<Accum> keys_t, values_t;
};

template <typename Element, typename Accum>
void load_query_block(const BackwardProblem& problem, const std::vector<Accum>& delta,
                      std::int64_t batch, std::int64_t head, std::int64_t first, std::int64_t count,
                      QueryBlock<Accum>& block) {
  block.first = first;
  load_rows<Element>(problem.q, batch, first, count, head, block.queries);
  load_rows<Element>(problem.dout, batch, first, count, head, block.dout);
  block.lse.resize(static_cast<std::size_t>(count));
  block.delta.resize(static_cast<std::size_t>(count));
  const auto* lse = static_cast<const float*>(problem.lse.data);
  const AttentionShape& shape = problem.shape;
  for (std::int64_t r = 0; r < count; ++r) {
    block.lse[r] = lse[lse_offset(problem.lse, batch, head, first + r)];
    block.delta[r] = delta[static_cast<std::size_t>(
        (batch * shape.heads_q + head) * shape.seqlen_q + first + r)];
  }
}

template <typename Element, typename Accum>
void load_key_block(const BackwardProblem& problem, std::int64_t batch, std::int64_t kv_head,
                    std::int64_t first, std::int64_t count, KeyBlock<Accum>& block) {
  block.first = first;
  load_rows_transposed<Element>(problem.k, batch, first, count, kv_head, block.keys_t);
  load_rows_transposed<Element>(problem.v, batch, first, count, kv_head, block.values_t);
}

// P = exp(S - LSE) and dS = P * (dO V^T - delta) * dsoftcap, for one query block x key block.
// dS is with respect to the raw score q.k * scale; callers multiply by `scale` for dQ and dK.
template <typename Accum>
struct ScoreGradients {
  Tile<Accum> probabilities, dscores, softcap_slope;

  void compute(const ScoreParams& score, const QueryBlock<Accum>& query,
               const KeyBlock<Accum>& key) {
    const bool softcap = score.softcap > 0;
    compute_scores(score, query.queries, key.keys_t, query.first, key.first, probabilities,
                   softcap ? &softcap_slope : nullptr);
    dscores.reset(probabilities.rows, probabilities.cols);
    matmul_add(query.dout, key.values_t, dscores);  // dP
    for (std::int64_t r = 0; r < probabilities.rows; ++r) {
      Accum* p = probabilities.row(r);
      Accum* ds = dscores.row(r);
      for (std::int64_t c = 0; c < probabilities.cols; ++c) {
        p[c] = std::exp(p[c] - query.lse[r]);  // 0 where masked or where the row is empty
        ds[c] = p[c] * (ds[c] - query.delta[r]);
      }
      if (softcap) {
        const Accum* slope = softcap_slope.row(r);
        for (std::int64_t c = 0; c < probabilities.cols; ++c)
          ds[c] *= slope[c];
      }
    }
  }
};

// delta[b, h, i] = sum_d dO * O: the softmax-backward row term.
template <typename Element, typename Accum>
std::vector<Accum> compute_delta(const BackwardProblem& problem) {
  const AttentionShape& shape = problem.shape;
  std::vector<Accum> delta(static_cast<std::size_t>(shape.batch * shape.heads_q * shape.seqlen_q));
  parallel_for(shape.batch * shape.heads_q, problem.num_threads, [&](std::int64_t task) {
    const std::int64_t batch = task / shape.heads_q;
    const std::int64_t head = task % shape.heads_q;
    const auto* dout = static_cast<const Element*>(problem.dout.data);
    const auto* out = static_cast<const Element*>(problem.out.data);
    for (std::int64_t i = 0; i < shape.seqlen_q; ++i) {
      const Element* dout_row = dout + row_offset(problem.dout, batch, i, head);
      const Element* out_row = out + row_offset(problem.out, batch, i, head);
      Accum sum = 0;
      for (std::int64_t d = 0; d < shape.head_dim; ++d) {
        sum += static_cast<Accum>(to_float(dout_row[d])) * static_cast<Accum>(to_float(out_row[d]));
      }
      delta[static_cast<std::size_t>(task * shape.seqlen_q + i)] = sum;
    }
  });
  return delta;
}

// Query rows that can see some key of [key_begin, key_end): the window bounds grow with the
// query index, so the rows form one interval.
std::pair<std::int64_t, std::int64_t> visible_queries(const MaskWindow& window,
                                                      std::int64_t seqlen_q, std::int64_t key_begin,
                                                      std::int64_t key_end) {
  std::int64_t begin = 0;
  std::int64_t end = seqlen_q;
  if (window.right >= 0)
    begin = std::max<std::int64_t>(0, key_begin - window.diagonal_offset - window.right);
  if (window.left >= 0)
    end = std::min(seqlen_q, key_end - 1 - window.diagonal_offset + window.left + 1);
  return {begin, std::max(begin, end)};
}

template <typename Element, typename Accum>
void key_value_gradients(const BackwardProblem& problem, const std::vector<Accum>& delta,
                         std::int64_t batch, std::int64_t kv_head, std::int64_t first_key) {
  const AttentionShape& shape = problem.shape;
  const std::int64_t cols = std::min(kKeyTile, shape.seqlen_k - first_key);
  KeyBlock<Accum> key;
  load_key_block<Element>(problem, batch, kv_head, first_key, cols, key);
  Tile<Accum> dk, dv;
  dk.reset(cols, shape.head_dim);
  dv.reset(cols, shape.head_dim);
  QueryBlock<Accum> query;
  ScoreGradients<Accum> gradients;
  const auto [query_begin, query_end] =
      visible_queries(problem.score.window, shape.seqlen_q, first_key, first_key + cols);
  for (std::int64_t head = kv_head * shape.group_size(); head < (kv_head + 1) * shape.group_size();
       ++head) {
    for (std::int64_t first = query_begin; first < query_end; first += kQueryTile) {
      const std::int64_t rows = std::min(kQueryTile, query_end - first);
      load_query_block<Element>(problem, delta, batch, head, first, rows, query);
      gradients.compute(problem.score, query, key);
      matmul_transposed_add(gradients.probabilities, query.dout, dv);
      matmul_transposed_add(gradients.dscores, query.queries, dk);
    }
  }
  const auto scale = static_cast<Accum>(problem.score.scale);
  std::vector<Accum> dk_scale(static_cast<std::size_t>(cols), scale);
  store_rows<Element>(dk, dk_scale.data(), problem.dk, batch, first_key, kv_head);
  store_rows<Element>(dv, static_cast<const Accum*>(nullptr), problem.dv, batch, first_key,
                      kv_head);
}

template <typename Element, typename Accum>
void query_gradients(const BackwardProblem& problem, const std::vector<Accum>& delta,
                     std::int64_t batch, std::int64_t head, std::int64_t first_query) {
  const AttentionShape& shape = problem.shape;
  const std::int64_t rows = std::min(kQueryTile, shape.seqlen_q - first_query);
  const std::int64_t kv_head = head / shape.group_size();
  QueryBlock<Accum> query;
  load_query_block<Element>(problem, delta, batch, head, first_query, rows, query);
  Tile<Accum> dq, keys;
  dq.reset(rows, shape.head_dim);
  KeyBlock<Accum> key;
  ScoreGradients<Accum> gradients;
  const auto [key_begin, key_end] = visible_keys(problem.score.window, first_query, rows);
  for (std::int64_t first = key_begin; first < key_end; first += kKeyTile) {
    const std::int64_t cols = std::min(kKeyTile, key_end - first);
    load_key_block<Element>(problem, batch, kv_head, first, cols, key);
    load_rows<Element>(problem.k, batch, first, cols, kv_head, keys);
    gradients.compute(problem.score, query, key);
    matmul_add(gradients.dscores, keys, dq);
  }
  const auto scale = static_cast<Accum>(problem.score.scale);
  std::vector<Accum> dq_scale(static_cast<std::size_t>(rows), scale);
  store_rows<Element>(dq, dq_scale.data(), problem.dq, batch, first_query, head);
}

}  // namespace

void cpu_backward(const BackwardProblem& problem) {
  const AttentionShape& shape = problem.shape;
  const std::int64_t key_blocks = (shape.seqlen_k + kKeyTile - 1) / kKeyTile;
  const std::int64_t query_blocks = (shape.seqlen_q + kQueryTile - 1) / kQueryTile;
  dispatch_dtype(problem.q.dtype, [&]<typename Element, typename Accum>() {
    const std::vector<Accum> delta = compute_delta<Element, Accum>(problem);
    parallel_for(
        shape.batch * shape.heads_kv * key_blocks, problem.num_threads, [&](std::int64_t task) {
          const std::int64_t block = task % key_blocks;
          const std::int64_t kv_head = (task / key_blocks) % shape.heads_kv;
          const std::int64_t batch = task / (key_blocks * shape.heads_kv);
          key_value_gradients<Element, Accum>(problem, delta, batch, kv_head, block * kKeyTile);
        });
    parallel_for(shape.batch * shape.heads_q * query_blocks, problem.num_threads,
                 [&](std::int64_t task) {
                   const std::int64_t block = task % query_blocks;
                   const std::int64_t head = (task / query_blocks) % shape.heads_q;
                   const std::int64_t batch = task / (query_blocks * shape.heads_q);
                   query_gradients<Element, Accum>(problem, delta, batch, head, block * kQueryTile);
                 });
  });
}

}  // namespace flashattn
