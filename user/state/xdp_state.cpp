#include "xdp_state.hpp"

#include <bpf/bpf.h>
#include <dirent.h>
#include <linux/if_link.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <memory>
#include <spdlog/spdlog.h>

#include "error.hpp"

namespace zd::xdp_state {

namespace {

constexpr const char *kPinning = "-pinning"; // a pin under construction

bool exists(const std::string &path) {
  return access(path.c_str(), F_OK) == 0;
}

bool ends_with(const std::string &s, const std::string &suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::vector<std::string> entries(const std::string &dir) {
  std::vector<std::string> out;
  struct Closer {
    void operator()(DIR *d) const { closedir(d); }
  };
  std::unique_ptr<DIR, Closer> d(opendir(dir.c_str()));
  if (!d)
    return out;
  while (dirent *e = readdir(d.get()))
    if (e->d_name[0] != '.')
      out.emplace_back(e->d_name);
  return out;
}

// Pins fd at path whole or not at all: under a temporary name, then renamed.
void pin_atomically(int fd, const std::string &path) {
  const std::string tmp = path + kPinning;
  unlink(tmp.c_str());
  if (bpf_obj_pin(fd, tmp.c_str()) != 0)
    throw_errno("pinning " + path);
  if (rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    unlink(tmp.c_str());
    throw_errno("renaming " + tmp + " to " + path, err);
  }
}

uint32_t prog_id_of_link(int link) {
  bpf_link_info info{};
  uint32_t len = sizeof(info);
  if (bpf_obj_get_info_by_fd(link, &info, &len) != 0)
    throw_errno("reading an XDP link's info");
  return info.prog_id;
}

uint32_t prog_id(int program) {
  bpf_prog_info info{};
  uint32_t len = sizeof(info);
  if (bpf_obj_get_info_by_fd(program, &info, &len) != 0)
    throw_errno("reading the XDP program's info");
  return info.id;
}

std::string link_pin(const std::string &dir, int ifindex) {
  return dir + "/" + kLinkPrefix + std::to_string(ifindex);
}

} // namespace

void pin_program(const DataMaps &shared, const std::string &dir) {
  XdpProgram program = XdpProgram::load(shared, dir);
  program.pin_missing_maps(dir);
  if (!exists(dir + "/" + kProgramPin))
    pin_atomically(program.fd(), dir + "/" + kProgramPin);
}

std::vector<int> interfaces(const std::string &dir) {
  std::vector<int> out;
  for (const auto &name : entries(dir))
    if (name.rfind(kLinkPrefix, 0) == 0 && !ends_with(name, kPinning))
      out.push_back(std::atoi(name.c_str() + std::strlen(kLinkPrefix)));
  return out;
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
  // Killed before the rename, the link goes with this process (its fd);
  // the stray "-pinning" pin is dropped by tidy().
  pin_atomically(link.get(), pin);
  return true;
}

bool current(const DataMaps &shared, const std::string &dir) {
  Fd pinned(bpf_obj_get((dir + "/" + kProgramPin).c_str()));
  if (!pinned)
    return false;
  XdpProgram embedded = XdpProgram::load(shared, dir);
  bpf_prog_info a{}, b{};
  uint32_t len = sizeof(a);
  if (bpf_obj_get_info_by_fd(pinned.get(), &a, &len) != 0)
    throw_errno("reading the pinned XDP program's info");
  len = sizeof(b);
  if (bpf_obj_get_info_by_fd(embedded.fd(), &b, &len) != 0)
    throw_errno("reading the embedded XDP program's info");
  return std::memcmp(a.tag, b.tag, sizeof(a.tag)) == 0;
}

void upgrade(const DataMaps &shared, const std::string &dir) {
  XdpProgram program = XdpProgram::load(shared, dir);
  program.pin_missing_maps(dir);
  for (int ifindex : interfaces(dir)) {
    Fd link(bpf_obj_get(link_pin(dir, ifindex).c_str()));
    if (!link)
      throw_errno("opening " + link_pin(dir, ifindex));
    Fd running(bpf_prog_get_fd_by_id(prog_id_of_link(link.get())));
    if (!running)
      throw_errno("opening the program of " + link_pin(dir, ifindex));
    LIBBPF_OPTS(bpf_link_update_opts, opts, .flags = BPF_F_REPLACE,
                .old_prog_fd = static_cast<uint32_t>(running.get()));
    if (bpf_link_update(link.get(), program.fd(), &opts) != 0)
      throw_errno("replacing the program of " + link_pin(dir, ifindex));
  }
  // As for sk_lookup's program: pinned beside, then renamed over.
  const std::string fresh = dir + "/" + kProgramUpgradingPin;
  unlink(fresh.c_str());
  if (bpf_obj_pin(program.fd(), fresh.c_str()) != 0)
    throw_errno("pinning the new XDP program");
  if (rename(fresh.c_str(), (dir + "/" + kProgramPin).c_str()) != 0) {
    const int err = errno;
    unlink(fresh.c_str());
    throw_errno("renaming " + fresh, err);
  }
}

void detach_all(const std::string &dir) {
  for (int ifindex : interfaces(dir)) {
    Fd link(bpf_obj_get(link_pin(dir, ifindex).c_str()));
    if (link && bpf_link_detach(link.get()) != 0 && errno != ENOLINK && errno != EINVAL)
      spdlog::warn("could not detach the XDP link of interface {}: {}", ifindex,
                   std::strerror(errno));
  }
}

bool untidy(const std::string &dir) {
  for (const auto &name : entries(dir))
    if (ends_with(name, kPinning) || name == kProgramUpgradingPin)
      return true;
  return false;
}

void tidy(const std::string &dir) {
  for (const auto &name : entries(dir))
    if (ends_with(name, kPinning))
      unlink((dir + "/" + name).c_str()); // its rename never happened: as if never made
  const std::string fresh = dir + "/" + kProgramUpgradingPin;
  Fd candidate(bpf_obj_get(fresh.c_str()));
  if (!candidate)
    return;
  // Keep it if any interface runs it (the upgrade got that far), or if there
  // is no other pin of the program.
  bool runs = !exists(dir + "/" + kProgramPin);
  for (int ifindex : interfaces(dir)) {
    Fd link(bpf_obj_get(link_pin(dir, ifindex).c_str()));
    runs |= link && prog_id_of_link(link.get()) == prog_id(candidate.get());
  }
  if (runs ? rename(fresh.c_str(), (dir + "/" + kProgramPin).c_str()) : unlink(fresh.c_str()))
    throw_errno("finishing the interrupted XDP upgrade in " + dir);
}

} // namespace zd::xdp_state
