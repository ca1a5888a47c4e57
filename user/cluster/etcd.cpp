#include "etcd.hpp"

#include <cstring>
#include <thread>

#include "error.hpp"
#include "etcd_http.h"
#include "http.hpp"

namespace zd::etcd {

using nlohmann::json;

namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

// etcd's JSON gateway writes int64 fields as strings ("12"), and leaves out
// any that is zero.
int64_t number(const json &object, const char *field) {
  auto it = object.find(field);
  if (it == object.end() || it->is_null())
    return 0;
  if (it->is_string())
    return std::stoll(it->get<std::string>());
  return it->get<int64_t>();
}

std::string text(const json &object, const char *field) {
  auto it = object.find(field);
  return it == object.end() || !it->is_string() ? std::string() : unbase64(*it);
}

KeyValue key_value(const json &kv) {
  return {text(kv, "key"),
          text(kv, "value"),
          number(kv, "create_revision"),
          number(kv, "mod_revision"),
          number(kv, "version"),
          number(kv, "lease")};
}

auto post_fn() {
  static const auto post =
      reinterpret_cast<zd_etcd_http_post_fn>(http_module_symbol(ZD_ETCD_HTTP_POST));
  return post;
}

int on_data(void *ctx, const char *data, size_t len) {
  return static_cast<ObjectStream *>(ctx)->feed(data, len) ? 1 : 0;
}

} // namespace

bool ObjectStream::feed(const char *data, size_t len) {
  buffer_.append(data, len);
  size_t start = 0;
  for (; scanned_ < buffer_.size(); ++scanned_) {
    const char c = buffer_[scanned_];
    if (in_string_) {
      if (escaped_)
        escaped_ = false; // this character is the escaped one
      else if (c == '\\')
        escaped_ = true;
      else if (c == '"')
        in_string_ = false;
      continue;
    }
    if (c == '"') {
      in_string_ = true;
    } else if (c == '{') {
      ++depth_;
    } else if (c == '}' && --depth_ == 0) {
      const json object = json::parse(buffer_.begin() + static_cast<long>(start),
                                      buffer_.begin() + static_cast<long>(scanned_) + 1);
      start = scanned_ + 1;
      if (!on_object_(object))
        return false;
    } else if (depth_ == 0) {
      start = scanned_ + 1; // between objects: a newline, a space
    }
  }
  buffer_.erase(0, start);
  scanned_ -= start;
  return true;
}

std::string base64(const std::string &bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const uint32_t n = static_cast<uint8_t>(bytes[i]) << 16 |
                       static_cast<uint8_t>(bytes[i + 1]) << 8 | static_cast<uint8_t>(bytes[i + 2]);
    out += {kAlphabet[n >> 18], kAlphabet[n >> 12 & 63], kAlphabet[n >> 6 & 63], kAlphabet[n & 63]};
  }
  if (const size_t left = bytes.size() - i) {
    uint32_t n = static_cast<uint8_t>(bytes[i]) << 16;
    if (left == 2)
      n |= static_cast<uint8_t>(bytes[i + 1]) << 8;
    out += {kAlphabet[n >> 18], kAlphabet[n >> 12 & 63], left == 2 ? kAlphabet[n >> 6 & 63] : '=',
            '='};
  }
  return out;
}

std::string unbase64(const std::string &text) {
  if (text.size() % 4 != 0)
    throw Error(Errc::invalid, "etcd sent a value that is not base64");
  std::string out;
  out.reserve(text.size() / 4 * 3);
  uint32_t n = 0;
  int bits = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '=') {
      // Padding: one or two, and nothing after it.
      if (text.size() - i > 2 || text.find_first_not_of('=', i) != std::string::npos)
        throw Error(Errc::invalid, "etcd sent a value that is not base64");
      break;
    }
    const char *at = std::strchr(kAlphabet, c);
    if (!at || c == '\0')
      throw Error(Errc::invalid, "etcd sent a value that is not base64");
    n = n << 6 | static_cast<uint32_t>(at - kAlphabet);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>(n >> bits & 0xff);
    }
  }
  return out;
}

