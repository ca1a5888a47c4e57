// ControlPlane::place against the fakes: the cluster's picture of where
// workspaces run made into node ids and Maglev tables (issue 21). What the
// XDP plane does with them is proved by tests/bpf/forward_test.cpp and, on
// real hosts, tests/cluster/forward.sh.
#include <gtest/gtest.h>

#include <set>

#include "control.hpp"
#include "fakes.hpp"
#include "maglev.hpp"
#include "parse.hpp"

namespace {

using zd_test::FakeDataplane;
using zd_test::FakeStore;

zd::FabricNode host(const std::string &name, uint8_t last) {
  return {name, std::array<uint8_t, 4>{10, 77, 0, last}, std::nullopt};
}

class Placement : public ::testing::Test {
protected:
  zd::Fabric fabric(std::map<std::string, std::vector<std::string>> instances,
                    std::vector<std::string> others = {"b", "c"}) {
    zd::Fabric f;
    f.self = host("a", 1);
    for (const auto &name : others)
      f.nodes.push_back(host(name, name == "b" ? 2 : 3));
    f.instances = std::move(instances);
    return f;
  }
  std::set<uint16_t> nodes_in(const std::string &workspace) {
    const auto &table = plane.tables_.at(store.workspace(workspace)->id).table;
    return {table.begin(), table.end()};
  }

  FakeStore store;
  FakeDataplane plane;
  zd::ControlPlane control{store, plane};
};

TEST_F(Placement, AWorkspaceOfOtherHostsIsRegisteredWithNoSocketAndATableOfThem) {
  EXPECT_EQ(control.place(fabric({{"green", {"b", "c"}}})), std::vector<std::string>{"green"});
  const auto green = store.workspace("green");
  ASSERT_TRUE(green);
  EXPECT_EQ(green->placement, zd::Placement::other_hosts);
  EXPECT_TRUE(green->sockets.empty());
  const zd::InstanceTable &table = plane.tables_.at(green->id);
  EXPECT_EQ(table.table.size(), zd::kMaglevTableSize);
  EXPECT_FALSE(table.local);
  EXPECT_EQ(nodes_in("green"), (std::set<uint16_t>{1, 2})) << "b and c, never this host (0)";
  EXPECT_EQ(plane.nodes_.at(0).name, "a");
  EXPECT_EQ(plane.nodes_.at(1).name, "b");
  EXPECT_EQ(plane.nodes_.at(2).name, "c");
}

TEST_F(Placement, InstancesAllHereNeedNoTableAndALocalOneJoinsTheOthers) {
  control.place(fabric({{"blue", {"a"}}, {"green", {"a", "b"}}}));
  EXPECT_FALSE(store.workspace("blue")) << "all of blue is here: nothing to register";
  ASSERT_TRUE(store.workspace("green"));
  EXPECT_TRUE(plane.tables_.at(store.workspace("green")->id).local);
  EXPECT_EQ(nodes_in("green"), (std::set<uint16_t>{0, 1}));
}

TEST_F(Placement, NothingChangedWritesNothing) {
  const auto f = fabric({{"green", {"b", "c"}}});
  control.place(f);
  const size_t writes = plane.writes + store.writes;
  EXPECT_TRUE(control.place(f).empty());
  EXPECT_EQ(plane.writes + store.writes, writes);
}

TEST_F(Placement, AHostGoneLeavesTheTablesButKeepsItsId) {
  control.place(fabric({{"green", {"b", "c"}}}));
  control.place(fabric({{"green", {"b", "c"}}}, {"c"})); // b's lease expired
  EXPECT_EQ(nodes_in("green"), (std::set<uint16_t>{2})) << "only c";
  EXPECT_EQ(plane.nodes_.at(1).name, "b") << "flows may still name b's id";
  control.place(fabric({{"green", {"b", "c"}}, {"red", {"d"}}}, {"b", "c", "d"}));
  EXPECT_EQ(nodes_in("green"), (std::set<uint16_t>{1, 2}));
  EXPECT_EQ(plane.nodes_.at(3).name, "d") << "a new host, a new id";
}

TEST_F(Placement, AWorkspaceWithNoInstanceElsewhereLosesItsTable) {
  control.place(fabric({{"green", {"b"}}}));
  const uint32_t green = store.workspace("green")->id;
  control.place(fabric({}));
  EXPECT_FALSE(plane.tables_.count(green)) << "not alive anywhere: a route passes it over";
  EXPECT_TRUE(store.workspace("green")) << "the record stays: a route may name it";
}

TEST_F(Placement, OneInstanceMoreMovesAboutAThirdOfTheSlots) {
  control.place(fabric({{"green", {"b", "c"}}}));
  const auto before = plane.tables_.at(store.workspace("green")->id).table;
  control.place(fabric({{"green", {"a", "b", "c"}}}));
  const auto after = plane.tables_.at(store.workspace("green")->id).table;
  size_t moved = 0;
  for (size_t i = 0; i < before.size(); ++i)
    moved += before[i] != after[i];
  EXPECT_NEAR(static_cast<double>(moved) / static_cast<double>(before.size()), 1.0 / 3, 0.05);
}

} // namespace
