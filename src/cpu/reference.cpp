// Naive attention in double, written for obviousness rather than speed: for every query row it
// builds the full row of scores and probabilities (the row of S and P), then contracts it.
#include "cpu/reference.h"

#include <cmath>
#include <limits>

#include "cpu/parallel.h"
#include "cpu/strided.h"

namespace flashattn {
namespace {

constexpr double kInfinity = std::numeric_limits<double>::infinity();

// The arithmetic being emulated. float64: exact double everywhere (the oracle). Otherwise
// stored intermediates (matmul results, probabilities, gradients) are rounded to `storage` and
// sums run in float32, as PyTorch's low-precision matmuls and reductions do.
struct Precision {
  DType storage;
  double operator()(double value) const { return round_to_dtype(value, storage); }
  double add(double sum, double term) const {
    if (storage == DType::float64) return sum + term;
    return static_cast<float>(static_cast<float>(sum) + static_cast<float>(term));
  }
};

std::vector<double> load_row(const TensorView& view, std::int64_t batch, std::int64_t position,
                             std::int64_t head, std::int64_t length) {
  std::vector<double> row(static_cast<std::size_t>(length));
  const std::int64_t base = row_offset(view, batch, position, head);
  for (std::int64_t d = 0; d < length; ++d) {
    row[static_cast<std::size_t>(d)] =
        load_as_double(view.data, view.dtype, static_cast<std::size_t>(base + d));
  }
  return row;
}

// Keys and values of one (batch, kv head), as [Sk][D] doubles.
struct KeyValueHead {
  std::vector<std::vector<double>> keys;
  std::vector<std::vector<double>> values;

