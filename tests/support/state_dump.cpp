// zd-state-dump DIR [--probe ADDR:PORT]... [--netns PATH]...: everything a
// zd state is, as text, in a fixed order: each pinned map's entries (hex,
// sorted), the sk_lookup links attached to this network namespace, and the
// entries of DIR's parent directory; then where a new connection to each
// IPv4 ADDR:PORT goes (its greeting line, "refused" or "none"); then, for
// each network namespace PATH (a workspace's), the links attached and the
// XDP programs there. Two dumps are equal exactly when the state is the
// same, which is what the crash sweep (tests/crash/sweep.sh) compares: one
// process for what used to take a dozen. Needs root; reads only.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <dirent.h>
#include <fcntl.h>
#include <linux/if_link.h>
#include <net/if.h>
#include <sched.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "client.hpp"

namespace {

std::string hex(const std::vector<unsigned char> &bytes) {
  static const char digits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char b : bytes)
    out += {digits[b >> 4], digits[b & 15]};
  return out;
}

void dump_map(const std::string &dir, const char *pin) {
  const std::string path = dir + "/" + pin;
  int fd = bpf_obj_get(path.c_str());
  if (fd < 0) {
    std::printf("map %s: absent\n", pin);
    return;
  }
  bpf_map_info info{};
  uint32_t len = sizeof(info);
  bpf_obj_get_info_by_fd(fd, &info, &len);
  const bool per_cpu =
      info.type == BPF_MAP_TYPE_PERCPU_ARRAY || info.type == BPF_MAP_TYPE_PERCPU_HASH;
  const size_t value_size =
      per_cpu ? ((info.value_size + 7) / 8 * 8) * static_cast<size_t>(sysconf(_SC_NPROCESSORS_CONF))
              : info.value_size;
  std::vector<std::string> lines;
  const bool array = info.type == BPF_MAP_TYPE_ARRAY || info.type == BPF_MAP_TYPE_PERCPU_ARRAY;
  // A history event's time and pid differ from one run of a command to the
  // next: leave them out (record::Event: time_ns at 8, pid at 32).
  const bool history = std::strcmp(pin, "history") == 0;
  // Likewise a canary's orders' time (record::CanaryOrders: since_ns of
  // current at 8 and of pending at 24).
  const bool canaries = std::strcmp(pin, "canaries") == 0;
  // Which CPU counted a connection is the scheduler's choice, not state:
  // per-CPU values (zd's are all u64 counters) are dumped as their sums.
  const size_t slot = (info.value_size + 7) / 8 * 8;
  auto add = [&](const unsigned char *k, const unsigned char *raw) {
    std::vector<unsigned char> masked(raw, raw + value_size);
    if (per_cpu) {
      std::vector<uint64_t> sums(slot / 8);
      for (size_t at = 0; at < value_size; at += 8) {
        uint64_t word = 0;
        std::memcpy(&word, raw + at, 8);
        sums[(at % slot) / 8] += word;
      }
      masked.assign(slot, 0);
      std::memcpy(masked.data(), sums.data(), slot);
    }
    if (canaries && value_size >= 32) {
      std::fill(masked.begin() + 8, masked.begin() + 16, 0);
      std::fill(masked.begin() + 24, masked.begin() + 32, 0);
    }
    if (history && value_size >= 36) {
      std::fill(masked.begin() + 8, masked.begin() + 16, 0);
      std::fill(masked.begin() + 32, masked.begin() + 36, 0);
    }
    const unsigned char *v = masked.data();
    const unsigned char *end = v + masked.size();
    // Arrays hold every index: print only the entries that are not zero.
    const bool zero = std::all_of(v, end, [](unsigned char b) { return !b; });
    if (!(array && zero))
      lines.push_back(hex({k, k + info.key_size}) + " = " + hex({v, end}));
  };
  if (array) {
    // One batch call for the whole array: the counter arrays have 16k and
    // 32k entries, a lookup each would be most of the sweep's time.
    const uint32_t n = info.max_entries;
    std::vector<unsigned char> keys(static_cast<size_t>(n) * info.key_size);
    std::vector<unsigned char> values(static_cast<size_t>(n) * value_size);
    uint32_t count = n, out_batch = 0;
    LIBBPF_OPTS(bpf_map_batch_opts, opts);
    int rc =
        bpf_map_lookup_batch(fd, nullptr, &out_batch, keys.data(), values.data(), &count, &opts);
    if (rc == 0 || errno == ENOENT)
      for (uint32_t i = 0; i < count; ++i)
        add(&keys[i * info.key_size], &values[i * value_size]);
  } else {
    std::vector<unsigned char> key(info.key_size), next(info.key_size), value(value_size);
    const void *prev = nullptr;
    while (bpf_map_get_next_key(fd, prev, next.data()) == 0) {
      if (bpf_map_lookup_elem(fd, next.data(), value.data()) == 0)
        add(next.data(), value.data());
      key = next;
      prev = key.data();
    }
  }
  close(fd);
  std::sort(lines.begin(), lines.end());
  std::printf("map %s: %zu entries\n", pin, lines.size());
  for (const auto &line : lines)
    std::printf("  %s\n", line.c_str());
}

