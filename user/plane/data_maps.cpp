#include "data_maps.hpp"

#include <bpf/libbpf.h>
#include <fcntl.h>
#include <unistd.h>

namespace zd {

DataMaps DataMaps::from_object(bpf_object *object) {
  DataMaps maps;
  for (size_t i = 0; i < kDataMaps.size(); ++i) {
    bpf_map *map = bpf_object__find_map_by_name(object, kDataMaps[i].object);
    if (!map)
      throw Error(Errc::kernel,
                  std::string("embedded BPF object lacks map ") + kDataMaps[i].object);
    Fd fd(fcntl(bpf_map__fd(map), F_DUPFD_CLOEXEC, 3));
    if (!fd)
      throw_errno("duplicating map fd");
    maps.maps_[i] = BpfMap(std::move(fd), kDataMaps[i].pin);
  }
  return maps;
}

DataMaps DataMaps::from_pins(const std::string &dir, OpenFor open_for, bool missing_ok) {
  DataMaps maps;
  for (size_t i = 0; i < kDataMaps.size(); ++i)
    if (!missing_ok || access((dir + "/" + kDataMaps[i].pin).c_str(), F_OK) == 0)
      maps.maps_[i] = BpfMap::open_pin(dir, kDataMaps[i].pin, open_for);
  return maps;
}

zd_config DataMaps::config() const {
  const BpfMap &map = (*this)[DataMap::config];
  map.require_shape(BPF_MAP_TYPE_ARRAY, sizeof(uint32_t), sizeof(zd_config));
  zd_config config{};
  map.lookup(uint32_t{0}, config);
  return config;
}

void DataMaps::set_config(const zd_config &config) {
  (*this)[DataMap::config].update(uint32_t{0}, config);
}

void DataMaps::reuse_in(bpf_object *object) const {
  for (size_t i = 0; i < kDataMaps.size(); ++i) {
    bpf_map *map = bpf_object__find_map_by_name(object, kDataMaps[i].object);
    if (!map)
      throw Error(Errc::kernel,
                  std::string("embedded BPF object lacks map ") + kDataMaps[i].object);
    if (int err = bpf_map__reuse_fd(map, maps_[i].fd()); err != 0)
      throw_errno(std::string("reusing pinned map ") + kDataMaps[i].pin, -err);
  }
}

void DataMaps::pin_all(const std::string &dir) const {
  for (size_t i = 0; i < kDataMaps.size(); ++i)
    maps_[i].pin(dir + "/" + kDataMaps[i].pin);
}

} // namespace zd
