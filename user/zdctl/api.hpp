// What `zdctl serve` answers: the JSON API under /api/v1, /metrics and the
// Domains page's files. Transport-free (the module, http/app_http.h, does
// HTTP), so the routes read as a table and each answer is one call on the
// same library the commands use, under the same state lock.
#pragma once

#include <array>
#include <string>

namespace zd::cluster {
class Cluster;
}

namespace zdctl {

struct ApiRequest {
  std::string method, path, query, body;
};

struct ApiReply {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
};

// Never throws: an error becomes its status and {"error": {kind, message,
// override}} (override: "force", "skip_check" or null: what a retry may add).
// With a cluster (serve --cluster), also /api/v1/cluster/...
ApiReply answer(const std::string &state, const ApiRequest &request,
                const zd::cluster::Cluster *cluster = nullptr);

// One server-sent event: {"status": ..., "history": [the last 50 changes]}
// on one line.
// With a cluster, "cluster": its status too ({"error"} while etcd is away).
std::string events_snapshot(const std::string &state,
                            const zd::cluster::Cluster *cluster = nullptr);

// The paths served without the token: the page's files, which hold no data.
inline constexpr std::array<const char *, 5> kPagePaths = {"/", "/index.html", "/app.js",
                                                           "/app.css", "/favicon.svg"};

} // namespace zdctl
