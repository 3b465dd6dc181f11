// TileOrder numbers every tile of a launch exactly once, keeps each head's blocks in turn
// without a mask, and inside a section takes rank r of every head before rank r + 1.
#include <gtest/gtest.h>

#include <climits>
#include <cstdint>
#include <vector>

#include "common/tile_order.h"

namespace flashattn {
namespace {

struct Tile {
  int rank, head;
};

std::vector<Tile> walk(const TileOrder& order, int blocks_per_head, int heads) {
  std::vector<Tile> tiles(static_cast<std::size_t>(blocks_per_head * heads));
  for (int index = 0; index < blocks_per_head * heads; ++index) {
    order.locate(index, blocks_per_head, heads, tiles[index].rank, tiles[index].head);
  }
  return tiles;
}

TEST(TileOrder, EveryTileOnceForEverySectionSize) {
  for (int blocks : {1, 2, 7}) {
    for (int heads : {1, 3, 10}) {
      for (int section : {1, 2, 4, 10, 64, INT_MAX}) {
        std::vector<int> seen(static_cast<std::size_t>(blocks * heads), 0);
        for (const Tile& tile : walk(TileOrder{section}, blocks, heads)) {
          ASSERT_GE(tile.rank, 0);
          ASSERT_LT(tile.rank, blocks);
          ASSERT_GE(tile.head, 0);
          ASSERT_LT(tile.head, heads);
          ++seen[static_cast<std::size_t>(tile.head * blocks + tile.rank)];
        }
        for (int count : seen)
          EXPECT_EQ(count, 1) << blocks << " " << heads << " " << section;
      }
    }
  }
}

TEST(TileOrder, OneHeadPerSectionIsEachHeadInTurn) {
  const std::vector<Tile> tiles = walk(TileOrder{}, 5, 3);
  for (int index = 0; index < 15; ++index) {
    EXPECT_EQ(tiles[index].head, index / 5);
    EXPECT_EQ(tiles[index].rank, index % 5);
  }
}

TEST(TileOrder, SectionsTakeEachRankAcrossTheirHeads) {
  // 3 blocks, 5 heads in sections of 2: heads {0, 1}, {2, 3}, then {4} alone.
  const std::vector<Tile> tiles = walk(TileOrder{2}, 3, 5);
  const std::vector<std::pair<int, int>> expected = {{0, 0}, {0, 1}, {1, 0}, {1, 1}, {2, 0},
                                                     {2, 1}, {0, 2}, {0, 3}, {1, 2}, {1, 3},
                                                     {2, 2}, {2, 3}, {0, 4}, {1, 4}, {2, 4}};
  for (std::size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(tiles[i].rank, expected[i].first) << i;
    EXPECT_EQ(tiles[i].head, expected[i].second) << i;
  }
}

TEST(TileOrder, SectionsOnlyWhereBlocksDiffer) {
  EXPECT_EQ(TileOrder::for_work(false, 1 << 20, 25 << 20).heads_per_section, 1);
  EXPECT_EQ(TileOrder::for_work(true, 1 << 20, 25 << 20).heads_per_section, 25);
  EXPECT_EQ(TileOrder::for_work(true, 100 << 20, 25 << 20).heads_per_section, 1);
  EXPECT_EQ(TileOrder::for_work(true, 1, std::int64_t{1} << 40).heads_per_section, INT_MAX);
}

}  // namespace
}  // namespace flashattn
