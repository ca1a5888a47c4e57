// The XDP plane's attachment (issue 8, first step): `attach --xdp IFACE`
// puts zd's XDP program on an interface of this namespace, natively, pinned
// with the state; upgrade swaps it in place; detach takes it off.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_link.h>
#include <net/if.h>

#include <nlohmann/json.hpp>

#include "harness.hpp"
#include "zd_shared.h"

namespace zdtest {
namespace {

using json = nlohmann::json;

class XdpAttach : public NetnsTest {
protected:
  void SetUp() override {
    NetnsTest::SetUp();
    if (IsSkipped() || HasFatalFailure())
      return;
    for (const char *i : {"zdx0", "zdx1"}) {
      Result r =
          run({"ip", "link", "add", i, "type", "veth", "peer", "name", std::string(i) + "-p"});
      ASSERT_EQ(r.code, 0) << r.err;
    }
  }

  // The XDP program on an interface: its id and how it is attached.
  std::pair<uint32_t, int> xdp_on(const char *interface) {
    LIBBPF_OPTS(bpf_xdp_query_opts, opts);
    EXPECT_EQ(bpf_xdp_query(static_cast<int>(if_nametoindex(interface)), 0, &opts), 0);
    return {opts.attach_mode == XDP_ATTACHED_DRV ? opts.drv_prog_id : opts.skb_prog_id,
            opts.attach_mode};
  }

  uint32_t pinned_program_id() {
    Fd fd(bpf_obj_get((state_dir() + "/xdp_program").c_str()));
    bpf_prog_info info{};
    uint32_t len = sizeof(info);
    EXPECT_EQ(bpf_obj_get_info_by_fd(fd.get(), &info, &len), 0);
    return info.id;
  }
};

TEST_F(XdpAttach, SteersAtAnInterfaceNativelyUntilDetach) {
  json attached = json::parse(zdctl_ok({"--json", "attach", "--xdp", "zdx0"}));
  EXPECT_EQ(attached["changed"], true);
  EXPECT_EQ(attached["xdp_added"], json::array({"zdx0"}));
  auto [id, mode] = xdp_on("zdx0");
  EXPECT_EQ(mode, XDP_ATTACHED_DRV);
  EXPECT_EQ(id, pinned_program_id());
  EXPECT_EQ(xdp_on("zdx1").second, XDP_ATTACHED_NONE);

  // Again: nothing changes. Another interface on the attached state: added.
  EXPECT_EQ(json::parse(zdctl_ok({"--json", "attach", "--xdp", "zdx0"}))["changed"], false);
  EXPECT_EQ(
      json::parse(zdctl_ok({"--json", "attach", "--xdp", "zdx1", "--xdp-generic"}))["xdp_added"],
      json::array({"zdx1"}));
  EXPECT_EQ(xdp_on("zdx1").second, XDP_ATTACHED_SKB);

  // Status shows where it steers, in which mode, and the empty flow table.
  json xdp = json::parse(status_json())["xdp"];
  EXPECT_EQ(xdp["interfaces"], json::parse(R"([{"name":"zdx0","mode":"native"},
                                               {"name":"zdx1","mode":"generic"}])"));
  EXPECT_EQ(xdp["flows"]["entries"], 0);
  EXPECT_EQ(xdp["flows"]["capacity"], ZD_MAX_FLOWS);

  // Upgrade swaps the program under the same links.
  zdctl_ok({"upgrade", "--force"});
  EXPECT_NE(xdp_on("zdx0").first, id);
  EXPECT_EQ(xdp_on("zdx0").first, pinned_program_id());
  EXPECT_EQ(xdp_on("zdx0").second, XDP_ATTACHED_DRV);

  zdctl_ok({"detach"});
  EXPECT_EQ(xdp_on("zdx0").second, XDP_ATTACHED_NONE);
  EXPECT_EQ(xdp_on("zdx1").second, XDP_ATTACHED_NONE);
}

TEST_F(XdpAttach, AnUnknownInterfaceChangesNothing) {
  Result none = zdctl({"attach", "--xdp", "nope0"});
  EXPECT_EQ(none.code, 1);
  EXPECT_NE(none.err.find("no interface named 'nope0'"), std::string::npos) << none.err;
  EXPECT_NE(zdctl({"status"}).err.find("not attached"), std::string::npos)
      << "a refused attach made a state";

  zdctl_ok({"attach"});
  const std::string before = status_json();
  Result later = zdctl({"attach", "--xdp", "zdx0", "--xdp", "nope0"});
  EXPECT_EQ(later.code, 1);
  EXPECT_EQ(xdp_on("zdx0").second, XDP_ATTACHED_NONE) << "half the request was carried out";
  EXPECT_EQ(status_json(), before);
}

} // namespace
} // namespace zdtest
