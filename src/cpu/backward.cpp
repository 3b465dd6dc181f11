// Recomputation backward: three race-free passes, so it is deterministic without atomics.
//   0. per (batch, head, query block): the row statistics m, 1/l and delta = sum_j P_ij dP_ij,
//      checked against the saved LSE: where they disagree beyond its rounding, the saved LSE
//      and rowsum(dO * O) are used instead (the caller's out and LSE cover more keys than this
//      call sees, as in ring attention, whose partial calls all use the merged statistics);
//   1. per (batch, kv head, key block): dV = sum P^T dO and dK = scale * sum dS^T Q over the
//      query heads of the group;
//   2. per (batch, head, query block): dQ = scale * sum dS K;
// with P = exp(S - m) / l and dS = P * (dP - delta), dP = dO V^T.
//
// Pass 0 costs one more S and dP per tile than reading the saved LSE and rowsum(dO * O), and
// buys accuracy: exp(S - LSE) loses the bits the float32 LSE rounded off (at |LSE| ~ 1e4 that
// is 1e-3 of every P), and rowsum(dO * O) uses the output after rounding to its dtype, which
// dominates dP - delta when a row sees few keys. Memory: O(block * head_dim) per thread plus
// three values per query row.
#include <algorithm>
#include <cmath>
#include <limits>

#include "cpu/backend.h"
#include "cpu/online_softmax.h"
#include "cpu/parallel.h"
#include "cpu/tile.h"

namespace flashattn {
namespace {

// How far a recomputed LSE may be from the saved one and still be the same statistic: a few
// roundings of the saved LSE's dtype at its magnitude.
double lse_rounding(DType dtype, double lse) {
  const double epsilon = dtype == DType::float64 ? std::numeric_limits<double>::epsilon()
                                                 : std::numeric_limits<float>::epsilon();
  return 8 * epsilon * std::max(1.0, std::abs(lse));
}

// Per query row of the problem, [B, Hq, Sq] flattened.
template <typename Accum>
struct RowStatistics {
  std::vector<Accum> row_max, inverse_sum, delta;

  explicit RowStatistics(const AttentionShape& shape)
      : row_max(static_cast<std::size_t>(shape.batch * shape.heads_q * shape.seqlen_q)),
        inverse_sum(row_max.size()),
        delta(row_max.size()) {}