std::string prefix_end(const std::string &prefix) {
  std::string end = prefix;
  while (!end.empty()) {
    if (static_cast<uint8_t>(end.back()) < 0xff) {
      ++end.back();
      return end;
    }
    end.pop_back();
  }
  return std::string(1, '\0'); // every key
}

Options options(const std::string &endpoints, const std::string &cacert, const std::string &cert,
                const std::string &key) {
  Options out;
  size_t at = 0;
  while (at <= endpoints.size()) {
    const size_t comma = std::min(endpoints.find(',', at), endpoints.size());
    std::string one = endpoints.substr(at, comma - at);
    while (!one.empty() && one.back() == '/')
      one.pop_back();
    const bool scheme = one.rfind("http://", 0) == 0 || one.rfind("https://", 0) == 0;
    if (!scheme || one.find(':', one.find("//") + 2) == std::string::npos)
      throw Error(Errc::invalid, "--cluster takes http://HOST:PORT or https://HOST:PORT, "
                                 "comma-separated, not '" +
                                     one + "'");
    out.endpoints.push_back(one);
    at = comma + 1;
  }
  if (cert.empty() != key.empty())
    throw Error(Errc::invalid, "--cluster-cert and --cluster-key go together");
  out.cacert = cacert, out.cert = cert, out.key = key;
  return out;
}

Client::Client(Options options) : options_(std::move(options)) {
  if (options_.endpoints.empty())
    throw Error(Errc::invalid, "no etcd endpoint given");
}

// One unary call, tried at each endpoint in turn (the last that answered
// first). etcd's own refusals (a status other than 200) are not retried.
json Client::call(const std::string &path, const json &request) const {
  const std::string body = request.dump();
  const zd_etcd_tls tls{options_.cacert.empty() ? nullptr : options_.cacert.c_str(),
                        options_.cert.empty() ? nullptr : options_.cert.c_str(),
                        options_.key.empty() ? nullptr : options_.key.c_str()};
  const auto ms = static_cast<unsigned>(options_.timeout.count());
  std::string tried;
  for (size_t n = 0; n < options_.endpoints.size(); ++n) {
    const size_t i = (first_ + n) % options_.endpoints.size();
    std::string answer;
    ObjectStream stream([&](const json &object) {
      answer = object.dump();
      return true;
    });
    char error[256] = {};
    const int status = post_fn()(options_.endpoints[i].c_str(), path.c_str(), body.data(),
                                 body.size(), &tls, ms, ms, on_data, &stream, error, sizeof(error));
    if (status == 0) {
      tried += (tried.empty() ? "" : "; ") + options_.endpoints[i] + ": " + error;
      continue;
    }
    first_ = i;
    json parsed = answer.empty() ? json::object() : json::parse(answer);
    if (status != 200) {
      const std::string message = parsed.value("message", parsed.value("error", answer));
      throw Error(status == 400 ? Errc::invalid : Errc::unavailable,
                  "etcd refused " + path + ": " + message);
    }
    return parsed;
  }
  throw Error(Errc::unavailable, "etcd cannot be reached (" + tried + ")");
}

Range Client::get(const std::string &key) const {
  const json answer = call("/v3/kv/range", {{"key", base64(key)}});
  Range range;
  range.revision = number(answer.value("header", json::object()), "revision");
  for (const auto &kv : answer.value("kvs", json::array()))
    range.kvs.push_back(key_value(kv));
  return range;
}

Range Client::range(const std::string &prefix) const {
  const json answer =
      call("/v3/kv/range", {{"key", base64(prefix)}, {"range_end", base64(prefix_end(prefix))}});
  Range range;
  range.revision = number(answer.value("header", json::object()), "revision");
  for (const auto &kv : answer.value("kvs", json::array()))
    range.kvs.push_back(key_value(kv));
  return range;
}

int64_t Client::put(const std::string &key, const std::string &value, int64_t lease) const {
  json request = {{"key", base64(key)}, {"value", base64(value)}};
  if (lease)
    request["lease"] = std::to_string(lease);
  const json answer = call("/v3/kv/put", request);
  return number(answer.value("header", json::object()), "revision");
}

