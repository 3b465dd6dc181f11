// Running row max m and row sum l of exp(s - m) over streamed score tiles, shared by the
// forward (which also carries the output) and the backward's statistics pass.
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "cpu/tile.h"

namespace flashattn {

template <typename Accum>
struct OnlineSoftmax {
  std::vector<Accum> row_max;
  std::vector<Accum> row_sum;
  // exp(m_old - m_new) of the last absorb: rescales whatever was accumulated against m_old.
  std::vector<Accum> correction;

  void reset(std::int64_t rows) {
    row_max.assign(static_cast<std::size_t>(rows), -std::numeric_limits<Accum>::infinity());
    row_sum.assign(static_cast<std::size_t>(rows), Accum(0));
    correction.assign(static_cast<std::size_t>(rows), Accum(1));
  }

  // Turns `scores` into exp(s - m_new) in place (0 where masked) and updates m and l.
  void absorb(Tile<Accum>& scores) {
    for (std::int64_t r = 0; r < scores.rows; ++r) {
      Accum* row = scores.row(r);
      const Accum tile_max = *std::max_element(row, row + scores.cols);
      const Accum new_max = std::max(row_max[r], tile_max);
      if (new_max == -std::numeric_limits<Accum>::infinity()) {  // nothing visible yet
        std::fill(row, row + scores.cols, Accum(0));
        correction[r] = Accum(1);
        continue;
      }
      correction[r] = std::exp(row_max[r] - new_max);  // 0 on the first visible tile
      Accum sum = row_sum[r] * correction[r];
      for (std::int64_t c = 0; c < scores.cols; ++c) {
        row[c] = std::exp(row[c] - new_max);
        sum += row[c];
      }
      row_sum[r] = sum;
      row_max[r] = new_max;
    }
  }

  // True when row r has seen no visible key (its output is 0 and its LSE +inf).
  bool empty(std::int64_t r) const { return row_sum[r] == Accum(0); }
};

}  // namespace flashattn
