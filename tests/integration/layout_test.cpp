// The shape of a state in bpffs: the records are the control plane's own
// maps (not the program's), a state of an older layout is moved forward in
// place by `zdctl upgrade` (maps of another shape copied into new ones), a
// newer one is moved back only when it fits, and one directory is one state
// whatever way its path is spelled.
#include <bpf/bpf.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <set>
#include <thread>

#include "harness.hpp"
#include "reshape.hpp"
#include "zd_shared.h"

namespace zdtest {
namespace {

using json = nlohmann::json;

// The records' "store" map value (user/state/records.hpp, record::Meta).
struct StoreMeta {
  uint32_t magic, record_version, next_domain_id, next_workspace_id;
};

class Layout : public BlueGreenTest {
protected:
  Fd pin(const std::string &name) {
    Fd fd(bpf_obj_get((state_dir() + "/" + name).c_str()));
    EXPECT_TRUE(fd) << name << ": " << std::strerror(errno);
    return fd;
  }

  // The ids of the maps a program uses.
  std::set<uint32_t> maps_of(int program) {
    bpf_prog_info info{};
    uint32_t len = sizeof(info);
    EXPECT_EQ(bpf_obj_get_info_by_fd(program, &info, &len), 0);
    std::vector<uint32_t> ids(info.nr_map_ids);
    const uint32_t n = info.nr_map_ids;
    info = {};
    info.nr_map_ids = n;
    info.map_ids = reinterpret_cast<uint64_t>(ids.data());
    EXPECT_EQ(bpf_obj_get_info_by_fd(program, &info, &len), 0);
    return {ids.begin(), ids.end()};
  }

  // The program the state's link runs now.
  Fd running_program() {
    Fd link = pin("link");
    bpf_link_info info{};
    uint32_t len = sizeof(info);
    EXPECT_EQ(bpf_obj_get_info_by_fd(link.get(), &info, &len), 0);
    return Fd(bpf_prog_get_fd_by_id(info.prog_id));
  }

  uint32_t route_value_size() {
    Fd routes = pin("routes");
    bpf_map_info info{};
    uint32_t len = sizeof(info);
    EXPECT_EQ(bpf_obj_get_info_by_fd(routes.get(), &info, &len), 0);
    return info.value_size;
  }

  // Every data map pinned is one the running program reads: after an
  // upgrade that copied maps, the program must use the copies.
  void expect_program_reads_the_pins() {
    const std::set<uint32_t> used = maps_of(running_program().get());
    for (const char *data : {"config", "bindings", "prefixes", "routes", "sockets", "domain_stats",
                             "workspace_stats", "health"})
      EXPECT_EQ(used.count(id_of(pin(data).get(), false)), 1u)
          << "the running program does not read the pinned " << data << " map";
  }

  // Upgrades a state of another layout: it says so, the routes have this
  // layout's shape, and the running program reads every map pinned.
  void upgrade_to_this_layout() {
    Result up = zdctl({"upgrade"});
    ASSERT_EQ(up.code, 0) << up.err;
    EXPECT_NE(up.out.find("now has layout " + std::to_string(ZD_LAYOUT_VERSION)), std::string::npos)
        << up.out;
    EXPECT_EQ(route_value_size(), sizeof(zd_route));
    expect_program_reads_the_pins();
  }

  // shop switched blue then green (two history entries), a prefix domain,
  // and a connection open to green: what every upgrade must keep.
  void stage_with_history(Conn &established) {
    zdctl_ok({"switch", "shop", "blue"});
    zdctl_ok({"switch", "shop", "green"});
    zdctl_ok({"domain", "add", "fleet", "--listen", "tcp://10.99.0.128/25:443"});
    ASSERT_EQ(connect_and_greet(kV4, kPort, established), ConnectError::none);
    ASSERT_EQ(established.greeting, "green");
  }

  std::vector<std::string> pin_names() {
    std::vector<std::string> out;
    for (const auto &entry : std::filesystem::directory_iterator(state_dir()))
      out.push_back(entry.path().filename().string());
    return out;
  }

  uint32_t id_of(int fd, bool program) {
    bpf_prog_info prog{};
    bpf_map_info map{};
    uint32_t len = program ? sizeof(prog) : sizeof(map);
    EXPECT_EQ(bpf_obj_get_info_by_fd(fd, program ? static_cast<void *>(&prog) : &map, &len), 0);
    return program ? prog.id : map.id;
  }

