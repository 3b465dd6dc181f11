// Dense row-major tiles of the CPU backend and the few products and loads built on them.
// Every inner loop runs over contiguous memory without a reduction, so it vectorises.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "common/problem.h"
#include "cpu/element.h"
#include "cpu/strided.h"

namespace flashattn {

inline constexpr std::int64_t kQueryTile = 64;
inline constexpr std::int64_t kKeyTile = 64;

template <typename Accum>
struct Tile {
  std::int64_t rows = 0;
  std::int64_t cols = 0;
  std::vector<Accum> values;

  void reset(std::int64_t num_rows, std::int64_t num_cols) {
    rows = num_rows;
    cols = num_cols;
    values.assign(static_cast<std::size_t>(num_rows * num_cols), Accum(0));
  }
  Accum* row(std::int64_t r) { return values.data() + r * cols; }
  const Accum* row(std::int64_t r) const { return values.data() + r * cols; }
};

// tile[r][d] = view[batch, first + r, head, d] for r < count.
template <typename Element, typename Accum>
void load_rows(const TensorView& view, std::int64_t batch, std::int64_t first, std::int64_t count,
               std::int64_t head, Tile<Accum>& tile) {
  const std::int64_t head_dim = view.size(3);
  tile.reset(count, head_dim);
  const auto* data = static_cast<const Element*>(view.data);
  for (std::int64_t r = 0; r < count; ++r) {
    const Element* source = data + row_offset(view, batch, first + r, head);
    Accum* target = tile.row(r);
    for (std::int64_t d = 0; d < head_dim; ++d)
      target[d] = to_float(source[d]);
  }
}

// tile[d][r] = view[batch, first + r, head, d]: keys and values as right-hand matmul operands.
template <typename Element, typename Accum>
void load_rows_transposed(const TensorView& view, std::int64_t batch, std::int64_t first,
                          std::int64_t count, std::int64_t head, Tile<Accum>& tile) {
  const std::int64_t head_dim = view.size(3);
  tile.reset(head_dim, count);
  const auto* data = static_cast<const Element*>(view.data);
  for (std::int64_t r = 0; r < count; ++r) {
    const Element* source = data + row_offset(view, batch, first + r, head);
    for (std::int64_t d = 0; d < head_dim; ++d)
      tile.row(d)[r] = to_float(source[d]);
  }
}

// view[batch, first + r, head, :] = tile[r] * row_scale[r] (row_scale == nullptr: 1).
template <typename Element, typename Accum>
void store_rows(const Tile<Accum>& tile, const Accum* row_scale, const TensorView& view,
                std::int64_t batch, std::int64_t first, std::int64_t head) {
  auto* data = static_cast<Element*>(view.data);
  for (std::int64_t r = 0; r < tile.rows; ++r) {
    Element* target = data + row_offset(view, batch, first + r, head);
    const Accum scale = row_scale ? row_scale[r] : Accum(1);
    for (std::int64_t d = 0; d < tile.cols; ++d) {
      target[d] = from_accum<Element>(tile.row(r)[d] * scale);
    }
  }
}

// out += a * b   (a [m][k], b [k][n], out [m][n])
template <typename Accum>
void matmul_add(const Tile<Accum>& a, const Tile<Accum>& b, Tile<Accum>& out) {
  for (std::int64_t i = 0; i < a.rows; ++i) {
    Accum* out_row = out.row(i);
    for (std::int64_t k = 0; k < a.cols; ++k) {
      const Accum weight = a.row(i)[k];
      if (weight == Accum(0)) continue;  // masked scores and probabilities are exact zeros
      const Accum* b_row = b.row(k);
      for (std::int64_t j = 0; j < b.cols; ++j)
        out_row[j] += weight * b_row[j];
    }
  }
}

// out += a^T * b   (a [m][k], b [m][n], out [k][n])
template <typename Accum>
void matmul_transposed_add(const Tile<Accum>& a, const Tile<Accum>& b, Tile<Accum>& out) {
  for (std::int64_t i = 0; i < a.rows; ++i) {
    const Accum* b_row = b.row(i);
    for (std::int64_t k = 0; k < a.cols; ++k) {
      const Accum weight = a.row(i)[k];
      if (weight == Accum(0)) continue;
      Accum* out_row = out.row(k);
      for (std::int64_t j = 0; j < b.cols; ++j)
        out_row[j] += weight * b_row[j];
    }
  }
}

// scores = softcap(scale * queries keys^T), -inf outside the mask window. `keys_t` is [D][cols];
// rows/cols start at query `first_query` and key `first_key`. When `softcap_slope` is given it
// receives d(score)/d(raw score) = 1 - tanh^2, which the backward needs.
template <typename Accum>
void compute_scores(const ScoreParams& score, const Tile<Accum>& queries, const Tile<Accum>& keys_t,
                    std::int64_t first_query, std::int64_t first_key, Tile<Accum>& scores,
                    Tile<Accum>* softcap_slope = nullptr) {
  scores.reset(queries.rows, keys_t.cols);
  matmul_add(queries, keys_t, scores);
  if (softcap_slope) softcap_slope->reset(scores.rows, scores.cols);
  const auto scale = static_cast<Accum>(score.scale);
  const auto softcap = static_cast<Accum>(score.softcap);
  for (std::int64_t r = 0; r < scores.rows; ++r) {
    Accum* row = scores.row(r);
    for (std::int64_t c = 0; c < scores.cols; ++c)
      row[c] *= scale;
    if (softcap > 0) {
      for (std::int64_t c = 0; c < scores.cols; ++c) {
        const Accum t = std::tanh(row[c] / softcap);
        row[c] = softcap * t;
        if (softcap_slope) softcap_slope->row(r)[c] = Accum(1) - t * t;
      }
    }
    const std::int64_t query = first_query + r;
    const std::int64_t visible_begin = score.window.first_key(query) - first_key;
    const std::int64_t visible_end = score.window.last_key(query) + 1 - first_key;
    for (std::int64_t c = 0; c < scores.cols; ++c) {
      if (c < visible_begin || c >= visible_end) {
        row[c] = -std::numeric_limits<Accum>::infinity();
      }
    }
  }
}

// First and one-past-last key any of the query rows [first_query, first_query + count) sees.
// Window bounds grow with the query index, so the first and last rows bound the block.
inline std::pair<std::int64_t, std::int64_t> visible_keys(const MaskWindow& window,
                                                          std::int64_t first_query,
                                                          std::int64_t count) {
  return {window.first_key(first_query), window.last_key(first_query + count - 1) + 1};
}

}  // namespace flashattn
