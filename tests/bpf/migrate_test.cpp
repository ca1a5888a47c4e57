// The map copying behind `zdctl upgrade` across layouts (user/state/
// migrate.hpp), on real maps: what it keeps, how it moves a value between
// shapes (hash and per-CPU), and what it refuses. The end-to-end upgrade is
// in tests/integration/layout_test.cpp.
#include <gtest/gtest.h>

#include <bpf/libbpf.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <vector>

#include "error.hpp"
#include "migrate.hpp"
#include "sk_lookup.hpp"
#include "sockets.hpp"

namespace zd {
namespace {

constexpr size_t kRoutes = static_cast<size_t>(DataMap::routes);
constexpr size_t kDomainStats = static_cast<size_t>(DataMap::domain_stats);
constexpr size_t kSockets = static_cast<size_t>(DataMap::sockets);

class Migrate : public ::testing::Test {
protected:
  void SetUp() override {
    if (geteuid() != 0)
      GTEST_SKIP() << "needs root: creates BPF maps and a network namespace";
    ASSERT_EQ(unshare(CLONE_NEWNET), 0) << strerror(errno); // for the listening socket
    wanted_ = SkLookupProgram::map_shapes();
  }

  // A state's maps with the embedded shapes, but for the ones in `old`.
  DataMaps maps_with(const migrate::Shapes &old) {
    DataMaps maps;
    for (size_t i = 0; i < kDataMaps.size(); ++i)
      maps[static_cast<DataMap>(i)] =
          BpfMap::create(static_cast<bpf_map_type>(old[i].type), kDataMaps[i].object,
                         old[i].key_size, old[i].value_size, old[i].max_entries, old[i].flags);
    return maps;
  }

  static std::string describe(DataMap map, const void *key) {
    uint32_t id = 0;
    std::memcpy(&id, key, sizeof(id));
    return std::string(kDataMaps[static_cast<size_t>(map)].pin) + " #" + std::to_string(id);
  }

  migrate::Moved move(DataMaps maps) {
    return migrate::to_shapes(std::move(maps), wanted_, 9, describe, [](uint64_t cookie) {
      return socket_with_cookie(cookie, {getpid()});
    });
  }

  std::string refusal(DataMaps maps) {
    try {
      move(std::move(maps));
    } catch (const Error &e) {
      EXPECT_EQ(e.kind(), Errc::refused) << e.what();
      return e.what();
    }
    ADD_FAILURE() << "moved what it should have refused";
    return "";
  }