  // Rewrites this state into the shape layout 1 had: 8-byte routes, no
  // "store" map, the id cursors in the config map, layout_version 1. The
  // records maps of layout 1 had the same pins and shapes, so this is that
  // state but for the program, which upgrade replaces anyway.
  StoreMeta make_layout_one() {
    zdtest::reshape_routes(state_dir(), {1, 8});
    StoreMeta meta{};
    uint32_t zero = 0;
    {
      Fd store = pin("store");
      EXPECT_EQ(bpf_map_lookup_elem(store.get(), &zero, &meta), 0);
      Fd config = pin("config");
      zd_config c{};
      EXPECT_EQ(bpf_map_lookup_elem(config.get(), &zero, &c), 0);
      c.layout_version = 1;
      c.reserved[0] = meta.next_domain_id;
      c.reserved[1] = meta.next_workspace_id;
      EXPECT_EQ(bpf_map_update_elem(config.get(), &zero, &c, BPF_ANY), 0);
    }
    EXPECT_EQ(unlink((state_dir() + "/store").c_str()), 0);
    unlink_records_of_version2();
    return meta;
  }

  // The maps record versions 2 to 6 added, which a state of 1 does not have.
  void unlink_records_of_version2() {
    for (const char *added : {"history", "checks"})
      EXPECT_EQ(unlink((state_dir() + "/" + added).c_str()), 0) << added;
    unlink_records_of_version3();
  }
  void unlink_records_of_version3() {
    EXPECT_EQ(unlink((state_dir() + "/switches").c_str()), 0) << "switches";
    unlink_records_of_version4();
  }
  void unlink_records_of_version4() {
    for (const char *added : {"health_checks", "verdicts", "canaries"})
      EXPECT_EQ(unlink((state_dir() + "/" + added).c_str()), 0) << added;
    unlink_records_of_version5();
  }
  void unlink_records_of_version5() {
    for (const char *added : {"domain_names", "ids", "freed_domains", "freed_workspaces"})
      EXPECT_EQ(unlink((state_dir() + "/" + added).c_str()), 0) << added;
    unlink_records_of_version6();
  }
  void unlink_records_of_version6() {
    EXPECT_EQ(unlink((state_dir() + "/routed").c_str()), 0) << "routed";
  }

