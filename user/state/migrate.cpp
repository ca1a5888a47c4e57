#include "migrate.hpp"

#include <bpf/libbpf.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <spdlog/spdlog.h>

#include "error.hpp"
#include "pins.hpp"

namespace zd::migrate {

namespace {

constexpr const char *kUpgradingSuffix = "-upgrading";

std::string upgrading_pin(const std::string &dir, size_t map) {
  return dir + "/" + kDataMaps[map].pin + kUpgradingSuffix;
}

bool per_cpu(uint32_t type) {
  return type == BPF_MAP_TYPE_PERCPU_ARRAY || type == BPF_MAP_TYPE_PERCPU_HASH ||
         type == BPF_MAP_TYPE_LRU_PERCPU_HASH;
}

bool is_array(uint32_t type) {
  return type == BPF_MAP_TYPE_ARRAY || type == BPF_MAP_TYPE_PERCPU_ARRAY;
}

// A value as bpf(2) passes it: per-CPU maps give one 8-byte aligned slot per
// possible CPU.
struct ValueLayout {
  size_t size;   // bytes of one value
  size_t stride; // bytes from one CPU's slot to the next
  size_t slots;  // 1, or the number of possible CPUs

  ValueLayout(const MapShape &shape, size_t cpus)
      : size(shape.value_size), stride(per_cpu(shape.type) ? (size + 7) / 8 * 8 : size),
        slots(per_cpu(shape.type) ? cpus : 1) {}
  size_t bytes() const { return stride * slots; }
};

bool all_zero(const uint8_t *from, const uint8_t *to) {
  return std::all_of(from, to, [](uint8_t b) { return b == 0; });
}

// One value from the old layout into the new: what both have is copied, what
// only the new one has stays zero (which means what the old layout did), and
// what only the old one has must be zero, else this layout cannot hold it.
bool convert(const std::vector<uint8_t> &from, const ValueLayout &old, std::vector<uint8_t> &to,
             const ValueLayout &now) {
  std::fill(to.begin(), to.end(), 0);
  const size_t common = std::min(old.size, now.size);
  for (size_t slot = 0; slot < now.slots; ++slot) {
    const uint8_t *value = from.data() + slot * old.stride;
    std::memcpy(to.data() + slot * now.stride, value, common);
    if (!all_zero(value + common, value + old.size))
      return false;
  }
  return true;
}

class Copy {
public:
  Copy(size_t map, const BpfMap &from, const MapShape &old, BpfMap &to, const MapShape &now,
       uint32_t layout, const Describe &describe, const FindSocket &find_socket)
      : map_(map), from_(from), to_(to), old_(old), now_(now), layout_(layout), describe_(describe),
        find_socket_(find_socket) {}

  void run() {
    const char *name = kDataMaps[map_].pin;
    if (old_.type != now_.type || old_.key_size != now_.key_size)
      throw Error(Errc::refused, std::string("the ") + name +
                                     " map changed its type or key between layouts; zdctl "
                                     "cannot move it to layout " +
                                     std::to_string(layout_));
    if (old_.type == BPF_MAP_TYPE_SOCKHASH)
      return copy_sockets();
    const int cpus = libbpf_num_possible_cpus();
    if (cpus <= 0)
      throw_errno("counting the possible CPUs", -cpus);
    const ValueLayout old(old_, static_cast<size_t>(cpus)), now(now_, static_cast<size_t>(cpus));
    key_.assign(old_.key_size, 0);
    std::vector<uint8_t> next(old_.key_size);
    std::vector<uint8_t> value(old.bytes()), moved(now.bytes());
    size_t copied = 0;
    for (const void *prev = nullptr; bpf_map_get_next_key(from_.fd(), prev, next.data()) == 0;
         prev = key_.data()) {
      key_ = next;
      if (bpf_map_lookup_elem(from_.fd(), key_.data(), value.data()) != 0) {
        if (errno == ENOENT)
          continue; // gone between the two calls (a flow the kernel aged out)
        throw_errno(std::string("reading map ") + name);
      }
      if (!convert(value, old, moved, now))
        refuse("uses a field that layout " + std::to_string(layout_) + " does not have");
      if (is_array(now_.type) && index() >= now_.max_entries) {
        if (!all_zero(moved.data(), moved.data() + moved.size()))
          refuse("lies beyond the " + std::to_string(now_.max_entries) + " entries layout " +
                 std::to_string(layout_) + " has");
        continue;
      }
      if (!is_array(now_.type) && ++copied > now_.max_entries)
        refuse("is one more than the " + std::to_string(now_.max_entries) + " entries layout " +
               std::to_string(layout_) + " holds");
      if (bpf_map_update_elem(to_.fd(), key_.data(), moved.data(), BPF_ANY) != 0)
        throw_errno(std::string("copying into the new ") + name + " map");
    }
    if (errno != ENOENT)
      throw_errno(std::string("listing map ") + name);
  }

private:
  // A sockhash gives back a socket's cookie, never the socket: each is
  // found again among the fds of the processes that hold it, and put into
  // the new map by fd under the same key.
  void copy_sockets() {
    const std::string name = kDataMaps[map_].pin;
    if (old_.value_size != sizeof(uint64_t) || now_.value_size != sizeof(uint64_t))
      throw Error(Errc::refused, "the " + name +
                                     " map must keep 8-byte values across layouts (its "
                                     "sockets are read back by cookie)");
    key_.assign(old_.key_size, 0);
    std::vector<uint8_t> next(old_.key_size);
    size_t copied = 0;
    for (const void *prev = nullptr; bpf_map_get_next_key(from_.fd(), prev, next.data()) == 0;
         prev = key_.data()) {
      key_ = next;
      uint64_t cookie = 0;
      if (bpf_map_lookup_elem(from_.fd(), key_.data(), &cookie) != 0) {
        if (errno == ENOENT)
          continue; // closed between the two calls
        throw_errno("reading map " + name);
      }
      const Fd socket = find_socket_(cookie);
      if (!socket) {
        // Closed meanwhile (the kernel drops it from the map), or held
        // where no process can be seen: either way not a live socket here.
        spdlog::warn("{} (socket cookie {}) is held by no process zdctl can see; not copied",
                     describe_(static_cast<DataMap>(map_), key_.data()), cookie);
        continue;
      }
      if (++copied > now_.max_entries)
        refuse("is one more than the " + std::to_string(now_.max_entries) + " entries layout " +
               std::to_string(layout_) + " holds");
      const uint64_t fd = static_cast<uint64_t>(socket.get());
      if (bpf_map_update_elem(to_.fd(), key_.data(), &fd, BPF_ANY) != 0)
        throw_errno("copying a socket into the new " + name + " map");
    }
    if (errno != ENOENT)
      throw_errno("listing map " + name);
  }