// Every entry of a hash map of fixed-size keys and values, raw.
template <typename K, typename V> std::vector<std::pair<K, V>> entries_of(int fd) {
  std::vector<std::pair<K, V>> out;
  K key{}, next{};
  V value{};
  const K *prev = nullptr;
  while (bpf_map_get_next_key(fd, prev, &next) == 0) {
    if (bpf_map_lookup_elem(fd, &next, &value) == 0)
      out.emplace_back(next, value);
    key = next;
    prev = &key;
  }
  return out;
}

// The index of routes (records "routed") by what it means, not by its slots,
// whose order depends on the order of changes and rebuilds: the pairs it
// holds, and whether they are exactly the workspaces the routes name and
// its slots, positions and counts agree.
void dump_route_index(const std::string &dir) {
  struct Key {
    uint32_t workspace, tag, n;
  };
  struct Route {
    uint32_t active, previous, canary, weight;
  };
  const int fd = bpf_obj_get((dir + "/routed").c_str());
  const int routes_fd = bpf_obj_get((dir + "/routes").c_str());
  if (fd < 0 || routes_fd < 0) {
    std::printf("route index: absent\n");
    if (fd >= 0)
      close(fd);
    if (routes_fd >= 0)
      close(routes_fd);
    return;
  }
  std::map<std::pair<uint32_t, uint32_t>, uint32_t> slots, positions; // {ws, n} -> value
  std::map<uint32_t, uint32_t> counts;
  bool built = false;
  for (const auto &[key, value] : entries_of<Key, uint32_t>(fd)) {
    if (key.tag == 0)
      counts[key.workspace] = value;
    else if (key.tag == 1)
      slots[{key.workspace, key.n}] = value;
    else if (key.tag == 2)
      positions[{key.workspace, key.n}] = value;
    else
      built = key.tag == 3 && value == 1;
  }
  std::set<std::pair<uint32_t, uint32_t>> pairs, named; // {workspace, domain}
  bool whole = positions.size() == slots.size();
  for (const auto &[ws_slot, domain] : slots) {
    pairs.insert({ws_slot.first, domain});
    auto at = positions.find({ws_slot.first, domain});
    whole = whole && ws_slot.second < counts[ws_slot.first] && at != positions.end() &&
            at->second == ws_slot.second;
  }
  std::map<uint32_t, uint32_t> filled; // slots per workspace
  for (const auto &[ws_slot, domain] : slots)
    ++filled[ws_slot.first];
  whole = whole && filled == counts;
  for (const auto &[domain, route] : entries_of<uint32_t, Route>(routes_fd))
    for (uint32_t ws : {route.active, route.previous, route.canary})
      if (ws != 0)
        named.insert({ws, domain});
  close(fd);
  close(routes_fd);
  std::printf("route index: %s, %s, %s, %zu pairs\n", built ? "built" : "not built",
              whole ? "whole" : "NOT WHOLE", pairs == named ? "as the routes" : "NOT AS THE ROUTES",
              pairs.size());
  for (const auto &[ws, domain] : pairs)
    std::printf("  workspace %u <- domain %u\n", ws, domain);
}

void dump_links() {
  struct stat self {};
  stat("/proc/self/ns/net", &self);
  int attached = 0;
  uint32_t id = 0;
  while (bpf_link_get_next_id(id, &id) == 0) {
    int fd = bpf_link_get_fd_by_id(id);
    if (fd < 0)
      continue;
    bpf_link_info info{};
    uint32_t len = sizeof(info);
    if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0 && info.type == BPF_LINK_TYPE_NETNS &&
        info.netns.netns_ino == self.st_ino)
      ++attached;
    close(fd);
  }
  std::printf("netns links attached here: %d\n", attached);
}

