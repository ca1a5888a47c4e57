// The records as read back from bpffs (user/state/record_convert.hpp): any
// bytes at all as a domain, a workspace or the journal's intent. The first
// input byte picks which; the rest fills the record, zero past the input.
// Whatever a record holds, reading it must not go out of bounds, and what
// it reads as must survive being written back and read again (the state's
// records are rewritten from the model on every change).
#include "fuzz.hpp"
#include "parse.hpp"
#include "record_convert.hpp"

namespace {

bool same(const zd::Domain &a, const zd::Domain &b) {
  return a.name == b.name && a.id == b.id && a.bindings == b.bindings;
}

bool same(const zd::Workspace &a, const zd::Workspace &b) {
  if (a.name != b.name || a.id != b.id || a.pid != b.pid || a.placement != b.placement ||
      a.sockets.size() != b.sockets.size())
    return false;
  for (size_t i = 0; i < a.sockets.size(); ++i)
    if (a.sockets[i].bound != b.sockets[i].bound || a.sockets[i].serves != b.sockets[i].serves ||
        a.sockets[i].cookie != b.sockets[i].cookie)
      return false;
  return true;
}

// What status, errors and the container plane do with a domain read back.
void use(const zd::Domain &domain) {
  ZD_EXPECT(domain.bindings.size() <= zd::kMaxBindingsPerDomain);
  for (const auto &binding : domain.bindings) {
    (void)zd::format_endpoint(binding);
    (void)zd::format_prefix(binding);
    for (const auto &other : domain.bindings)
      (void)binding.covers(other);
  }
}

void use(const zd::Workspace &workspace) {
  ZD_EXPECT(workspace.sockets.size() <= zd::kMaxSocketsPerWorkspace);
  for (const auto &socket : workspace.sockets) {
    (void)zd::format_endpoint(socket.bound);
    (void)socket.dual_stack();
  }
}

// Written back and read again, a value read once reads the same: nothing
// is lost or changed by a second round trip.
template <typename Model> void expect_stable(const Model &once) {
  const auto name = zd::record::to_name(once.name);
  const Model twice = zd::from_record(name, zd::to_record(once));
  const Model thrice = zd::from_record(name, zd::to_record(twice));
  ZD_EXPECT(same(twice, thrice));
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size == 0)
    return 0;
  const uint8_t kind = *data++ % 3;
  --size;
  if (kind == 0) {
    const auto name = zd_fuzz::bytes_as<zd::record::Name>(data, size);
    const auto r = zd_fuzz::bytes_as<zd::record::Domain>(data, size);
    const zd::Domain domain = zd::from_record(name, r);
    use(domain);
    expect_stable(domain);
  } else if (kind == 1) {
    const auto name = zd_fuzz::bytes_as<zd::record::Name>(data, size);
    const auto r = zd_fuzz::bytes_as<zd::record::Workspace>(data, size);
    const zd::Workspace workspace = zd::from_record(name, r);
    use(workspace);
    expect_stable(workspace);
  } else {
    const auto r = zd_fuzz::bytes_as<zd::record::Intent>(data, size);
    const auto intent = zd_fuzz::accepted([&] { return zd::from_record(r); });
    if (intent && *intent) {
      use((*intent)->domain);
      use((*intent)->workspace);
    }
  }
  return 0;
}