  // Writes the records' version, as an older zdctl would have left it.
  void set_record_version(uint32_t version) {
    Fd store = pin("store");
    StoreMeta meta{};
    uint32_t zero = 0;
    ASSERT_EQ(bpf_map_lookup_elem(store.get(), &zero, &meta), 0);
    ASSERT_EQ(meta.record_version, 6u);
    meta.record_version = version;
    ASSERT_EQ(bpf_map_update_elem(store.get(), &zero, &meta, BPF_ANY), 0);
  }
};

TEST_F(Layout, RecordsAreNotMapsOfTheProgram) {
  const std::set<uint32_t> used = maps_of(pin("program").get());

  for (const char *record : {"store", "domains", "workspaces", "workspace_names"})
    EXPECT_EQ(used.count(id_of(pin(record).get(), false)), 0u)
        << record << " is a map of the program: adding a field would need a new program";
  for (const char *data : {"bindings", "prefixes", "routes", "sockets", "config"})
    EXPECT_EQ(used.count(id_of(pin(data).get(), false)), 1u) << data << " is not the program's";
}

TEST_F(Layout, UpgradeMovesALayoutOneStateForwardKeepingEverything) {
  Conn established;
  ASSERT_NO_FATAL_FAILURE(stage_with_history(established));
  const std::string before = status_json();
  const StoreMeta cursors = make_layout_one();

  // Until it is upgraded, this zdctl refuses the old layout and says how.
  for (const auto &args :
       std::vector<std::vector<std::string>>{{"status"}, {"switch", "shop", "blue"}, {"attach"}}) {
    Result r = zdctl(args);
    EXPECT_EQ(r.code, 1) << args[0];
    EXPECT_NE(r.err.find("run zdctl upgrade"), std::string::npos) << r.err;
  }

  Result up = zdctl({"upgrade"});
  ASSERT_EQ(up.code, 0) << up.err;
  EXPECT_NE(up.out.find("layout " + std::to_string(ZD_LAYOUT_VERSION)), std::string::npos)
      << up.out;
  EXPECT_EQ(status_json(), before) << "upgrade lost or changed something";
  EXPECT_EQ(exchange(established, "ping", 10), "green:ping") << "established connection broke";

  // The id cursors moved into the records, where allocation reads them.
  StoreMeta after{};
  uint32_t zero = 0;
  Fd store = pin("store");
  ASSERT_EQ(bpf_map_lookup_elem(store.get(), &zero, &after), 0);
  EXPECT_EQ(after.next_domain_id, cursors.next_domain_id);
  EXPECT_EQ(after.next_workspace_id, cursors.next_workspace_id);

  EXPECT_EQ(json::parse(zdctl_ok({"--json", "revert", "shop"}))["to"], "blue");
  EXPECT_EQ(greet(kV4), "blue");
  EXPECT_NE(zdctl_ok({"upgrade"}).find("already running"), std::string::npos);
}

// Upgrades under load: short-lived connections all along while zdctl
// upgrade moves the state across layouts 20 times (from layout 1 or 2, its
// routes copied into a map of layout 3's shape), each followed by an
// upgrade --force that swaps the program in place. The link is updated,
// never re-attached, so no connection finds the namespace without a
// program, and the old program reads its old maps until the new one runs.
TEST_F(Layout, TwentyUpgradesAcrossLayoutsUnderLoadFailNoConnection) {
  zdctl_ok({"switch", "shop", "blue"});
  std::atomic<bool> stop{false};
  std::atomic<int> made{0}, failed{0};
  std::string first_failure;
  auto client = [&](int thread) {
    for (int i = thread; !stop; i += 2) {
      Conn conn;
      std::string why;
      const char *host = i % 2 ? kV6 : kV4;
      if (connect_and_greet(host, kPort, conn, &why) != ConnectError::none ||
          conn.greeting != "blue") {
        if (failed++ == 0)
          first_failure = std::string(host) + ": " + why + " '" + conn.greeting + "'";
      }
      ++made;
    }
  };
  std::thread a(client, 0), b(client, 1);
  int across = 0, upgrades = 0;
  for (int round = 0; round < 20 && !HasFailure(); ++round) {
    if (round % 2 == 0)
      make_layout_one();
    else
      reshape_routes(state_dir(), {2, 8});
    std::string said = zdctl_ok({"upgrade"});
    EXPECT_NE(said.find("now has layout"), std::string::npos) << said;
    across += said.find("now has layout") != std::string::npos;
    said = zdctl_ok({"upgrade", "--force"});
    EXPECT_NE(said.find("now runs this zdctl's program"), std::string::npos) << said;
    upgrades += 2;
  }
  stop = true;
  a.join();
  b.join();
  EXPECT_EQ(across, 20);
  EXPECT_EQ(route_value_size(), sizeof(zd_route));
  expect_program_reads_the_pins();
  EXPECT_EQ(failed.load(), 0) << "first: " << first_failure;
  EXPECT_GT(made.load(), 100) << "too little load to say anything";
  std::printf("%d connections during %d upgrades (%d across layouts), %d failed\n", made.load(),
              upgrades, across, failed.load());
}

// A state of layout 2 (routes of 8 bytes) with history, counters, a prefix
// and an open connection: upgrade copies the routes into a map of this
// layout's shape, keeps every other map, and the program it swaps in reads
// the maps pinned, so a switch made afterwards takes effect.
TEST_F(Layout, UpgradeCopiesAMapOfAnOlderShapeKeepingEverything) {
  Conn established;
  ASSERT_NO_FATAL_FAILURE(stage_with_history(established));
  const std::string before = status_json();
  const std::string history = zdctl_ok({"--json", "history"});
  reshape_routes(state_dir(), {2, 8});

  Result refused = zdctl({"switch", "shop", "blue"});
  EXPECT_EQ(refused.code, 1);
  EXPECT_NE(refused.err.find("has layout version 2"), std::string::npos) << refused.err;
  EXPECT_NE(refused.err.find("run zdctl upgrade"), std::string::npos) << refused.err;

  ASSERT_NO_FATAL_FAILURE(upgrade_to_this_layout());
  EXPECT_EQ(status_json(), before) << "upgrade lost or changed something";
  EXPECT_EQ(zdctl_ok({"--json", "history"}), history);
  EXPECT_EQ(exchange(established, "ping", 10), "green:ping") << "established connection broke";
  EXPECT_EQ(greet(kV4), "green");

  EXPECT_EQ(json::parse(zdctl_ok({"--json", "revert", "shop"}))["to"], "blue");
  EXPECT_EQ(greet(kV4), "blue") << "the new program does not read the copied routes";
  EXPECT_NE(zdctl_ok({"upgrade"}).find("already running"), std::string::npos);
}

// A state a newer zdctl wrote, whose newer fields are all zero (nothing in
// it needs the newer layout): every command but upgrade refuses it and says
// whose it is; upgrade moves it back to this layout and keeps everything.
TEST_F(Layout, UpgradeMovesANewerStateBackWhenItFits) {
  zdctl_ok({"switch", "shop", "green"});
  const std::string before = status_json();
  reshape_routes(state_dir(), {ZD_LAYOUT_VERSION + 1, sizeof(zd_route) + 8});
  for (const auto &args :
       std::vector<std::vector<std::string>>{{"status"}, {"switch", "shop", "blue"}}) {
    Result r = zdctl(args);
    EXPECT_EQ(r.code, 1) << args[0];
    EXPECT_NE(r.err.find("has layout version " + std::to_string(ZD_LAYOUT_VERSION + 1) +
                         " but this zdctl speaks version " + std::to_string(ZD_LAYOUT_VERSION) +
                         ": use the newer zdctl that attached it (or zdctl upgrade"),
              std::string::npos)
        << r.err;
  }
  ASSERT_NO_FATAL_FAILURE(upgrade_to_this_layout());
  EXPECT_EQ(status_json(), before);
  zdctl_ok({"switch", "shop", "blue"});
  EXPECT_EQ(greet(kV4), "blue");
}

// A newer state this layout cannot hold (a newer field is set on shop's
// route): upgrade refuses, names the domain, and changes nothing: the same
// pins, the same layout, the same traffic.
TEST_F(Layout, UpgradeRefusesANewerStateItCannotHold) {
  zdctl_ok({"switch", "shop", "blue"});
  reshape_routes(state_dir(), {ZD_LAYOUT_VERSION + 1, sizeof(zd_route) + 8, /*shop*/ 1, 7});
  const uint32_t routes = id_of(pin("routes").get(), false);
  const uint32_t program = id_of(running_program().get(), true);
  for (const auto &args :
       std::vector<std::vector<std::string>>{{"upgrade"}, {"upgrade", "--force"}}) {
    Result r = zdctl(args);
    EXPECT_EQ(r.code, 1) << r.out;
    EXPECT_NE(r.err.find("cannot move this state to layout " + std::to_string(ZD_LAYOUT_VERSION) +
                         ": an entry of the routes map (domain 'shop') uses a field that layout " +
                         std::to_string(ZD_LAYOUT_VERSION) + " does not have; nothing was changed"),
              std::string::npos)
        << r.err;
  }
  EXPECT_EQ(id_of(pin("routes").get(), false), routes) << "the routes pin was replaced";
  EXPECT_EQ(id_of(running_program().get(), true), program) << "the program was replaced";
  EXPECT_EQ(route_value_size(), sizeof(zd_route) + 8);
  Fd config = pin("config");
  zd_config c{};
  uint32_t zero = 0;
  ASSERT_EQ(bpf_map_lookup_elem(config.get(), &zero, &c), 0);
  EXPECT_EQ(c.layout_version, ZD_LAYOUT_VERSION + 1u);
  const std::vector<std::string> names = pin_names();
  EXPECT_EQ(std::count(names.begin(), names.end(), "routes-upgrading"), 0) << "a pin was left";
  EXPECT_EQ(greet(kV4), "blue");
}

// Records a newer zdctl wrote: every command, upgrade included, refuses
// them, says whose they are, and changes nothing.
TEST_F(Layout, NewerRecordsAreRefusedByEveryCommand) {
  zdctl_ok({"switch", "shop", "blue"});
  auto refused_by_each = [&](const std::vector<std::vector<std::string>> &commands,
                             const std::string &message) {
    for (const auto &args : commands) {
      Result r = zdctl(args);
      EXPECT_EQ(r.code, 1) << args[0];
      EXPECT_NE(r.err.find(message), std::string::npos) << r.err;
    }
  };
  uint32_t zero = 0;
  Fd store = pin("store");
  StoreMeta meta{};
  ASSERT_EQ(bpf_map_lookup_elem(store.get(), &zero, &meta), 0);
  const StoreMeta records = meta;
  meta.record_version += 1;
  ASSERT_EQ(bpf_map_update_elem(store.get(), &zero, &meta, BPF_ANY), 0);
  refused_by_each({{"status"}, {"revert", "shop"}, {"upgrade"}, {"upgrade", "--force"}},
                  "it cannot hold them; use the newer zdctl that wrote them");
  ASSERT_EQ(bpf_map_lookup_elem(store.get(), &zero, &meta), 0);
  EXPECT_EQ(meta.record_version, records.record_version + 1) << "upgrade moved the records";
  ASSERT_EQ(bpf_map_update_elem(store.get(), &zero, &records, BPF_ANY), 0);
  EXPECT_EQ(greet(kV4), "blue") << "the refusals changed the route";
  EXPECT_EQ(json::parse(status_json())["domains"][0]["active"], "blue");
}

// Records of version 1 (before history and checks): every command refuses
// them and names the fix; upgrade adds the maps, writes the version last,
// and keeps the program, the routes and every connection.
TEST_F(Layout, UpgradeMovesRecordsOfVersionOneForward) {
  zdctl_ok({"switch", "shop", "green"});
  Conn established;
  ASSERT_EQ(connect_and_greet(kV4, kPort, established), ConnectError::none);
  const std::string before = status_json();
  set_record_version(1);
  unlink_records_of_version2();

  Result refused = zdctl({"history"});
  EXPECT_EQ(refused.code, 1);
  EXPECT_NE(refused.err.find("records at"), std::string::npos) << refused.err;
  EXPECT_NE(refused.err.find("run zdctl upgrade"), std::string::npos) << refused.err;
  EXPECT_EQ(exchange(established, "ping", 10), "green:ping") << "traffic does not wait for them";

  Result up = zdctl({"upgrade"});
  ASSERT_EQ(up.code, 0) << up.err;
  EXPECT_NE(up.out.find("records now have version 6"), std::string::npos) << up.out;
  EXPECT_EQ(status_json(), before);
  EXPECT_EQ(exchange(established, "ping", 10), "green:ping");
  zdctl_ok({"switch", "shop", "blue"});
  const json history = json::parse(zdctl_ok({"--json", "history"}))["history"];
  ASSERT_EQ(history.size(), 1u) << history.dump();
  EXPECT_EQ(history[0]["to"], "blue");
  EXPECT_NE(zdctl_ok({"metrics"}).find("zd_switches_total{domain=\"shop\",how=\"switch\"} 1\n"),
            std::string::npos);
  EXPECT_NE(zdctl_ok({"upgrade"}).find("already running"), std::string::npos);
}

// Records of version 3 (before health checks and canary orders): upgrade adds
// their maps, empty; a workspace can then be checked.
TEST_F(Layout, UpgradeMovesRecordsOfVersionThreeForward) {
  zdctl_ok({"switch", "shop", "green"});
  const std::string before = status_json();
  set_record_version(3);
  unlink_records_of_version4();
  Result refused = zdctl({"workspace", "set", "green", "--check", "tcp"});
  EXPECT_EQ(refused.code, 1);
  EXPECT_NE(refused.err.find("run zdctl upgrade"), std::string::npos) << refused.err;
  Result up = zdctl({"upgrade"});
  ASSERT_EQ(up.code, 0) << up.err;
  EXPECT_NE(up.out.find("records now have version 6"), std::string::npos) << up.out;
  EXPECT_EQ(status_json(), before);
  zdctl_ok({"workspace", "set", "green", "--check", "tcp"});
  EXPECT_EQ(json::parse(status_json())["workspaces"][1]["health"]["check"]["kind"], "tcp");
}

// Records of version 4 (ids found free by reading every id in use): upgrade
// indexes the domains by id and frees every id below the highest in use
// that no record holds, oldest first; what it said and serves is unchanged,
// and the next domains take the freed ids only after the fresh ones.
TEST_F(Layout, UpgradeMovesRecordsOfVersionFourForward) {
  zdctl_ok({"domain", "add", "a", "--listen", "tcp://10.99.0.2:80"});
  zdctl_ok({"domain", "add", "b", "--listen", "tcp://10.99.0.3:80"});
  zdctl_ok({"domain", "add", "c", "--listen", "tcp://10.99.0.4:80"});
  zdctl_ok({"domain", "rm", "a"});
  zdctl_ok({"switch", "shop", "green"});
  const std::string before = status_json();
  set_record_version(4);
  unlink_records_of_version5();
  Result up = zdctl({"upgrade"});
  ASSERT_EQ(up.code, 0) << up.err;
  EXPECT_NE(up.out.find("records now have version 6"), std::string::npos) << up.out;
  EXPECT_EQ(status_json(), before);
  // shop 1, a 2 (freed), b 3, c 4: the next fresh id is 5, then 2.
  zdctl_ok({"domain", "add", "d", "--listen", "tcp://10.99.0.5:80"});
  auto id_of_domain = [&](const std::string &name) {
    Fd names = pin("domain_names");
    char value[64];
    for (uint32_t key = 0, *at = nullptr; bpf_map_get_next_key(names.get(), at, &key) == 0;
         at = &key)
      if (bpf_map_lookup_elem(names.get(), &key, value) == 0 && name == value)
        return key;
    return 0u;
  };
  EXPECT_EQ(id_of_domain("d"), 5u);
  zdctl_ok({"switch", "b", "blue"}); // the history names b through the new index
  EXPECT_NE(zdctl_ok({"history", "b"}).find("blue"), std::string::npos);
}

// Records of version 5 (before the index of routes): upgrade builds it from
// the routes, so a workspace's removal finds the domains it serves.
TEST_F(Layout, UpgradeBuildsTheIndexOfRoutesOfVersionFive) {
  zdctl_ok({"domain", "add", "b", "--listen", "tcp://10.99.0.3:80"});
  zdctl_ok({"switch", "shop", "green"});
  zdctl_ok({"switch", "b", "blue"});
  zdctl_ok({"switch", "b", "green"});
  const std::string before = status_json();
  set_record_version(5);
  unlink_records_of_version6();
  Result up = zdctl({"upgrade"});
  ASSERT_EQ(up.code, 0) << up.err;
  EXPECT_NE(up.out.find("records now have version 6"), std::string::npos) << up.out;
  EXPECT_EQ(status_json(), before);
  Result refused = zdctl({"workspace", "rm", "green"});
  EXPECT_EQ(refused.code, 1);
  EXPECT_NE(refused.err.find("active for domain"), std::string::npos) << refused.err;
  // Forced, both domains fall back: shop to what it served before, b to blue.
  zdctl_ok({"workspace", "rm", "green", "--force"});
  const json status = json::parse(status_json());
  for (const auto &domain : status["domains"])
    EXPECT_EQ(domain["active"], domain["name"] == "b" ? json("blue") : json()) << domain.dump();
}

// Records of version 2 (before the switch counters): upgrade adds the
// "switches" map, empty, and keeps history; counting starts there.
TEST_F(Layout, UpgradeMovesRecordsOfVersionTwoForward) {
  zdctl_ok({"switch", "shop", "green"});
  Conn established;
  ASSERT_EQ(connect_and_greet(kV4, kPort, established), ConnectError::none);
  const std::string before = status_json();
  set_record_version(2);
  unlink_records_of_version3();

  Result refused = zdctl({"metrics"});
  EXPECT_EQ(refused.code, 1);
  EXPECT_NE(refused.err.find("run zdctl upgrade"), std::string::npos) << refused.err;

  Result up = zdctl({"upgrade"});
  ASSERT_EQ(up.code, 0) << up.err;
  EXPECT_NE(up.out.find("records now have version 6"), std::string::npos) << up.out;
  EXPECT_EQ(status_json(), before);
  EXPECT_EQ(exchange(established, "ping", 10), "green:ping");
  EXPECT_EQ(json::parse(zdctl_ok({"--json", "history"}))["history"].size(), 1u);
  zdctl_ok({"switch", "shop", "blue"});
  const std::string metrics = zdctl_ok({"metrics"});
  EXPECT_NE(metrics.find("zd_switches_total{domain=\"shop\",how=\"switch\"} 1\n"),
            std::string::npos)
      << metrics;
  EXPECT_NE(zdctl_ok({"upgrade"}).find("already running"), std::string::npos);
}

TEST_F(Layout, ATrailingSlashNamesTheSameState) {
  // Two spellings of one directory must be one lock: with two, attach and
  // detach would wait for themselves (the harness fails a run after 10 s).
  const std::string slashed = state_dir() + "/";
  Result attach = run({kZdctl, "--state", slashed, "attach"});
  EXPECT_EQ(attach.code, 0) << attach.err;
  EXPECT_NE(attach.out.find("already attached"), std::string::npos) << attach.out;
  Result status = run({kZdctl, "--state", slashed + "./", "status", "--json"});
  EXPECT_EQ(status.code, 0) << status.err;
  EXPECT_EQ(status.out, status_json());
  Result detach = run({kZdctl, "--state", slashed, "detach"});
  EXPECT_EQ(detach.code, 0) << detach.err;
  EXPECT_NE(zdctl({"status"}).err.find("not attached"), std::string::npos);
}

} // namespace
} // namespace zdtest
