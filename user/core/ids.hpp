// The ids of domains and workspaces. An id indexes the data plane's per-id
// arrays (counters, routes), so ids stay within [1, max]; and an id is the
// name a route, a flow or a history event knows a workspace by, so no two
// live records share one, and a freed one is not handed out again soon.
//
// Fresh ids come from a cursor, 1, 2, 3, ..., until it passes max. After
// that an add takes the id freed longest ago: removals append theirs to a
// ring of max slots, adds take from its head. Taking or freeing an id costs
// the same few map operations whatever the state holds: no id is proven free
// by reading every id in use.
//
// Crash safety: each step sets a value (never adds to one), and the change's
// intent records where the step starts (Intent::next_id): the cursor before
// an add of a fresh id, the ring's head before an add of a freed one
// (kFromRing set), the ring's tail before a removal. So recovery repeats a
// removal's step or undoes an add's exactly, however often it runs.
#pragma once

#include <cstdint>

namespace zd {

class Store;
enum class IdKind;

// Where allocation stands, for one kind of id. head and tail count ring
// slots modulo 2 * max, so that a full ring (max ids) and an empty one differ.
struct IdCursor {
  uint32_t next = 1; // the next fresh id; max + 1 once they are all used
  uint32_t head = 0; // the oldest freed id's slot
  uint32_t tail = 0; // where the next freed id goes
  bool operator==(const IdCursor &) const = default;
};

class Ids {
public:
  static constexpr uint32_t kFromRing = 0x80000000u;

  Ids(Store &store, IdKind kind);

  // The id the next add takes, and the note its intent records (next_id).
  // Throws Errc::refused when all max are in use.
  struct Pick {
    uint32_t id;
    uint32_t note;
  };
  Pick pick() const;
  // The add's step, and its undo: both set what the note says.
  void take(uint32_t id, uint32_t note);
  void untake(uint32_t note);

  // The note of a removal's intent, and its step: id goes to the ring.
  uint32_t free_note() const;
  void free(uint32_t id, uint32_t note);

  // How many freed ids wait in the ring.
  uint32_t freed() const;

private:
  uint32_t slots() const { return 2 * max_; }

  Store &store_;
  const IdKind kind_;
  const uint32_t max_;
};

} // namespace zd