std::optional<int64_t> Client::txn(const std::vector<Compare> &compares,
                                   const std::vector<Op> &ops) const {
  json request = {{"compare", json::array()}, {"success", json::array()}};
  for (const auto &c : compares)
    request["compare"].push_back({{"key", base64(c.key)},
                                  {"target", "MOD"},
                                  {"result", "EQUAL"},
                                  {"mod_revision", std::to_string(c.mod_revision)}});
  for (const auto &op : ops) {
    if (op.kind == Op::Kind::put) {
      json put = {{"key", base64(op.key)}, {"value", base64(op.value)}};
      if (op.lease)
        put["lease"] = std::to_string(op.lease);
      request["success"].push_back({{"request_put", put}});
    } else {
      request["success"].push_back({{"request_delete_range", {{"key", base64(op.key)}}}});
    }
  }
  const json answer = call("/v3/kv/txn", request);
  if (!answer.value("succeeded", false))
    return std::nullopt;
  return number(answer.value("header", json::object()), "revision");
}

int64_t Client::grant(std::chrono::seconds ttl) const {
  const json answer = call("/v3/lease/grant", {{"TTL", std::to_string(ttl.count())}});
  const int64_t id = number(answer, "ID");
  if (!id)
    throw Error(Errc::unavailable, "etcd granted no lease: " + answer.dump());
  return id;
}

bool Client::keepalive(int64_t lease) const {
  const json answer = call("/v3/lease/keepalive", {{"ID", std::to_string(lease)}});
  return number(answer.value("result", json::object()), "TTL") > 0;
}

void Client::revoke(int64_t lease) const {
  call("/v3/lease/revoke", {{"ID", std::to_string(lease)}});
}

int64_t Client::watch(const std::string &prefix, int64_t from,
                      const std::function<bool(const WatchBatch &)> &on_batch,
                      std::chrono::milliseconds idle) const {
  const json request = {{"create_request",
                         {{"key", base64(prefix)},
                          {"range_end", base64(prefix_end(prefix))},
                          {"start_revision", std::to_string(from)}}}};
  const std::string body = request.dump();
  const zd_etcd_tls tls{options_.cacert.empty() ? nullptr : options_.cacert.c_str(),
                        options_.cert.empty() ? nullptr : options_.cert.c_str(),
                        options_.key.empty() ? nullptr : options_.key.c_str()};
  int64_t seen = from - 1;
  std::optional<Compacted> compacted;
  std::string tried;
  for (size_t n = 0; n < options_.endpoints.size(); ++n) {
    const size_t i = (first_ + n) % options_.endpoints.size();
    bool answered = false;
    ObjectStream stream([&](const json &object) {
      answered = true;
      const json result = object.value("result", json::object());
      if (result.value("canceled", false) || number(result, "compact_revision")) {
        compacted = Compacted{number(result, "compact_revision")};
        return false;
      }
      WatchBatch batch;
      batch.revision = number(result.value("header", json::object()), "revision");
      for (const auto &e : result.value("events", json::array())) {
        Event event;
        event.kind = e.value("type", "PUT") == "DELETE" ? Event::Kind::del : Event::Kind::put;
        event.kv = key_value(e.value("kv", json::object()));
        batch.events.push_back(std::move(event));
      }
      if (batch.events.empty())
        return true; // "created", or a progress note
      seen = std::max(seen, batch.events.back().kv.mod_revision);
      return on_batch(batch);
    });
    char error[256] = {};
    const int status =
        post_fn()(options_.endpoints[i].c_str(), "/v3/watch", body.data(), body.size(), &tls,
                  static_cast<unsigned>(options_.timeout.count()),
                  static_cast<unsigned>(idle.count()), on_data, &stream, error, sizeof(error));
    if (compacted)
      throw *compacted;
    if (status == 200 || answered) {
      first_ = i;
      return seen; // stopped, idle, or the stream ended: the caller goes on from seen + 1
    }
    tried += (tried.empty() ? "" : "; ") + options_.endpoints[i] + ": " +
             (status ? "status " + std::to_string(status) : std::string(error));
  }
  throw Error(Errc::unavailable, "etcd cannot be reached (" + tried + ")");
}

} // namespace zd::etcd