  KeyValueHead(const TensorView& k, const TensorView& v, const AttentionShape& shape,
               std::int64_t batch, std::int64_t kv_head) {
    for (std::int64_t j = 0; j < shape.seqlen_k; ++j) {
      keys.push_back(load_row(k, batch, j, kv_head, shape.head_dim));
      values.push_back(load_row(v, batch, j, kv_head, shape.head_dim));
    }
  }
};

double dot(const std::vector<double>& a, const std::vector<double>& b, Precision precision) {
  double sum = 0.0;
  for (std::size_t d = 0; d < a.size(); ++d)
    sum = precision.add(sum, a[d] * b[d]);
  return sum;
}

// One query row of S and P with what the backward needs to differentiate them.
struct ScoreRow {
  std::vector<double> scaled_query;   // scale * q_i (rounded)
  std::vector<double> tanh_of_score;  // softcap only: tanh(raw / softcap) per key
  std::vector<double> probability;    // P_ij; 0 for masked keys
  double lse = kInfinity;             // +inf when no key is visible
  bool empty() const { return lse == kInfinity; }
};

ScoreRow score_row(const ScoreParams& score, const KeyValueHead& head,
                   const std::vector<double>& query, std::int64_t query_index, Precision round) {
  const std::size_t seqlen_k = head.keys.size();
  ScoreRow row;
  for (double element : query)
    row.scaled_query.push_back(round(element * score.scale));
  row.tanh_of_score.assign(seqlen_k, 0.0);
  std::vector<double> scores(seqlen_k, -kInfinity);
  double row_max = -kInfinity;
  for (std::size_t j = 0; j < seqlen_k; ++j) {
    if (!score.window.visible(query_index, static_cast<std::int64_t>(j))) continue;
    double value = round(dot(row.scaled_query, head.keys[j], round));
    if (score.softcap > 0) {
      row.tanh_of_score[j] = round(std::tanh(round(value / score.softcap)));
      value = round(score.softcap * row.tanh_of_score[j]);
    }
    scores[j] = value;
    row_max = std::max(row_max, value);
  }
  row.probability.assign(seqlen_k, 0.0);
  if (row_max == -kInfinity) return row;
  double sum = 0.0;
  for (double value : scores)
    sum = round.add(sum, std::exp(value - row_max));  // masked: +0
  for (std::size_t j = 0; j < seqlen_k; ++j) {
    row.probability[j] = round(std::exp(scores[j] - row_max) / sum);
  }
  row.lse = row_max + std::log(sum);
  return row;
}

// out_row = P_i V, rounded.
void contract_values(const ScoreRow& row, const KeyValueHead& head, std::size_t head_dim,
                     Precision round, double* out_row) {
  for (std::size_t d = 0; d < head_dim; ++d) {
    double sum = 0.0;
    for (std::size_t j = 0; j < head.values.size(); ++j) {
      sum = round.add(sum, row.probability[j] * head.values[j][d]);
    }
    out_row[d] = round(sum);
  }
}

std::size_t index4(std::int64_t i0, std::int64_t i1, std::int64_t i2, std::int64_t i3,
                   std::int64_t n1, std::int64_t n2, std::int64_t n3) {
  return static_cast<std::size_t>(((i0 * n1 + i1) * n2 + i2) * n3 + i3);
}

}  // namespace

double reference_forward_row(const ForwardProblem& problem, std::int64_t batch, std::int64_t head,
                             std::int64_t query, double* out_row, DType intermediate) {
  const AttentionShape& shape = problem.shape;
  const KeyValueHead kv(problem.k, problem.v, shape, batch, head / shape.group_size());
  const Precision round{intermediate};
  const ScoreRow row = score_row(
      problem.score, kv, load_row(problem.q, batch, query, head, shape.head_dim), query, round);
  contract_values(row, kv, static_cast<std::size_t>(shape.head_dim), round, out_row);
  return row.lse;
}

ReferenceForward reference_forward_values(const ForwardProblem& problem, DType intermediate) {
  const AttentionShape& s = problem.shape;
  ReferenceForward result;
  result.out.resize(static_cast<std::size_t>(s.batch * s.seqlen_q * s.heads_q * s.head_dim));
  result.lse.resize(static_cast<std::size_t>(s.batch * s.heads_q * s.seqlen_q));
  const Precision round{intermediate};
  parallel_for(s.batch * s.heads_q, problem.num_threads, [&](std::int64_t task) {
    const std::int64_t batch = task / s.heads_q;
    const std::int64_t head = task % s.heads_q;
    const KeyValueHead kv(problem.k, problem.v, s, batch, head / s.group_size());
    for (std::int64_t i = 0; i < s.seqlen_q; ++i) {
      const ScoreRow row =
          score_row(problem.score, kv, load_row(problem.q, batch, i, head, s.head_dim), i, round);
      contract_values(row, kv, static_cast<std::size_t>(s.head_dim), round,
                      &result.out[index4(batch, i, head, 0, s.seqlen_q, s.heads_q, s.head_dim)]);
      result.lse[index4(0, batch, head, i, s.batch, s.heads_q, s.seqlen_q)] = row.lse;
    }
  });
  return result;
}

ReferenceBackward reference_backward_values(const BackwardProblem& problem, DType intermediate) {
  const AttentionShape& s = problem.shape;
  const std::int64_t head_dim = s.head_dim;
  ReferenceBackward result;
  result.dq.assign(static_cast<std::size_t>(s.batch * s.seqlen_q * s.heads_q * head_dim), 0.0);
  result.dk.assign(static_cast<std::size_t>(s.batch * s.seqlen_k * s.heads_kv * head_dim), 0.0);
  result.dv.assign(result.dk.size(), 0.0);
  const Precision round{intermediate};
  const ScoreParams& score = problem.score;
  // Each task owns one (batch, kv head): its dK/dV rows and the dQ rows of its query heads.
  parallel_for(s.batch * s.heads_kv, problem.num_threads, [&](std::int64_t task) {
    const std::int64_t batch = task / s.heads_kv;
    const std::int64_t kv_head = task % s.heads_kv;
    const KeyValueHead kv(problem.k, problem.v, s, batch, kv_head);
    const auto seqlen_k = static_cast<std::size_t>(s.seqlen_k);
    std::vector<std::vector<double>> dk(seqlen_k, std::vector<double>(head_dim, 0.0));
    std::vector<std::vector<double>> dv = dk;
    for (std::int64_t head = kv_head * s.group_size(); head < (kv_head + 1) * s.group_size();
         ++head) {
      for (std::int64_t i = 0; i < s.seqlen_q; ++i) {
        const ScoreRow row =
            score_row(score, kv, load_row(problem.q, batch, i, head, head_dim), i, round);
        if (row.empty()) continue;  // no visible key: every gradient through this row is 0
        const std::vector<double> dout = load_row(problem.dout, batch, i, head, head_dim);
        // dP_ij = dO_i . v_j ; softmax backward dS_ij = P_ij (dP_ij - sum_k P_ik dP_ik).
        std::vector<double> dprob(seqlen_k, 0.0);
        double weighted_sum = 0.0;
        for (std::size_t j = 0; j < seqlen_k; ++j) {
          if (row.probability[j] == 0.0) continue;
          dprob[j] = round(dot(dout, kv.values[j], round));
          weighted_sum = round.add(weighted_sum, row.probability[j] * dprob[j]);
        }
        double* dq = &result.dq[index4(batch, i, head, 0, s.seqlen_q, s.heads_q, head_dim)];
        for (std::size_t j = 0; j < seqlen_k; ++j) {
          if (row.probability[j] == 0.0) continue;
          double dscore = round(row.probability[j] * (dprob[j] - weighted_sum));
          if (score.softcap > 0) {
            const double t = row.tanh_of_score[j];
            dscore = round(dscore * (1.0 - t * t));
          }
          for (std::int64_t d = 0; d < head_dim; ++d) {
            dq[d] = round.add(dq[d], dscore * kv.keys[j][d]);
            dk[j][d] = round.add(dk[j][d], dscore * row.scaled_query[d]);
            dv[j][d] = round.add(dv[j][d], row.probability[j] * dout[d]);
          }
        }
        for (std::int64_t d = 0; d < head_dim; ++d)
          dq[d] = round(score.scale * round(dq[d]));
      }
    }
    for (std::size_t j = 0; j < seqlen_k; ++j) {
      for (std::int64_t d = 0; d < head_dim; ++d) {
        const std::size_t at = index4(batch, static_cast<std::int64_t>(j), kv_head, d, s.seqlen_k,
                                      s.heads_kv, head_dim);
        result.dk[at] = round(dk[j][d]);
        result.dv[at] = round(dv[j][d]);
      }
    }
  });
  return result;
}

namespace {

// Copies contiguous [B, S, H, D] doubles into a strided view of any dtype.
void store_rows(const std::vector<double>& values, const TensorView& view) {
  const std::int64_t seqlen = view.size(1), heads = view.size(2), head_dim = view.size(3);
  for (std::int64_t b = 0; b < view.size(0); ++b) {
    for (std::int64_t i = 0; i < seqlen; ++i) {
      for (std::int64_t h = 0; h < heads; ++h) {
        const std::int64_t base = row_offset(view, b, i, h);
        for (std::int64_t d = 0; d < head_dim; ++d) {
          store_from_double(view.data, view.dtype, static_cast<std::size_t>(base + d),
                            values[index4(b, i, h, d, seqlen, heads, head_dim)]);
        }
      }
    }
  }
}

}  // namespace

void reference_forward(const ForwardProblem& problem) {
  const ReferenceForward result = reference_forward_values(problem);
  store_rows(result.out, problem.out);
  const AttentionShape& s = problem.shape;
  for (std::int64_t b = 0; b < s.batch; ++b) {
    for (std::int64_t h = 0; h < s.heads_q; ++h) {
      for (std::int64_t i = 0; i < s.seqlen_q; ++i) {
        store_from_double(problem.lse.data, problem.lse.dtype,
                          static_cast<std::size_t>(lse_offset(problem.lse, b, h, i)),
                          result.lse[index4(0, b, h, i, s.batch, s.heads_q, s.seqlen_q)]);
      }
    }
  }
}

void reference_backward(const BackwardProblem& problem) {
  const ReferenceBackward result = reference_backward_values(problem);
  store_rows(result.dq, problem.dq);
  store_rows(result.dk, problem.dk);
  store_rows(result.dv, problem.dv);
}

}  // namespace flashattn