  static std::size_t index(const AttentionShape& shape, std::int64_t batch, std::int64_t head,
                           std::int64_t query) {
    return static_cast<std::size_t>((batch * shape.heads_q + head) * shape.seqlen_q + query);
  }
};

template <typename Accum>
struct QueryBlock {
  std::int64_t first = 0;
  Tile<Accum> queries, dout;
  std::vector<Accum> row_max, inverse_sum, delta;
};

template <typename Accum>
struct KeyBlock {
  std::int64_t first = 0;
  Tile<Accum> keys_t, values_t;
};

template <typename Element, typename Accum>
void load_query_block(const BackwardProblem& problem, std::int64_t batch, std::int64_t head,
                      std::int64_t first, std::int64_t count, QueryBlock<Accum>& block) {
  block.first = first;
  load_rows<Element>(problem.q, batch, first, count, head, block.queries);
  load_rows<Element>(problem.dout, batch, first, count, head, block.dout);
}

template <typename Accum>
void load_statistics(const AttentionShape& shape, const RowStatistics<Accum>& statistics,
                     std::int64_t batch, std::int64_t head, QueryBlock<Accum>& block) {
  const std::size_t begin = RowStatistics<Accum>::index(shape, batch, head, block.first);
  const std::size_t end = begin + static_cast<std::size_t>(block.queries.rows);
  block.row_max.assign(statistics.row_max.begin() + begin, statistics.row_max.begin() + end);
  block.inverse_sum.assign(statistics.inverse_sum.begin() + begin,
                           statistics.inverse_sum.begin() + end);
  block.delta.assign(statistics.delta.begin() + begin, statistics.delta.begin() + end);
}

template <typename Element, typename Accum>
void load_key_block(const BackwardProblem& problem, std::int64_t batch, std::int64_t kv_head,
                    std::int64_t first, std::int64_t count, KeyBlock<Accum>& block) {
  block.first = first;
  load_rows_transposed<Element>(problem.k, batch, first, count, kv_head, block.keys_t);
  load_rows_transposed<Element>(problem.v, batch, first, count, kv_head, block.values_t);
}

// P and dS (with respect to the raw score, softcap included) for one query x key block;
// callers multiply by `scale` for dQ and dK.
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
        p[c] = std::exp(p[c] - query.row_max[r]) * query.inverse_sum[r];  // 0 where masked
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

// Pass 0 for one query block: an online softmax that also carries sum_j exp(s - m) dP_ij.
template <typename Element, typename Accum>
void row_statistics(const BackwardProblem& problem, std::int64_t batch, std::int64_t head,
                    std::int64_t first_query, RowStatistics<Accum>& statistics) {
  const AttentionShape& shape = problem.shape;
  const std::int64_t rows = std::min(kQueryTile, shape.seqlen_q - first_query);
  QueryBlock<Accum> query;
  load_query_block<Element>(problem, batch, head, first_query, rows, query);
  KeyBlock<Accum> key;
  Tile<Accum> scores, dprob;
  OnlineSoftmax<Accum> softmax;
  softmax.reset(rows);
  std::vector<Accum> weighted(static_cast<std::size_t>(rows), Accum(0));
  const auto [key_begin, key_end] = visible_keys(problem.score.window, first_query, rows);
  for (std::int64_t first = key_begin; first < key_end; first += kKeyTile) {
    load_key_block<Element>(problem, batch, head / shape.group_size(), first,
                            std::min(kKeyTile, key_end - first), key);
    compute_scores(problem.score, query.queries, key.keys_t, first_query, first, scores);
    dprob.reset(rows, scores.cols);
    matmul_add(query.dout, key.values_t, dprob);
    softmax.absorb(scores);
    for (std::int64_t r = 0; r < rows; ++r) {
      Accum sum = weighted[r] * softmax.correction[r];
      for (std::int64_t c = 0; c < scores.cols; ++c)
        sum += scores.row(r)[c] * dprob.row(r)[c];
      weighted[r] = sum;
    }
  }
  Tile<Accum> out;  // loaded only if some row's saved statistics belong to a larger problem
  bool out_loaded = false;
  for (std::int64_t r = 0; r < rows; ++r) {
    const std::size_t at = RowStatistics<Accum>::index(shape, batch, head, first_query + r);
    const double saved = load_as_double(
        problem.lse.data, problem.lse.dtype,
        static_cast<std::size_t>(lse_offset(problem.lse, batch, head, first_query + r)));
    const bool empty = softmax.empty(r) || std::isinf(saved);
    if (empty) {  // P = 0 everywhere: m = 0 keeps exp(s - m) finite
      statistics.row_max[at] = Accum(0);
      statistics.inverse_sum[at] = Accum(0);
      statistics.delta[at] = Accum(0);
      continue;
    }
    const double recomputed =
        static_cast<double>(softmax.row_max[r]) + std::log(static_cast<double>(softmax.row_sum[r]));
    if (std::abs(recomputed - saved) <= lse_rounding(problem.lse.dtype, saved)) {
      statistics.row_max[at] = softmax.row_max[r];
      statistics.inverse_sum[at] = Accum(1) / softmax.row_sum[r];
      statistics.delta[at] = weighted[r] / softmax.row_sum[r];
    } else {  // the saved statistics belong to a larger problem (e.g. a ring attention merge)
      if (!out_loaded) {
        load_rows<Element>(problem.out, batch, first_query, rows, head, out);
        out_loaded = true;
      }
      Accum delta = 0;
      for (std::int64_t c = 0; c < shape.head_dim; ++c)
        delta += query.dout.row(r)[c] * out.row(r)[c];
      statistics.row_max[at] = static_cast<Accum>(saved);
      statistics.inverse_sum[at] = Accum(1);
      statistics.delta[at] = delta;
    }
  }
}

// Query rows that can see some key of [key_begin, key_end): the window bounds grow with the
// query index, so the rows form one interval.
std::pair<std::int64_t, std::int64_t> visible_queries(const MaskWindow& window,
                                                      std::int64_t seqlen_q, std::int64_t key_begin,
                                                      std::int64_t key_end) {
  std::int64_t begin = 0;
  std::int64_t end = seqlen_q;
  if (window.right >= 0) {
    begin = std::max<std::int64_t>(0, key_begin - window.diagonal_offset - window.right);
  }
  if (window.left >= 0) {
    end = std::min(seqlen_q, key_end - 1 - window.diagonal_offset + window.left + 1);
  }
  return {begin, std::max(begin, end)};
}

template <typename Element, typename Accum>
void key_value_gradients(const BackwardProblem& problem, const RowStatistics<Accum>& statistics,
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
      load_query_block<Element>(problem, batch, head, first, rows, query);
      load_statistics(shape, statistics, batch, head, query);
      gradients.compute(problem.score, query, key);
      matmul_transposed_add(gradients.probabilities, query.dout, dv);
      matmul_transposed_add(gradients.dscores, query.queries, dk);
    }
  }
  const std::vector<Accum> dk_scale(static_cast<std::size_t>(cols),
                                    static_cast<Accum>(problem.score.scale));
  store_rows<Element>(dk, dk_scale.data(), problem.dk, batch, first_key, kv_head);
  store_rows<Element>(dv, static_cast<const Accum*>(nullptr), problem.dv, batch, first_key,
                      kv_head);
}

