// The Prometheus exposition of a state (user/core/metrics.cpp): every family
// with HELP and TYPE, the series each status field becomes, label values
// escaped, and promtool's parser agreeing that it is the text format.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include "metrics.hpp"
#include "parse.hpp"
#include "process.hpp"

namespace {

using zd::AllowPrefix;
using zd::parse_endpoint;

zd::SocketStatus socket(const std::string &address, uint8_t serves, bool alive) {
  zd::SocketStatus s;
  s.socket.bound = parse_endpoint(address, AllowPrefix::no);
  s.socket.serves = serves;
  s.alive = alive;
  return s;
}

zd::Status sample() {
  zd::Status status;
  zd::DomainStatus shop;
  shop.name = "shop";
  shop.active = "green";
  shop.previous = "blue";
  shop.counters = {10, 7, 2, 1};
  shop.canary = "blue";
  shop.canary_weight = 25;
  zd::DomainStatus idle; // no workspace yet
  idle.name = "idle";
  status.domains = {idle, shop};

  zd::WorkspaceStatus blue;
  blue.name = "blue";
  blue.counters = {3, 1, 2, 0};
  blue.sockets = {socket("tcp://127.0.0.1:3001", AF_INET, true),
                  socket("tcp://[::]:3001", AF_INET6, false)};
  blue.connections = {{"shop", 5}};
  zd::WorkspaceStatus green;
  green.name = "green";
  green.counters = {8, 6, 0, 2};
  green.sockets = {socket("tcp://[::]:3002", AF_INET6, true),
                   socket("tcp://[::]:3002", AF_INET, true)}; // dual-stack: serves both
  green.connections = {{"shop", 12}, {"idle", 0}};
  status.workspaces = {blue, green};
  return status;
}

const std::vector<zd::SwitchTotal> kSwitches = {{"shop", zd::How::switch_to, 4},
                                                {"shop", zd::How::revert, 1},
                                                {"shop", zd::How::force, 0},
                                                {"shop", zd::How::fallback, 0}};

// "name{labels}" -> value, and name -> type, from the rendered text.
struct Parsed {
  std::map<std::string, std::string> samples;
  std::map<std::string, std::string> types;
  std::map<std::string, std::string> helps;
};

Parsed parse(const std::string &text) {
  Parsed out;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("# TYPE ", 0) == 0) {
      const size_t space = line.find(' ', 7);
      out.types[line.substr(7, space - 7)] = line.substr(space + 1);
    } else if (line.rfind("# HELP ", 0) == 0) {
      const size_t space = line.find(' ', 7);
      out.helps[line.substr(7, space - 7)] = line.substr(space + 1);
    } else {
      const size_t space = line.rfind(' ');
      EXPECT_TRUE(out.samples.emplace(line.substr(0, space), line.substr(space + 1)).second)
          << "a series twice: " << line;
    }
  }
  return out;
}

std::string render() {
  return zd::render_metrics(sample(), kSwitches, {"1.2.3", 2});
}

TEST(Metrics, EveryFamilyHasHelpAndType) {
  const Parsed parsed = parse(render());
  const std::map<std::string, std::string> expected = {
      {"zd_build_info", "gauge"},
      {"zd_lookups_total", "counter"},
      {"zd_steered_total", "counter"},
      {"zd_fallbacks_total", "counter"},
      {"zd_drops_total", "counter"},
      {"zd_domain_active", "gauge"},
      {"zd_domain_canary_weight", "gauge"},
      {"zd_workspace_socket_alive", "gauge"},
      {"zd_workspace_connections", "gauge"},
      {"zd_workspace_healthy", "gauge"},
      {"zd_workspace_health_changed_seconds", "gauge"},
      {"zd_switches_total", "counter"}};
  EXPECT_EQ(parsed.types, expected);
  for (const auto &[name, type] : expected)
    EXPECT_FALSE(parsed.helps.at(name).empty()) << name;
  // An empty state still declares every family: dashboards see zd is there.
  EXPECT_EQ(parse(zd::render_metrics({}, {}, {"1.2.3", 2})).types, expected);
}