  uint32_t index() const {
    uint32_t i = 0;
    std::memcpy(&i, key_.data(), sizeof(i));
    return i;
  }

  [[noreturn]] void refuse(const std::string &why) const {
    throw Error(Errc::refused, "cannot move this state to layout " + std::to_string(layout_) +
                                   ": " + describe_(static_cast<DataMap>(map_), key_.data()) + " " +
                                   why + "; nothing was changed");
  }

  size_t map_;
  const BpfMap &from_;
  BpfMap &to_;
  MapShape old_, now_;
  uint32_t layout_;
  const Describe &describe_;
  const FindSocket &find_socket_;
  std::vector<uint8_t> key_;
};

} // namespace

Moved to_shapes(DataMaps pinned, const Shapes &wanted, uint32_t layout, const Describe &describe,
                const FindSocket &find_socket) {
  Moved moved;
  for (size_t i = 0; i < kDataMaps.size(); ++i) {
    const auto which = static_cast<DataMap>(i);
    const MapShape &now = wanted[i];
    auto fresh = [&] {
      moved.fresh.push_back(which);
      return BpfMap::create(static_cast<bpf_map_type>(now.type), kDataMaps[i].object, now.key_size,
                            now.value_size, now.max_entries, now.flags);
    };
    if (!pinned[which]) { // a map the old layout did not have: made empty
      moved.maps[which] = fresh();
      continue;
    }
    const MapShape old = pinned[which].shape();
    if (old == now) {
      moved.maps[which] = std::move(pinned[which]);
      continue;
    }
    spdlog::debug("the {} map changes shape: value {} -> {} bytes, {} -> {} entries",
                  kDataMaps[i].pin, old.value_size, now.value_size, old.max_entries,
                  now.max_entries);
    BpfMap copy = fresh();
    Copy(i, pinned[which], old, copy, now, layout, describe, find_socket).run();
    moved.maps[which] = std::move(copy);
  }
  return moved;
}

void pin_fresh(const Moved &moved, const std::string &dir) {
  for (DataMap map : moved.fresh) {
    const size_t i = static_cast<size_t>(map);
    pin_whole(moved.maps[map].fd(), upgrading_pin(dir, i));
  }
}

bool settle(const std::string &dir, bool keep) {
  bool any = false;
  for (size_t i = 0; i < kDataMaps.size(); ++i) {
    const std::string fresh = upgrading_pin(dir, i);
    if (!pins::exists(fresh))
      continue;
    any = true;
    const std::string final = dir + "/" + kDataMaps[i].pin;
    if (keep ? rename(fresh.c_str(), final.c_str()) : unlink(fresh.c_str()))
      throw_errno("settling the upgrade's " + fresh);
  }
  return any;
}

} // namespace zd::migrate
