// The operations of zd: what each zdctl command does to a state. Every
// method checks all of its input before its first write, so an error leaves
// the state as it was.
#pragma once

#include <string>
#include <vector>

#include "fd.hpp"
#include "parse.hpp"
#include "sockets.hpp"
#include "state.hpp"

namespace zd {

struct SocketStatus {
  Endpoint bound; // the socket's own family and address
  uint64_t cookie = 0;
  bool alive = false; // the kernel still holds this socket in the map
  uint8_t serves = 0; // the family it serves; 0: bound.family

  uint8_t serves_family() const { return serves ? serves : bound.family; }
  bool dual_stack() const { return serves_family() != bound.family; }
};

struct WorkspaceStatus {
  std::string name;
  uint32_t id = 0;
  uint32_t pid = 0; // 0 when registered with --fd
  std::vector<SocketStatus> sockets;
  zd_counters counters{};
};

struct DomainStatus {
  std::string name;
  uint32_t id = 0;
  std::vector<Endpoint> bindings;
  std::string active;   // "" when none
  std::string previous; // "" when none
  zd_counters counters{};
};

struct Status {
  std::vector<DomainStatus> domains;       // sorted by name
  std::vector<WorkspaceStatus> workspaces; // sorted by name
};

enum class Changed { yes, no };

struct SwitchResult {
  Changed changed;
  std::string from; // the workspace that was active ("" if none)
  std::string to;
};

class Zd {
public:
  explicit Zd(State &state) : state_(state), maps_(state.maps()) {}

  void add_domain(const std::string &name, const std::vector<Endpoint> &listen);
  void remove_domain(const std::string &name);

  // sockets: listening sockets already taken from the process (or inherited);
  // pid is recorded for status only (0 for inherited fds).
  void add_workspace(const std::string &name, uint32_t pid,
                     const std::vector<WorkspaceSocket> &sockets);
  void remove_workspace(const std::string &name, bool force);

  SwitchResult switch_to(const std::string &domain, const std::string &workspace, bool force);
  SwitchResult revert(const std::string &domain, bool force);

  Status status() const;

private:
  zd_domain_record find_domain(const std::string &name) const;
  zd_workspace_record find_workspace(const std::string &name) const;
  std::string domain_name(uint32_t id) const;
  std::string workspace_name(uint32_t id) const;
  bool socket_alive(uint32_t workspace, const zd_socket_record &socket) const;
  // Throws unless workspace has a live socket for every binding of domain.
  void require_live_sockets(const std::string &domain_name, const zd_domain_record &domain,
                            const std::string &workspace_name,
                            const zd_workspace_record &workspace) const;
  uint32_t allocate_id(bool domain);

  State &state_;
  Maps &maps_;
};

} // namespace zd