template <typename Element, typename Accum>
void query_gradients(const BackwardProblem& problem, const RowStatistics<Accum>& statistics,
                     std::int64_t batch, std::int64_t head, std::int64_t first_query) {
  const AttentionShape& shape = problem.shape;
  const std::int64_t rows = std::min(kQueryTile, shape.seqlen_q - first_query);
  const std::int64_t kv_head = head / shape.group_size();
  QueryBlock<Accum> query;
  load_query_block<Element>(problem, batch, head, first_query, rows, query);
  load_statistics(shape, statistics, batch, head, query);
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
  const std::vector<Accum> dq_scale(static_cast<std::size_t>(rows),
                                    static_cast<Accum>(problem.score.scale));
  store_rows<Element>(dq, dq_scale.data(), problem.dq, batch, first_query, head);
}

// Runs body(batch, head, first_query) for every query block of the problem, in parallel.
template <typename Body>
void for_each_query_block(const BackwardProblem& problem, const Body& body) {
  const AttentionShape& shape = problem.shape;
  const std::int64_t blocks = (shape.seqlen_q + kQueryTile - 1) / kQueryTile;
  parallel_for(shape.batch * shape.heads_q * blocks, problem.num_threads, [&](std::int64_t task) {
    body(task / (blocks * shape.heads_q), (task / blocks) % shape.heads_q,
         (task % blocks) * kQueryTile);
  });
}

}  // namespace

void cpu_backward(const BackwardProblem& problem) {
  const AttentionShape& shape = problem.shape;
  const std::int64_t key_blocks = (shape.seqlen_k + kKeyTile - 1) / kKeyTile;
  dispatch_dtype(problem.q.dtype, [&]<typename Element, typename Accum>() {
    RowStatistics<Accum> statistics(shape);
    for_each_query_block(problem, [&](std::int64_t batch, std::int64_t head, std::int64_t first) {
      row_statistics<Element>(problem, batch, head, first, statistics);
    });
    parallel_for(
        shape.batch * shape.heads_kv * key_blocks, problem.num_threads, [&](std::int64_t task) {
          key_value_gradients<Element>(problem, statistics, task / (key_blocks * shape.heads_kv),
                                       (task / key_blocks) % shape.heads_kv,
                                       (task % key_blocks) * kKeyTile);
        });
    for_each_query_block(problem, [&](std::int64_t batch, std::int64_t head, std::int64_t first) {
      query_gradients<Element>(problem, statistics, batch, head, first);
    });
  });
}

}  // namespace flashattn
