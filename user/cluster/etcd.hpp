// A client of etcd's v3 API through its JSON gateway (etcd 3.4: /v3/kv/*,
// /v3/watch, /v3/lease/*; keys and values base64 in JSON). The HTTP and TLS
// are zd-http.so's (http/etcd_http.h); what etcd means is here. Several
// endpoints: a call that cannot reach one tries the next, and the one that
// answered is tried first next time. Every failure to reach etcd is
// Errc::unavailable, naming the endpoints tried.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace zd::etcd {

struct Options {
  std::vector<std::string> endpoints; // http://HOST:PORT or https://HOST:PORT
  std::string cacert, cert, key;      // PEM files, for https
  std::chrono::milliseconds timeout{2000};
};
// "http://a:2379,http://b:2379" and the TLS files, checked: one clear line
// (Errc::invalid) for a malformed list.
Options options(const std::string &endpoints, const std::string &cacert = "",
                const std::string &cert = "", const std::string &key = "");

struct KeyValue {
  std::string key, value;
  int64_t create_revision = 0, mod_revision = 0, version = 0, lease = 0;
};

struct Range {
  int64_t revision = 0; // the store's revision when it was read
  std::vector<KeyValue> kvs;
};

// One condition of a transaction on a key's mod_revision (0: absent).
struct Compare {
  std::string key;
  int64_t mod_revision = 0;
};
// One operation: a put (with an optional lease) or a delete.
struct Op {
  enum class Kind { put, del } kind = Kind::put;
  std::string key, value;
  int64_t lease = 0;
};

struct Event {
  enum class Kind { put, del } kind = Kind::put;
  KeyValue kv; // a delete carries the key and its mod_revision
};
// One answer of a watch: the events of one or more revisions, in order.
struct WatchBatch {
  int64_t revision = 0; // the store's revision as of this answer
  std::vector<Event> events;
};

// The watch's start was compacted away: read again from `revision`.
struct Compacted {
  int64_t revision = 0;
};

class Client {
public:
  explicit Client(Options options);

  const Options &options() const { return options_; }

  Range get(const std::string &key) const;
  Range range(const std::string &prefix) const; // every key that starts with it
  int64_t put(const std::string &key, const std::string &value, int64_t lease = 0) const;
  // Applies `ops` if every compare holds, as one revision. The new revision,
  // or nothing (no write) when a compare failed.
  std::optional<int64_t> txn(const std::vector<Compare> &compares,
                             const std::vector<Op> &ops) const;

  int64_t grant(std::chrono::seconds ttl) const; // a lease's id
  // False when the lease is gone (expired or revoked).
  bool keepalive(int64_t lease) const;
  void revoke(int64_t lease) const;

  // Watches every key under prefix from revision `from`, calling on_batch
  // for each answer in order until it returns false (then returns the
  // revision seen last). Returns also when `idle` passes without an answer
  // (the caller watches again from where it was). Throws Compacted when
  // `from` is compacted, Error(unavailable) when no endpoint takes it.
  int64_t watch(const std::string &prefix, int64_t from,
                const std::function<bool(const WatchBatch &)> &on_batch,
                std::chrono::milliseconds idle) const;

private:
  nlohmann::json call(const std::string &path, const nlohmann::json &body) const;

  Options options_;
  mutable size_t first_ = 0; // the endpoint that answered last
};

// The JSON objects of an answer that arrives in pieces (the gateway writes
// a watch's answers one after another): feed() calls on_object with each
// whole one, in order, and returns false once on_object says stop.
class ObjectStream {
public:
  explicit ObjectStream(std::function<bool(const nlohmann::json &)> on_object)
      : on_object_(std::move(on_object)) {}
  bool feed(const char *data, size_t len);

private:
  std::function<bool(const nlohmann::json &)> on_object_;
  std::string buffer_;
  size_t scanned_ = 0;
  int depth_ = 0;
  bool in_string_ = false, escaped_ = false;
};

std::string base64(const std::string &bytes);
std::string unbase64(const std::string &text); // throws Error(invalid) on bad input
// The key just past every key that starts with prefix (range_end of a prefix).
std::string prefix_end(const std::string &prefix);

} // namespace zd::etcd
