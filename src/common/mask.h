// Which keys a query row may see: bottom-right aligned causal / sliding-window band.
//
// Query i sees key j iff  i + offset - left <= j <= i + offset + right,  offset = Sk - Sq,
// where a negative left/right means unbounded on that side. Causal is right = 0.
#pragma once

#include <cstdint>

#include "common/host_device.h"

namespace flashattn {

struct MaskWindow {
  std::int64_t seqlen_k = 0;
  std::int64_t diagonal_offset = 0;  // Sk - Sq: key aligned with query i is i + offset
  std::int64_t left = -1;
  std::int64_t right = -1;

  // Whether some row sees less than every key: a causal or sliding-window mask.
  FLASHATTN_HOST_DEVICE bool banded() const { return left >= 0 || right >= 0; }
  // First visible key of row i (may exceed last_key(i): the row is empty).
  FLASHATTN_HOST_DEVICE std::int64_t first_key(std::int64_t i) const {
    if (left < 0) return 0;
    const std::int64_t first = i + diagonal_offset - left;
    return first > 0 ? first : 0;
  }
  // Last visible key of row i, inclusive.
  FLASHATTN_HOST_DEVICE std::int64_t last_key(std::int64_t i) const {
    if (right < 0) return seqlen_k - 1;
    const std::int64_t last = i + diagonal_offset + right;
    return last < seqlen_k - 1 ? last : seqlen_k - 1;
  }
  // The inverse, for a key j in [0, Sk): the first and last query rows that see it (first >
  // last: no row sees it).
  FLASHATTN_HOST_DEVICE std::int64_t first_query(std::int64_t j) const {
    if (right < 0) return 0;
    const std::int64_t first = j - diagonal_offset - right;
    return first > 0 ? first : 0;
  }
  FLASHATTN_HOST_DEVICE std::int64_t last_query(std::int64_t j, std::int64_t seqlen_q) const {
    if (left < 0) return seqlen_q - 1;
    const std::int64_t last = j - diagonal_offset + left;
    return last < seqlen_q - 1 ? last : seqlen_q - 1;
  }

  FLASHATTN_HOST_DEVICE bool visible(std::int64_t i, std::int64_t j) const {
    return j >= first_key(i) && j <= last_key(i);
  }
};

}  // namespace flashattn
