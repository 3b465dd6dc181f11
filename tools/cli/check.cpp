#include "check.h"

#include <algorithm>
#include <cstdio>
#include <random>
#include <set>
#include <span>

#include "api/validate.h"
#include "cpu/parallel.h"
#include "cpu/reference.h"
#include "cpu/strided.h"

namespace flashattn::cli {
namespace {

// Multiply-adds the oracle may spend on one pass (it makes two: fp64, and naive in the input
// dtype): about half a second on 2 cores. Larger problems are sampled instead.
constexpr double kOracleBudget = 1e9;
// However long the rows, at least this many are compared.
constexpr std::int64_t kMinSampledRows = 16;

// Values compared under one name (out, lse, dq, ...), accumulated over rows or slices.
class Comparison {
 public:
  void add(std::string_view name, std::span<const double> ours, std::span<const double> reference,
           std::span<const double> naive) {
    auto found = std::find_if(samples_.begin(), samples_.end(),
                              [&](const Samples& samples) { return samples.name == name; });
    if (found == samples_.end()) {
      samples_.emplace_back().name = name;
      found = samples_.end() - 1;
    }
    Samples& samples = *found;
    samples.ours.insert(samples.ours.end(), ours.begin(), ours.end());
    samples.reference.insert(samples.reference.end(), reference.begin(), reference.end());
    samples.naive.insert(samples.naive.end(), naive.begin(), naive.end());
  }

  std::vector<QuantityCheck> results(double rtol) const {
    std::vector<QuantityCheck> checks;
    for (const Samples& samples : samples_) {
      checks.push_back({samples.name, testing::check_tolerance(samples.ours, samples.reference,
                                                               samples.naive, rtol)});
    }
    return checks;
  }

