// The "routed" map: which domains' routes name each workspace (the layout
// is in records.hpp, the contract in core Store::routed_to).
#include "records.hpp"

#include <map>

namespace zd {

namespace {

using record::RoutedKey;

RoutedKey count_key(uint32_t workspace) {
  return {workspace, record::kRoutedCount, 0};
}
RoutedKey slot_key(uint32_t workspace, uint32_t slot) {
  return {workspace, record::kRoutedSlot, slot};
}
RoutedKey domain_key(uint32_t workspace, uint32_t domain) {
  return {workspace, record::kRoutedDomain, domain};
}
constexpr RoutedKey kBuiltKey{kNoId, record::kRoutedBuilt, 0};

} // namespace

std::vector<uint32_t> BpfStore::routed_to(uint32_t workspace) const {
  const BpfMap &index = map(RecordMap::routed);
  uint32_t count = 0;
  index.lookup(count_key(workspace), count);
  std::vector<uint32_t> domains;
  domains.reserve(count);
  for (uint32_t slot = 0; slot < count; ++slot)
    if (uint32_t domain = 0; index.lookup(slot_key(workspace, slot), domain))
      domains.push_back(domain);
  return domains;
}

// Into the next slot: the count, which makes it visible, is written last.
void BpfStore::index_route(uint32_t workspace, uint32_t domain) {
  BpfMap &index = map(RecordMap::routed);
  if (uint32_t slot = 0; index.lookup(domain_key(workspace, domain), slot))
    return;
  uint32_t count = 0;
  index.lookup(count_key(workspace), count);
  index.update(slot_key(workspace, count), domain);
  index.update(domain_key(workspace, domain), count);
  index.update(count_key(workspace), count + 1);
}

// The domain in the last slot moves into the one freed; a workspace no
// route names keeps no count.
void BpfStore::unindex_route(uint32_t workspace, uint32_t domain) {
  BpfMap &index = map(RecordMap::routed);
  uint32_t slot = 0, count = 0;
  if (!index.lookup(domain_key(workspace, domain), slot) ||
      !index.lookup(count_key(workspace), count) || count == 0)
    return;
  const uint32_t last = count - 1;
  if (slot != last) {
    uint32_t moved = domain;
    index.lookup(slot_key(workspace, last), moved);
    index.update(slot_key(workspace, slot), moved);
    index.update(domain_key(workspace, moved), slot);
  }
  if (last == 0)
    index.erase(count_key(workspace));
  else
    index.update(count_key(workspace), last);
  index.erase(slot_key(workspace, last));
  index.erase(domain_key(workspace, domain));
}

bool BpfStore::route_index_built() const {
  uint32_t built = 0;
  return map(RecordMap::routed).lookup(kBuiltKey, built) && built == 1;
}

// Unmarked first, so a rebuild cut short is done again; emptied and filled
// in batches (at 100,000 domains a write each would take most of a second).
void BpfStore::rebuild_route_index(const std::vector<std::pair<uint32_t, Route>> &routes) {
  BpfMap &index = map(RecordMap::routed);
  index.erase(kBuiltKey);
  std::vector<RoutedKey> stale;
  for (const auto &[key, value] : index.entries<RoutedKey, uint32_t>())
    stale.push_back(key);
  index.erase_all(stale);

  std::map<uint32_t, std::vector<uint32_t>> domains_of;
  for (const auto &[domain, route] : routes)
    for (uint32_t workspace : route.workspaces())
      domains_of[workspace].push_back(domain);
  std::vector<RoutedKey> keys;
  std::vector<uint32_t> values;
  for (const auto &[workspace, domains] : domains_of) {
    for (uint32_t slot = 0; slot < domains.size(); ++slot) {
      keys.push_back(slot_key(workspace, slot));
      values.push_back(domains[slot]);
      keys.push_back(domain_key(workspace, domains[slot]));
      values.push_back(slot);
    }
    keys.push_back(count_key(workspace));
    values.push_back(static_cast<uint32_t>(domains.size()));
  }
  index.update_all(keys, values);
  index.update(kBuiltKey, uint32_t{1});
}

} // namespace zd
