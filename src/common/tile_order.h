// The order in which a launch's CTAs take their tiles: blocks of many heads (batch x head pairs),
// e.g. the backward's key blocks.
//
// The hardware starts CTAs roughly in index order. Without a mask every block of a head is the
// same work, and taking each head's blocks in turn keeps the CTAs that run together on the
// operands of one or two heads, which then stay in L2. Under a mask the blocks differ in work
// (causal: the last query blocks, or the first key blocks, see the most), and a grid that ends
// on heavy blocks leaves SMs idle in the tail. So heads are taken in sections: inside a section
// the heaviest block of every head comes first, then the next heaviest, so the light blocks
// fill the tail; sections are sized so that what their CTAs stream (K and V, or Q and dO) fits
// in part of L2.
#pragma once

#include <climits>
#include <cstdint>

#include "common/host_device.h"

namespace flashattn {

struct TileOrder {
  int heads_per_section = 1;  // 1: each head's blocks in turn

  // Tile of CTA `index` in a launch of blocks_per_head x heads tiles: its rank among its head's
  // blocks (0 is taken first) and its head.
  FLASHATTN_HOST_DEVICE void locate(int index, int blocks_per_head, int heads, int& rank,
                                    int& head) const {
    // Never more than the launch has: section_tiles then stays within the grid's int range.
    const int per_section = heads_per_section < heads ? heads_per_section : heads;
    const int section_tiles = per_section * blocks_per_head;
    const int section = index / section_tiles;
    const int first_head = section * per_section;
    const int remaining = heads - first_head;
    const int section_heads = remaining < per_section ? remaining : per_section;
    const int offset = index - section * section_tiles;
    rank = offset / section_heads;
    head = first_head + offset % section_heads;
  }

  // Sections of as many heads as fit `streamed_bytes_per_head` each into `cache_bytes` (at
  // least one), where the blocks differ in work; each head's blocks in turn where they do not.
  static TileOrder for_work(bool blocks_differ, std::int64_t streamed_bytes_per_head,
                            std::int64_t cache_bytes) {
    TileOrder order;
    if (blocks_differ && streamed_bytes_per_head > 0) {
      const std::int64_t heads = cache_bytes / streamed_bytes_per_head;
      order.heads_per_section = heads < 1 ? 1 : heads > INT_MAX ? INT_MAX : static_cast<int>(heads);
    }
    return order;
  }
};

}  // namespace flashattn