 private:
  struct Samples {
    std::string_view name;
    std::vector<double> ours, reference, naive;
  };
  std::vector<Samples> samples_;
};

std::string scientific(double value) {
  char text[32];
  std::snprintf(text, sizeof text, "%.2g", value);
  return text;
}

// `count` distinct indices of [0, total), sorted, always including the first and the last.
std::vector<std::int64_t> sample_indices(std::int64_t total, std::int64_t count,
                                         std::uint64_t seed) {
  std::set<std::int64_t> chosen{0, total - 1};
  std::mt19937_64 generator(seed);
  std::uniform_int_distribution<std::int64_t> pick(0, total - 1);
  while (static_cast<std::int64_t>(chosen.size()) < std::min(count, total)) {
    chosen.insert(pick(generator));
  }
  return {chosen.begin(), chosen.end()};
}

// Forward rows are indexed (batch, head, query), query fastest.
std::string check_forward(const ForwardProblem& problem, DType dtype, std::uint64_t seed,
                          Comparison& comparison) {
  const AttentionShape& s = problem.shape;
  const std::int64_t rows = s.batch * s.heads_q * s.seqlen_q;
  const double row_cost = 2.0 * static_cast<double>(s.seqlen_k * s.head_dim);  // q.k and p.v
  if (static_cast<double>(rows) * row_cost <= kOracleBudget) {
    const ReferenceForward reference = reference_forward_values(problem);
    const ReferenceForward naive = reference_forward_values(problem, dtype);
    comparison.add("out", gather(problem.out), reference.out, naive.out);
    comparison.add("lse", gather(problem.lse), reference.lse, naive.lse);
    return "all " + std::to_string(rows) + " rows";
  }
  const std::vector<std::int64_t> picked = sample_indices(
      rows, std::max(kMinSampledRows, static_cast<std::int64_t>(kOracleBudget / row_cost)), seed);
  const std::size_t count = picked.size(), head_dim = static_cast<std::size_t>(s.head_dim);
  std::vector<double> ours_out(count * head_dim), reference_out(count * head_dim),
      naive_out(count * head_dim), ours_lse(count), reference_lse(count), naive_lse(count);
  parallel_for(static_cast<std::int64_t>(count), problem.num_threads, [&](std::int64_t task) {
    const auto sample = static_cast<std::size_t>(task);
    const std::int64_t row = picked[sample];
    const std::int64_t query = row % s.seqlen_q, head = row / s.seqlen_q % s.heads_q,
                       batch = row / (s.seqlen_q * s.heads_q);
    double* reference_row = &reference_out[sample * head_dim];
    reference_lse[sample] = reference_forward_row(problem, batch, head, query, reference_row);
    naive_lse[sample] =
        reference_forward_row(problem, batch, head, query, &naive_out[sample * head_dim], dtype);
    const std::int64_t base = row_offset(problem.out, batch, query, head);
    for (std::size_t d = 0; d < head_dim; ++d) {
      ours_out[sample * head_dim + d] =
          load_as_double(problem.out.data, dtype, static_cast<std::size_t>(base) + d);
    }
    ours_lse[sample] =
        load_as_double(problem.lse.data, DType::float32,
                       static_cast<std::size_t>(lse_offset(problem.lse, batch, head, query)));
  });
  comparison.add("out", ours_out, reference_out, naive_out);
  comparison.add("lse", ours_lse, reference_lse, naive_lse);
  return std::to_string(count) + " sampled rows of " + std::to_string(rows);
}

void compare_gradients(const BackwardProblem& problem, DType dtype, Comparison& comparison) {
  const ReferenceBackward reference = reference_backward_values(problem);
  const ReferenceBackward naive = reference_backward_values(problem, dtype);
  comparison.add("dq", gather(problem.dq), reference.dq, naive.dq);
  comparison.add("dk", gather(problem.dk), reference.dk, naive.dk);
  comparison.add("dv", gather(problem.dv), reference.dv, naive.dv);
}

// The gradients of one batch entry and one key/value head depend only on that slice of the
// inputs (its kv head and the query heads that read it), so a slice is a problem of its own.
BackwardProblem slice_problem(const BackwardProblem& problem, const Options& options,
                              std::int64_t batch, std::int64_t kv_head) {
  const std::int64_t group = problem.shape.group_size();
  const auto query_side = [&](const TensorView& view) {
    return narrow(narrow(view, 0, batch, 1), 2, kv_head * group, group);
  };
  const auto key_side = [&](const TensorView& view) {
    return narrow(narrow(view, 0, batch, 1), 2, kv_head, 1);
  };
  const TensorView lse = narrow(narrow(problem.lse, 0, batch, 1), 1, kv_head * group, group);
  return validate_backward(query_side(problem.dout), query_side(problem.q), key_side(problem.k),
                           key_side(problem.v), query_side(problem.out), lse,
                           query_side(problem.dq), key_side(problem.dk), key_side(problem.dv),
                           options);
}

std::string check_backward(const BackwardProblem& problem, const Options& options, DType dtype,
                           std::uint64_t seed, Comparison& comparison) {
  const AttentionShape& s = problem.shape;
  // Per visible (query, key) pair and dim: recompute s (1 multiply-add), dp (1), dq, dk, dv (3).
  const double slice_cost = 5.0 * static_cast<double>(s.group_size() * s.head_dim) *
                            visible_pairs(problem.score.window, s.seqlen_q);
  const std::int64_t slices = s.batch * s.heads_kv;
  if (static_cast<double>(slices) * slice_cost <= kOracleBudget) {
    compare_gradients(problem, dtype, comparison);
    return "all elements";
  }
  if (slice_cost > kOracleBudget) {
    return "gradients NOT checked: one (batch, kv-head) slice costs the oracle " +
           scientific(slice_cost) + " multiply-adds, over its budget of " +
           scientific(kOracleBudget) + "; shorten --seqlen-q/--seqlen-k to check them";
  }
  const std::vector<std::int64_t> picked =
      sample_indices(slices, static_cast<std::int64_t>(kOracleBudget / slice_cost), seed);
  for (std::int64_t slice : picked) {
    compare_gradients(slice_problem(problem, options, slice / s.heads_kv, slice % s.heads_kv),
                      dtype, comparison);
  }
  return std::to_string(picked.size()) + " of " + std::to_string(slices) +
         " sampled (batch, kv-head) slices: their dk, dv and the dq of their query heads";
}

}  // namespace

bool CheckReport::pass() const {
  return std::all_of(quantities.begin(), quantities.end(),
                     [](const QuantityCheck& check) { return check.result.pass(); });
}

CheckReport check_against_oracle(const RunConfig& config, const Options& options,
                                 const RunData& data) {
  // The oracle reads the host copies; validation resolves scale, mask and shapes for it.
  Options reference_options = options;
  reference_options.backend = Backend::reference;
  CheckReport report;
  report.rtol =
      config.softcap > 0 ? testing::kRelativeToleranceSoftcap : testing::kRelativeTolerance;
  Comparison comparison;
  const ForwardProblem forward_problem =
      validate_forward(data.q.view(), data.k.view(), data.v.view(), data.out.view(),
                       data.lse.view(), reference_options);
  report.forward_scope = check_forward(forward_problem, config.dtype, config.seed, comparison);
  if (config.backward) {
    const BackwardProblem backward_problem = validate_backward(
        data.dout.view(), data.q.view(), data.k.view(), data.v.view(), data.out.view(),
        data.lse.view(), data.dq.view(), data.dk.view(), data.dv.view(), reference_options);
    report.backward_scope =
        check_backward(backward_problem, reference_options, config.dtype, config.seed, comparison);
  }
  report.quantities = comparison.results(report.rtol);
  return report;
}

}  // namespace flashattn::cli
