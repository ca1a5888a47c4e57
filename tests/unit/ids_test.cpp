// The free ids (core/ids.hpp) against the fake store: every id handed out
// once, through many wraps of the ring; and a change killed after any of its
// writes, then recovered as recover() does (an add undone, a removal
// finished), leaves the ids exactly as before or after it.
#include <gtest/gtest.h>

#include <random>
#include <set>
#include <vector>

#include "fakes.hpp"
#include "ids.hpp"

namespace {

using zd::IdKind;
using zd::Ids;
using zd_test::FakeStore;

constexpr uint32_t kMax = zd::kMaxDomains;

// Every id in [1, max] is exactly one of: in use, waiting in the ring, or
// not yet handed out (at or past the cursor).
void expect_partition(const FakeStore &store, const std::set<uint32_t> &used) {
  const zd::IdCursor cursor = store.id_cursor(IdKind::domain);
  std::vector<int> seen(kMax + 1, 0);
  for (uint32_t id : used)
    ++seen.at(id);
  for (uint32_t at = cursor.head; at != cursor.tail; at = (at + 1) % (2 * kMax))
    ++seen.at(store.freed_id(IdKind::domain, at % kMax));
  for (uint32_t id = cursor.next; id <= kMax; ++id)
    ++seen.at(id);
  for (uint32_t id = 1; id <= kMax; ++id)
    ASSERT_EQ(seen[id], 1) << "id " << id;
  EXPECT_EQ(seen[0], 0) << "id 0 handed out";
}

TEST(Ids, EveryIdIsHandedOutOnceThroughManyWrapsOfTheRing) {
  FakeStore store;
  Ids ids(store, IdKind::domain);
  std::set<uint32_t> used;
  std::vector<uint32_t> order; // in use, oldest first
  std::mt19937 random(7);
  // Fill to the brim, then churn: the ring wraps about six times.
  for (uint32_t i = 0; i < kMax; ++i) {
    const Ids::Pick pick = ids.pick();
    ASSERT_TRUE(used.insert(pick.id).second) << "id " << pick.id << " handed out twice";
    ids.take(pick.id, pick.note);
    order.push_back(pick.id);
  }
  EXPECT_THROW(ids.pick(), zd::Error) << "every id is taken";
  for (int round = 0; round < 100'000; ++round) {
    if (used.size() == kMax || (!used.empty() && random() % 2)) {
      const size_t at = random() % order.size();
      const uint32_t id = order[at];
      order.erase(order.begin() + static_cast<std::ptrdiff_t>(at));
      used.erase(id);
      ids.free(id, ids.free_note());
    } else {
      const Ids::Pick pick = ids.pick();
      ASSERT_GE(pick.id, 1u);
      ASSERT_LE(pick.id, kMax);
      ASSERT_TRUE(used.insert(pick.id).second) << "id " << pick.id << " handed out twice";
      ids.take(pick.id, pick.note);
      order.push_back(pick.id);
    }
  }
  expect_partition(store, used);
}

TEST(Ids, AFreedIdComesBackOnlyAfterEveryIdFreedBeforeIt) {
  FakeStore store;
  Ids ids(store, IdKind::domain);
  for (uint32_t i = 0; i < kMax; ++i) {
    const Ids::Pick pick = ids.pick();
    ids.take(pick.id, pick.note);
  }
  for (uint32_t id : {9u, 3u, 700u})
    ids.free(id, ids.free_note());
  for (uint32_t want : {9u, 3u, 700u}) {
    const Ids::Pick pick = ids.pick();
    EXPECT_EQ(pick.id, want);
    ids.take(pick.id, pick.note);
  }
}

TEST(Ids, AnAddOrARemovalKilledAfterAnyWriteRecoversExactly) {
  for (const bool from_ring : {false, true})
    for (const bool removal : {false, true})
      for (int writes = 0; writes <= 3; ++writes) {
        SCOPED_TRACE(std::string(removal ? "removal" : "add") +
                     (from_ring ? " from the ring" : "") + " killed after " +
                     std::to_string(writes) + " writes");
        FakeStore store;
        Ids ids(store, IdKind::domain);
        std::set<uint32_t> used;
        const uint32_t taken = from_ring ? kMax : 5; // ids in use before the change
        if (from_ring)
          store.set_id_cursor(IdKind::domain, {kMax + 1, 0, 0});
        for (uint32_t id = 1; id <= taken; ++id)
          used.insert(id);
        if (!from_ring)
          store.set_id_cursor(IdKind::domain, {taken + 1, 0, 0});
        if (from_ring) // two freed, waiting
          for (uint32_t id : {40u, 41u}) {
            used.erase(id);
            ids.free(id, ids.free_note());
          }
        const std::string before = store.dump_records();

        // The change, its writes counted; then recovery, uncut.
        const uint32_t id = removal ? 3 : ids.pick().id;
        const uint32_t note = removal ? ids.free_note() : ids.pick().note;
        zd_test::Crash crash;
        crash.at = writes + 1;
        store.crash = &crash;
        try {
          removal ? ids.free(id, note) : ids.take(id, note);
        } catch (const zd_test::Killed &) {
        }
        store.crash = nullptr;
        if (removal) {
          ids.free(id, note); // finished
          used.erase(id);
        } else {
          ids.untake(note); // undone
          EXPECT_EQ(store.dump_records(), before);
        }
        expect_partition(store, used);
      }
}

} // namespace
