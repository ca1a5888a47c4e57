// Finding the veth into a workspace's network namespace (user/host/veth.*),
// the first thing the XDP plane needs of a container workspace: real
// namespaces, real veths, both ends' indexes and MACs as `ip` reports them.
#include <net/if.h>

#include "error.hpp"
#include "harness.hpp"
#include "veth.hpp"

namespace zdtest {
namespace {

class Veth : public NetnsTest {};

std::string mac_text(const zd::Mac &mac) {
  char buf[18];
  std::snprintf(buf, sizeof(buf), "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3],
                mac[4], mac[5]);
  return buf;
}

// "link/ether MAC" of an interface, as ip prints it (ARGS select the netns).
std::string ip_mac(std::vector<std::string> argv) {
  Result r = run(argv);
  const auto at = r.out.find("link/ether ");
  return at == std::string::npos ? "?" : r.out.substr(at + 11, 17);
}

TEST_F(Veth, FindsTheVethIntoAProcesssNamespace) {
  // A workspace in a namespace of its own, reached by one veth.
  Echo ws = start_echo("ws", {"127.0.0.1:3001"}, {"unshare", "-n"});
  const std::string pid = std::to_string(ws.pid());
  ASSERT_EQ(
      run({"ip", "link", "add", "zdh0", "type", "veth", "peer", "name", "zdc0", "netns", pid}).code,
      0);
  // Another veth that stays in this namespace must not be taken for it.
  ASSERT_EQ(run({"ip", "link", "add", "zdh1", "type", "veth", "peer", "name", "zdc1"}).code, 0);

  const auto pairs = zd::veths_into(ws.pid());
  ASSERT_EQ(pairs.size(), 1u);
  EXPECT_EQ(pairs[0].host_name, "zdh0");
  EXPECT_EQ(pairs[0].host_ifindex, static_cast<int>(if_nametoindex("zdh0")));
  EXPECT_EQ(mac_text(pairs[0].host_mac), ip_mac({"ip", "link", "show", "zdh0"}));
  EXPECT_EQ(mac_text(pairs[0].peer_mac),
            ip_mac({"nsenter", "-t", pid, "-n", "ip", "link", "show", "zdc0"}));
  // (/sys shows this mount namespace's view: the index is read through ip.)
  Result shown = run({"nsenter", "-t", pid, "-n", "ip", "-o", "link", "show", "zdc0"});
  EXPECT_EQ(shown.out.rfind(std::to_string(pairs[0].peer_ifindex) + ": zdc0", 0), 0u) << shown.out;
}

TEST_F(Veth, NoVethLeadsIntoTheSameNamespaceOrOneWithoutAny) {
  EXPECT_TRUE(zd::veths_into(getpid()).empty());
  Echo alone = start_echo("alone", {"127.0.0.1:3001"}, {"unshare", "-n"});
  EXPECT_TRUE(zd::veths_into(alone.pid()).empty());
}

TEST_F(Veth, AProcessThatIsGoneIsNotFound) {
  Child dead = spawn({"true"});
  const pid_t pid = dead.pid();
  ASSERT_EQ(dead.wait(5s), 0);
  try {
    zd::veths_into(pid);
    ADD_FAILURE() << "no error for a dead pid";
  } catch (const zd::Error &e) {
    EXPECT_EQ(e.kind(), zd::Errc::not_found) << e.what();
  }
}

} // namespace
} // namespace zdtest
