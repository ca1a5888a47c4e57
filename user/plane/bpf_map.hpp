// BpfMap: one owned BPF map fd, its name for error messages, and typed
// access. Every method is one bpf(2) call (entries() one per element);
// "absent" is an answer, any other failure throws zd::Error.
#pragma once

#include <bpf/bpf.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "error.hpp"
#include "fd.hpp"

namespace zd {

// A pin under construction ends in this; whoever finds one finds it from a
// process killed before its rename, and drops it (see state/pins.hpp).
inline constexpr const char *kPinningSuffix = "-pinning";

// Pins fd at path whole or not at all: at tmp first (path + kPinningSuffix
// unless given), given the access of its directory (access.hpp), then
// renamed over path.
void pin_whole(int fd, const std::string &path, const std::string &tmp = "");

// A reader opens pins read-only (BPF_F_RDONLY): what a group granted read
// access may do, and all that status or history needs.
enum class OpenFor { write, read };

// What a map is, apart from its entries: what a program is verified against,
// and what `zdctl upgrade` compares to decide whether a map can be kept.
struct MapShape {
  uint32_t type = 0;
  uint32_t key_size = 0;
  uint32_t value_size = 0;
  uint32_t max_entries = 0;
  uint32_t flags = 0;
  bool operator==(const MapShape &) const = default;
};

class BpfMap {
public:
  BpfMap() = default;
  BpfMap(Fd fd, std::string name) : fd_(std::move(fd)), name_(std::move(name)) {}

  // Opens a pinned map; a missing pin is "not a zd state" (not_attached).
  static BpfMap open_pin(const std::string &dir, const std::string &pin,
                         OpenFor open_for = OpenFor::write);
  // Creates a map from user space (not part of any BPF object).
  static BpfMap create(bpf_map_type type, const std::string &name, uint32_t key_size,
                       uint32_t value_size, uint32_t max_entries, uint32_t flags = 0);

  int fd() const { return fd_.get(); }
  const std::string &name() const { return name_; }
  explicit operator bool() const { return bool(fd_); }

  // Throws unless the map has this type and key and value sizes: checked
  // before the first read of a pinned map, whose value the kernel would
  // otherwise copy into a struct of another size.
  void require_shape(bpf_map_type type, uint32_t key_size, uint32_t value_size) const;
  MapShape shape() const;
  uint32_t id() const;

  template <typename K, typename V> bool lookup(const K &key, V &value) const {
    if (bpf_map_lookup_elem(fd(), &key, &value) == 0)
      return true;
    if (errno == ENOENT)
      return false;
    throw_errno("reading map " + name_);
  }

  template <typename K, typename V>
  void update(const K &key, const V &value, uint64_t flags = BPF_ANY) {
    if (bpf_map_update_elem(fd(), &key, &value, flags) != 0)
      throw_errno("writing map " + name_);
  }

  template <typename K> void erase(const K &key) {
    if (bpf_map_delete_elem(fd(), &key) != 0 && errno != ENOENT)
      throw_errno("deleting from map " + name_);
  }

  // Every entry: in batches of up to kBatch per bpf(2) call where the map
  // type has them (hashes, arrays), else one key at a time.
  template <typename K, typename V> std::vector<std::pair<K, V>> entries() const {
    std::vector<std::pair<K, V>> out;
    for_each<K, V>([&](const K &key, const V &value) { out.emplace_back(key, value); });
    return out;
  }

  // Calls visit(key, value) for every entry, as entries() reads them, without
  // holding them all: a map of 100,000 records of 456 bytes is read through
  // buffers of kBatch.
  template <typename K, typename V, typename Visit> void for_each(Visit &&visit) const {
    if (batched<K, V>(visit))
      return;
    K key{}, next{};
    const K *prev = nullptr;
    while (bpf_map_get_next_key(fd(), prev, &next) == 0) {
      V value{};
      // An entry removed between the two calls is simply skipped.
      if (lookup(next, value))
        visit(next, value);
      key = next;
      prev = &key;
    }
    if (errno != ENOENT)
      throw_errno("listing map " + name_);
  }

  static constexpr uint32_t kBatch = 4096;
  static constexpr int kNotSupported = 524; // the kernel's ENOTSUPP: a map type without batches

  template <typename K, typename V, typename Visit> bool batched(Visit &visit) const {
    std::vector<K> keys(kBatch);
    std::vector<V> values(kBatch);
    uint32_t in_batch = 0, out_batch = 0;
    bool first = true;
    for (;;) {
      uint32_t count = kBatch;
      LIBBPF_OPTS(bpf_map_batch_opts, opts);
      const int rc = bpf_map_lookup_batch(fd(), first ? nullptr : &in_batch, &out_batch,
                                          keys.data(), values.data(), &count, &opts);
      if (rc != 0 && errno != ENOENT) {
        if (first && (errno == EINVAL || errno == kNotSupported || errno == EOPNOTSUPP))
          return false; // no batches for this map type: one key at a time
        throw_errno("reading map " + name_);
      }
      for (uint32_t i = 0; i < count; ++i)
        visit(keys[i], values[i]);
      if (rc != 0) // ENOENT: that was the last batch
        return true;
      in_batch = out_batch;
      first = false;
    }
  }

  // Every value of an array map of n entries, in index order: one bpf(2) call.
  template <typename V> std::vector<V> array_values(uint32_t n) const {
    std::vector<uint32_t> keys(n);
    std::vector<V> values(n);
    uint32_t out_batch = 0, count = n;
    LIBBPF_OPTS(bpf_map_batch_opts, opts);
    if (bpf_map_lookup_batch(fd(), nullptr, &out_batch, keys.data(), values.data(), &count,
                             &opts) != 0 &&
        errno != ENOENT)
      throw_errno("reading map " + name_);
    values.resize(count);
    return values;
  }

  // Writes, or deletes, many entries: one bpf(2) call per kBatch of them.
  template <typename K, typename V>
  void update_all(const std::vector<K> &keys, const std::vector<V> &values) {
    for (size_t at = 0; at < keys.size(); at += kBatch) {
      auto count = static_cast<uint32_t>(std::min<size_t>(kBatch, keys.size() - at));
      LIBBPF_OPTS(bpf_map_batch_opts, opts);
      if (bpf_map_update_batch(fd(), &keys[at], &values[at], &count, &opts) != 0)
        throw_errno("writing map " + name_);
    }
  }
  template <typename K> void erase_all(const std::vector<K> &keys) {
    for (size_t at = 0; at < keys.size(); at += kBatch) {
      auto count = static_cast<uint32_t>(std::min<size_t>(kBatch, keys.size() - at));
      LIBBPF_OPTS(bpf_map_batch_opts, opts);
      if (bpf_map_delete_batch(fd(), &keys[at], &count, &opts) != 0)
        throw_errno("deleting from map " + name_);
    }
  }

  // How many entries it holds: one bpf(2) call per entry, keys only.
  template <typename K> size_t count() const {
    size_t n = 0;
    K key{}, next{};
    const K *prev = nullptr;
    while (bpf_map_get_next_key(fd(), prev, &next) == 0) {
      ++n;
      key = next;
      prev = &key;
    }
    if (errno != ENOENT)
      throw_errno("listing map " + name_);
    return n;
  }

  // Pins the map at path (a file in bpffs).
  void pin(const std::string &path) const;

private:
  Fd fd_;
  std::string name_;
};

} // namespace zd
