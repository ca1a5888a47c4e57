// The BPF map keys of the model: how a binding and a workspace's socket are
// spelled in the maps of bpf/zd_shared.h. The planes own this translation;
// the core never sees a BPF key.
#pragma once

#include <cstdint>

#include "model.hpp"
#include "zd_shared.h"

namespace zd {

// The LPM-trie form of a binding; host bits beyond the prefix are zeroed.
// An exact binding's .binding is its key in the hash.
zd_prefix_key binding_key(const Endpoint &binding);
Endpoint binding_of(const zd_prefix_key &key);
// True when the key names one address (it goes in the hash, not the trie).
bool is_exact_key(const zd_prefix_key &key);

// plane: ZD_PLANE_HOST for a workspace of this namespace, ZD_PLANE_XDP for
// one in its own (bpf/zd_shared.h says why they are kept apart).
zd_socket_key socket_key(uint32_t workspace, uint8_t protocol, uint8_t family,
                         uint8_t plane = ZD_PLANE_HOST);

Counters counters_of(const zd_counters &counters);

} // namespace zd
