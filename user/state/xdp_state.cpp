#include "xdp_state.hpp"

#include <bpf/bpf.h>
#include <linux/if_link.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <memory>
#include <spdlog/spdlog.h>

#include "error.hpp"
#include "pins.hpp"

namespace zd::xdp_state {

namespace {

using pins::exists;

std::string link_pin(const std::string &dir, int ifindex) {
  return dir + "/" + kLinkPrefix + std::to_string(ifindex);
}

} // namespace

void pin_program(const DataMaps &shared, const std::string &dir) {
  XdpProgram program = XdpProgram::load(shared, dir);
  program.pin_missing_maps(dir);
  if (!exists(dir + "/" + kProgramPin))
    pin_whole(program.fd(), dir + "/" + kProgramPin);
}

bool attach_interface(const std::string &dir, const std::string &name, int ifindex, XdpMode mode) {
  const std::string pin = link_pin(dir, ifindex);
  if (exists(pin))
    return false;
  Fd program(bpf_obj_get((dir + "/" + kProgramPin).c_str()));
  if (!program)
    throw_errno("opening the pinned XDP program in " + dir);
  const uint32_t flags = mode == XdpMode::native ? XDP_FLAGS_DRV_MODE : XDP_FLAGS_SKB_MODE;
  LIBBPF_OPTS(bpf_link_create_opts, opts, .flags = flags);
  Fd link(bpf_link_create(program.get(), ifindex, BPF_XDP, &opts));
  if (!link && errno == EBUSY)
    throw Error(Errc::busy,
                "interface " + name + " already runs another XDP program; detach that first");
  if (!link && (errno == EOPNOTSUPP || errno == EINVAL) && mode == XdpMode::native)
    throw Error(Errc::refused, "interface " + name + " has no native XDP support", Override::force);
  if (!link)
    throw_errno("attaching XDP to interface " + name);
  // Killed before the rename, the link goes with this process (its fd) and
  // the stray pin is dropped by the next zdctl (State::open).
  pin_whole(link.get(), pin);
  return true;
}

static bool counters_outgrown(const std::string &dir);

bool current(const DataMaps &shared, const std::string &dir) {
  Fd pinned(bpf_obj_get((dir + "/" + kProgramPin).c_str()));
  if (!pinned)
    return false;
  if (counters_outgrown(dir))
    return false; // the embedded program could not even load against them
  XdpProgram embedded = XdpProgram::load(shared, dir);
  auto tag_of = [](int fd, bpf_prog_info &info) {
    uint32_t len = sizeof(info);
    if (bpf_obj_get_info_by_fd(fd, &info, &len) != 0)
      throw_errno("reading the XDP program's info");
  };
  bpf_prog_info a{}, b{};
  tag_of(pinned.get(), a);
  tag_of(embedded.fd(), b);
  return std::memcmp(a.tag, b.tag, sizeof(a.tag)) == 0;
}

// The counters gained a field (flows_added) after the first XDP plane: an
// older pinned counters map cannot serve the new program, so it makes way
// for a new one (its counts restart; the old program keeps its own map
// until its link is updated, so a zdctl killed in between cuts nothing).
static bool counters_outgrown(const std::string &dir) {
  const char *pin = kXdpMaps[static_cast<size_t>(XdpMap::stats)].pin;
  Fd map(bpf_obj_get((dir + "/" + pin).c_str()));
  bpf_map_info info{};
  uint32_t len = sizeof(info);
  return map && bpf_obj_get_info_by_fd(map.get(), &info, &len) == 0 &&
         info.value_size != sizeof(zd_xdp_counters);
}

static void drop_outgrown_counters(const std::string &dir) {
  if (!counters_outgrown(dir))
    return;
  spdlog::info("the XDP counters map has an older shape: its counts restart");
  const char *pin = kXdpMaps[static_cast<size_t>(XdpMap::stats)].pin;
  if (unlink((dir + "/" + pin).c_str()) != 0 && errno != ENOENT)
    throw_errno(std::string("removing ") + dir + "/" + pin);
}

void upgrade(const DataMaps &shared, const std::string &dir) {
  drop_outgrown_counters(dir);
  XdpProgram program = XdpProgram::load(shared, dir);
  program.pin_missing_maps(dir);
  for (int ifindex : xdp_interfaces(dir)) {
    Fd link(bpf_obj_get(link_pin(dir, ifindex).c_str()));
    if (!link)
      throw_errno("opening " + link_pin(dir, ifindex));
    Fd running(bpf_prog_get_fd_by_id(pins::program_of_link(link.get())));
    if (!running)
      throw_errno("opening the program of " + link_pin(dir, ifindex));
    LIBBPF_OPTS(bpf_link_update_opts, opts, .flags = BPF_F_REPLACE,
                .old_prog_fd = static_cast<uint32_t>(running.get()));
    if (bpf_link_update(link.get(), program.fd(), &opts) != 0)
      throw_errno("replacing the program of " + link_pin(dir, ifindex));
  }
  // As for sk_lookup's program: pinned beside, then renamed over.
  pin_whole(program.fd(), dir + "/" + kProgramPin, dir + "/" + kProgramUpgradingPin);
}

void detach_all(const std::string &dir) {
  for (int ifindex : xdp_interfaces(dir)) {
    Fd link(bpf_obj_get(link_pin(dir, ifindex).c_str()));
    if (link && bpf_link_detach(link.get()) != 0 && errno != ENOLINK && errno != EINVAL)
      spdlog::warn("could not detach the XDP link of interface {}: {}", ifindex,
                   std::strerror(errno));
  }
}

std::vector<std::string> link_pins(const std::string &dir) {
  std::vector<std::string> out;
  for (int ifindex : xdp_interfaces(dir))
    out.push_back(link_pin(dir, ifindex));
  return out;
}

} // namespace zd::xdp_state