// Which interfaces of this namespace run an XDP program, and in which mode.
void dump_xdp() {
  struct if_nameindex *all = if_nameindex();
  for (struct if_nameindex *i = all; i && i->if_index; ++i) {
    LIBBPF_OPTS(bpf_xdp_query_opts, opts);
    if (bpf_xdp_query(static_cast<int>(i->if_index), 0, &opts) != 0)
      continue;
    const char *mode = opts.attach_mode == XDP_ATTACHED_DRV    ? "native"
                       : opts.attach_mode == XDP_ATTACHED_SKB  ? "generic"
                       : opts.attach_mode == XDP_ATTACHED_NONE ? "none"
                                                               : "other";
    std::printf("xdp on %s: %s\n", i->if_name, mode);
  }
  if_freenameindex(all);
}

// "TITLE: the entries of dir, sorted".
void list(const char *title, const std::string &dir) {
  std::vector<std::string> names;
  if (DIR *d = opendir(dir.c_str())) {
    while (dirent *e = readdir(d))
      if (std::strcmp(e->d_name, ".") && std::strcmp(e->d_name, ".."))
        names.push_back(e->d_name);
    closedir(d);
  }
  std::sort(names.begin(), names.end());
  std::printf("%s:", title);
  for (const auto &n : names)
    std::printf(" %s", n.c_str());
  std::printf("\n");
}

// Where a new connection to addr (IPv4 ADDR:PORT) goes: the first line the
// server sends, "refused" when no connection is made, "none" when it sends
// no line; each step bounded by 2 s.
std::string probe(const std::string &addr) {
  const size_t colon = addr.rfind(':');
  if (colon == std::string::npos)
    return "bad address";
  zdtest::Conn conn;
  if (zdtest::connect_only(addr.substr(0, colon), std::atoi(addr.c_str() + colon + 1), conn,
                           nullptr, std::chrono::seconds(2)) != zdtest::ConnectError::none)
    return "refused";
  if (zdtest::read_greeting(conn) != zdtest::ConnectError::none || conn.greeting.empty())
    return "none";
  return conn.greeting;
}

} // namespace

int main(int argc, char **argv) {
  std::vector<std::string> probes, namespaces;
  bool usage = argc < 2 || argc % 2 != 0;
  for (int i = 2; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--probe") == 0)
      probes.push_back(argv[i + 1]);
    else if (std::strcmp(argv[i], "--netns") == 0)
      namespaces.push_back(argv[i + 1]);
    else
      usage = true;
  }
  if (usage) {
    std::fprintf(stderr,
                 "usage: zd-state-dump STATE_DIR [--probe ADDR:PORT]... [--netns PATH]...\n");
    return 2;
  }
  const std::string dir = argv[1];
  struct stat st {};
  std::printf("state dir: %s\n", stat(dir.c_str(), &st) == 0 ? "present" : "absent");
  for (const char *pin :
       {"config",       "bindings",        "prefixes",         "routes",   "sockets",
        "domain_stats", "workspace_stats", "health",           "store",    "domains",
        "workspaces",   "workspace_names", "journal",          "history",  "checks",
        "switches",     "health_checks",   "verdicts",         "canaries", "domain_names",
        "ids",          "freed_domains",   "freed_workspaces", "flows",    "xdp_targets",
        "devmap",       "xdp_stats"})
    dump_map(dir, pin);
  dump_route_index(dir);
  list("pins", dir);
  dump_links();
  dump_xdp();
  list("beside the state", dir.substr(0, dir.rfind('/')));
  for (const auto &addr : probes)
    std::printf("%s -> %s\n", addr.c_str(), probe(addr).c_str());
  // The namespaces last: this process does not come back from them.
  for (const auto &path : namespaces) {
    const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    const bool entered = fd >= 0 && setns(fd, CLONE_NEWNET) == 0;
    const int why = errno;
    if (fd >= 0)
      close(fd);
    if (!entered) {
      std::printf("netns %s: cannot enter: %s\n", path.c_str(), std::strerror(why));
      continue;
    }
    std::printf("netns %s\n", path.c_str());
    dump_links();
    dump_xdp();
  }
  return 0;
}
