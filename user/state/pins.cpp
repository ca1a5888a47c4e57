#include "pins.hpp"

#include <bpf/bpf.h>
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <memory>

#include "error.hpp"
#include "fd.hpp"

namespace zd::pins {

bool exists(const std::string &path) {
  struct stat st {};
  return lstat(path.c_str(), &st) == 0;
}

std::vector<std::string> names_in(const std::string &dir) {
  struct Closer {
    void operator()(DIR *d) const { closedir(d); }
  };
  std::vector<std::string> out;
  std::unique_ptr<DIR, Closer> d(opendir(dir.c_str()));
  if (!d)
    return out;
  while (dirent *e = readdir(d.get()))
    if (std::string name = e->d_name; name != "." && name != "..")
      out.push_back(std::move(name));
  return out;
}

bool ends_with(const std::string &name, const std::string &suffix) {
  return name.size() >= suffix.size() &&
         name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
}

uint32_t program_id(int program_fd) {
  bpf_prog_info info{};
  uint32_t len = sizeof(info);
  if (bpf_obj_get_info_by_fd(program_fd, &info, &len) != 0)
    throw_errno("reading a program's info");
  return info.id;
}

uint32_t program_of_link(int link_fd) {
  bpf_link_info info{};
  uint32_t len = sizeof(info);
  if (bpf_obj_get_info_by_fd(link_fd, &info, &len) != 0)
    throw_errno("reading a link's info");
  return info.prog_id;
}

bool settle_upgrade(const std::string &fresh, const std::string &final,
                    const std::vector<std::string> &links) {
  Fd candidate(bpf_obj_get(fresh.c_str()));
  if (!candidate)
    return false;
  bool keep = !exists(final);
  for (const auto &path : links) {
    Fd link(bpf_obj_get(path.c_str()));
    keep |= link && program_of_link(link.get()) == program_id(candidate.get());
  }
  if (keep ? rename(fresh.c_str(), final.c_str()) : unlink(fresh.c_str()))
    throw_errno("settling the interrupted upgrade's " + fresh);
  return keep;
}

} // namespace zd::pins