TEST(Metrics, SeriesCarryTheStatus) {
  const auto s = parse(render()).samples;
  EXPECT_EQ(s.at(R"(zd_build_info{version="1.2.3",layout="2"})"), "1");
  // Per domain, then per workspace: the empty label tells which.
  EXPECT_EQ(s.at(R"(zd_lookups_total{domain="shop",workspace=""})"), "10");
  EXPECT_EQ(s.at(R"(zd_steered_total{domain="shop",workspace=""})"), "7");
  EXPECT_EQ(s.at(R"(zd_fallbacks_total{domain="shop",workspace=""})"), "2");
  EXPECT_EQ(s.at(R"(zd_drops_total{domain="shop",workspace=""})"), "1");
  EXPECT_EQ(s.at(R"(zd_lookups_total{domain="idle",workspace=""})"), "0");
  EXPECT_EQ(s.at(R"(zd_lookups_total{domain="",workspace="blue"})"), "3");
  EXPECT_EQ(s.at(R"(zd_fallbacks_total{domain="",workspace="blue"})"), "2");
  EXPECT_EQ(s.at(R"(zd_drops_total{domain="",workspace="green"})"), "2");
  // Active 1, previous 0; a domain served by none says so.
  EXPECT_EQ(s.at(R"(zd_domain_active{domain="shop",workspace="green"})"), "1");
  EXPECT_EQ(s.at(R"(zd_domain_active{domain="shop",workspace="blue"})"), "0");
  EXPECT_EQ(s.at(R"(zd_domain_active{domain="idle",workspace=""})"), "1");
  // A canary's weight; no sample for a domain without one.
  EXPECT_EQ(s.at(R"(zd_domain_canary_weight{domain="shop",workspace="blue"})"), "25");
  EXPECT_EQ(s.count(R"(zd_domain_canary_weight{domain="idle",workspace=""})"), 0u);
  EXPECT_EQ(s.at(R"(zd_workspace_socket_alive{workspace="blue",protocol="tcp",family="ipv4"})"),
            "1");
  EXPECT_EQ(s.at(R"(zd_workspace_socket_alive{workspace="blue",protocol="tcp",family="ipv6"})"),
            "0");
  EXPECT_EQ(s.at(R"(zd_workspace_socket_alive{workspace="green",protocol="tcp",family="ipv4"})"),
            "1");
  EXPECT_EQ(s.at(R"(zd_workspace_connections{workspace="blue",domain="shop"})"), "5");
  EXPECT_EQ(s.at(R"(zd_workspace_connections{workspace="green",domain="shop"})"), "12");
  EXPECT_EQ(s.at(R"(zd_workspace_connections{workspace="green",domain="idle"})"), "0");
  EXPECT_EQ(s.at(R"(zd_switches_total{domain="shop",how="switch"})"), "4");
  EXPECT_EQ(s.at(R"(zd_switches_total{domain="shop",how="revert"})"), "1");
  EXPECT_EQ(s.at(R"(zd_switches_total{domain="shop",how="fallback"})"), "0");
  EXPECT_EQ(s.size(), 32u) << "a series more or less than the status holds";
}

TEST(Metrics, LabelValuesAreEscaped) {
  EXPECT_EQ(zd::escape_label_value("plain-name_1.0"), "plain-name_1.0");
  EXPECT_EQ(zd::escape_label_value(R"(a\b"c)"
                                   "\n"
                                   "d"),
            R"(a\\b\"c\nd)");
  zd::Status status;
  zd::DomainStatus odd;
  odd.name = "say \"hi\"\\\n";
  status.domains = {odd};
  const std::string text = zd::render_metrics(status, {}, {"0\"1", 2});
  EXPECT_NE(text.find(R"(zd_domain_active{domain="say \"hi\"\\\n",workspace=""} 1)"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find(R"(zd_build_info{version="0\"1",layout="2"} 1)"), std::string::npos);
  EXPECT_EQ(text.find("\"\n"), std::string::npos) << "a raw newline inside a label value";
}

// The real parser: promtool (Debian's prometheus package, which
// scripts/deps.sh installs) reads the text and finds no problem with it.
TEST(Metrics, PromtoolAcceptsIt) {
  if (access("/usr/bin/promtool", X_OK) != 0)
    GTEST_SKIP() << "promtool is not installed (apt-get install prometheus)";
  zd::Status status = sample();
  status.domains[0].name = "odd \"quoted\" \\ name\nwith newline";
  const std::string path = ::testing::TempDir() + "zd-metrics-unit.prom";
  std::ofstream(path) << zd::render_metrics(status, kSwitches, {"1.2.3", 2});
  const zdtest::Result r = zdtest::run({"/bin/sh", "-c", "promtool check metrics < " + path});
  std::remove(path.c_str());
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_EQ(r.out + r.err, "") << "promtool's lint found something";
}

} // namespace
