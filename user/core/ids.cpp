#include "ids.hpp"

#include <string>

#include "error.hpp"
#include "model.hpp"
#include "ports.hpp"

namespace zd {

Ids::Ids(Store &store, IdKind kind)
    : store_(store), kind_(kind), max_(kind == IdKind::domain ? kMaxDomains : kMaxWorkspaces) {}

Ids::Pick Ids::pick() const {
  const IdCursor cursor = store_.id_cursor(kind_);
  if (cursor.next <= max_)
    return {cursor.next, cursor.next};
  if (cursor.head != cursor.tail)
    return {store_.freed_id(kind_, cursor.head % max_), kFromRing | cursor.head};
  throw Error(Errc::refused, std::string("too many ") +
                                 (kind_ == IdKind::domain ? "domains" : "workspaces") +
                                 " (at most " + std::to_string(max_) + ")");
}

void Ids::take(uint32_t id, uint32_t note) {
  IdCursor cursor = store_.id_cursor(kind_);
  const IdCursor before = cursor;
  if (note & kFromRing)
    cursor.head = ((note & ~kFromRing) + 1) % slots();
  else
    cursor.next = id + 1;
  if (cursor != before)
    store_.set_id_cursor(kind_, cursor);
}

void Ids::untake(uint32_t note) {
  IdCursor cursor = store_.id_cursor(kind_);
  const IdCursor before = cursor;
  if (note & kFromRing)
    cursor.head = note & ~kFromRing;
  else
    cursor.next = note;
  if (cursor != before)
    store_.set_id_cursor(kind_, cursor);
}

uint32_t Ids::free_note() const {
  return store_.id_cursor(kind_).tail;
}

void Ids::free(uint32_t id, uint32_t note) {
  if (store_.freed_id(kind_, note % max_) != id)
    store_.set_freed_id(kind_, note % max_, id);
  IdCursor cursor = store_.id_cursor(kind_);
  const uint32_t tail = (note + 1) % slots();
  if (cursor.tail != tail) {
    cursor.tail = tail;
    store_.set_id_cursor(kind_, cursor);
  }
}

uint32_t Ids::freed() const {
  const IdCursor cursor = store_.id_cursor(kind_);
  return (cursor.tail + slots() - cursor.head) % slots();
}

} // namespace zd