  migrate::Shapes wanted_;
};

TEST_F(Migrate, KeepsMapsOfTheWantedShapeAndCopiesAnOlderOne) {
  migrate::Shapes old = wanted_;
  old[kRoutes].value_size = 8; // layout 2's route: active, previous
  DataMaps maps = maps_with(old);
  const uint32_t bindings_id = maps[DataMap::bindings].id();
  for (uint32_t domain = 1; domain <= 3; ++domain) {
    const uint32_t route[2] = {domain * 10, domain * 10 + 1};
    maps[DataMap::routes].update(domain, route);
  }

  migrate::Moved moved = move(std::move(maps));
  ASSERT_EQ(moved.fresh, std::vector<DataMap>{DataMap::routes});
  EXPECT_EQ(moved.maps[DataMap::bindings].id(), bindings_id) << "a map of the right shape is kept";
  EXPECT_EQ(moved.maps[DataMap::routes].shape(), wanted_[kRoutes]);
  const auto routes = moved.maps[DataMap::routes].entries<uint32_t, zd_route>();
  ASSERT_EQ(routes.size(), 3u);
  for (const auto &[domain, route] : routes) {
    EXPECT_EQ(route.active, domain * 10);
    EXPECT_EQ(route.previous, domain * 10 + 1);
    EXPECT_EQ(route.canary, 0u) << "a field the old layout lacked must be zero";
    EXPECT_EQ(route.canary_weight, 0u);
  }
}

TEST_F(Migrate, MovesANewerValueBackOnlyWhenItsNewerBytesAreZero) {
  migrate::Shapes newer = wanted_;
  newer[kRoutes].value_size = sizeof(zd_route) + 8;
  std::vector<uint8_t> value(newer[kRoutes].value_size, 0);
  value[0] = 5; // active

  DataMaps fits = maps_with(newer);
  const uint32_t four = 4;
  ASSERT_EQ(bpf_map_update_elem(fits[DataMap::routes].fd(), &four, value.data(), BPF_ANY), 0);
  migrate::Moved moved = move(std::move(fits));
  zd_route route{};
  ASSERT_TRUE(moved.maps[DataMap::routes].lookup(uint32_t{4}, route));
  EXPECT_EQ(route.active, 5u);

  DataMaps set = maps_with(newer);
  value[sizeof(zd_route) + 3] = 1; // a newer field, not zero
  ASSERT_EQ(bpf_map_update_elem(set[DataMap::routes].fd(), &four, value.data(), BPF_ANY), 0);
  EXPECT_EQ(refusal(std::move(set)), "cannot move this state to layout 9: routes #4 uses a field "
                                     "that layout 9 does not have; nothing was changed");
}

// Per-CPU counters: each CPU's slot moves on its own (8-byte aligned on
// both sides), here from a value of 3 counters to the wanted 4.
TEST_F(Migrate, CopiesEachCpusSlotOfAPerCpuValue) {
  const int cpus = libbpf_num_possible_cpus();
  ASSERT_GT(cpus, 0);
  migrate::Shapes old = wanted_;
  old[kDomainStats].value_size = 3 * sizeof(uint64_t);
  DataMaps maps = maps_with(old);
  std::vector<uint64_t> slots(static_cast<size_t>(cpus) * 3);
  for (int cpu = 0; cpu < cpus; ++cpu)
    for (int field = 0; field < 3; ++field)
      slots[static_cast<size_t>(cpu) * 3 + field] = 100 * (cpu + 1) + field;
  const uint32_t seven = 7;
  ASSERT_EQ(bpf_map_update_elem(maps[DataMap::domain_stats].fd(), &seven, slots.data(), BPF_ANY),
            0);

  migrate::Moved moved = move(std::move(maps));
  std::vector<zd_counters> now(static_cast<size_t>(cpus));
  ASSERT_EQ(bpf_map_lookup_elem(moved.maps[DataMap::domain_stats].fd(), &seven, now.data()), 0);
  for (int cpu = 0; cpu < cpus; ++cpu) {
    EXPECT_EQ(now[cpu].lookups, 100u * (cpu + 1)) << "cpu " << cpu;
    EXPECT_EQ(now[cpu].steered, 100u * (cpu + 1) + 1) << "cpu " << cpu;
    EXPECT_EQ(now[cpu].fallbacks, 100u * (cpu + 1) + 2) << "cpu " << cpu;
    EXPECT_EQ(now[cpu].drops, 0u) << "cpu " << cpu;
  }
}

TEST_F(Migrate, RefusesMoreEntriesThanTheNewMapHolds) {
  migrate::Shapes old = wanted_;
  old[kRoutes].value_size = 8;
  old[kRoutes].max_entries = wanted_[kRoutes].max_entries + 1;
  DataMaps maps = maps_with(old);
  const uint32_t route[2] = {1, 0};
  for (uint32_t domain = 1; domain <= wanted_[kRoutes].max_entries + 1; ++domain)
    maps[DataMap::routes].update(domain, route);
  EXPECT_NE(refusal(std::move(maps))
                .find("is one more than the " + std::to_string(wanted_[kRoutes].max_entries) +
                      " entries layout 9 holds"),
            std::string::npos);
}

// A sockhash gives back cookies: each socket is found again among the fds
// of the process holding it (this one) and put into the new map by fd.
TEST_F(Migrate, CopiesASockhashByFindingItsSocketsAgain) {
  migrate::Shapes old = wanted_;
  old[kSockets].max_entries = 8; // another limit: another shape
  DataMaps maps = maps_with(old);
  Fd listener(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in any{};
  any.sin_family = AF_INET;
  ASSERT_EQ(bind(listener.get(), reinterpret_cast<sockaddr *>(&any), sizeof(any)), 0);
  ASSERT_EQ(listen(listener.get(), 8), 0);
  uint64_t cookie = 0;
  socklen_t len = sizeof(cookie);
  ASSERT_EQ(getsockopt(listener.get(), SOL_SOCKET, SO_COOKIE, &cookie, &len), 0);
  const zd_socket_key key{3, IPPROTO_TCP, AF_INET, ZD_PLANE_HOST, 0};
  const uint64_t fd = static_cast<uint64_t>(listener.get());
  ASSERT_EQ(bpf_map_update_elem(maps[DataMap::sockets].fd(), &key, &fd, BPF_ANY), 0);

  migrate::Moved moved = move(std::move(maps));
  ASSERT_EQ(moved.fresh, std::vector<DataMap>{DataMap::sockets});
  EXPECT_EQ(moved.maps[DataMap::sockets].shape(), wanted_[kSockets]);
  const auto sockets = moved.maps[DataMap::sockets].entries<zd_socket_key, uint64_t>();
  ASSERT_EQ(sockets.size(), 1u);
  EXPECT_EQ(sockets[0].first.workspace, 3u);
  EXPECT_EQ(sockets[0].second, cookie) << "not the same socket";
}

} // namespace
} // namespace zd
