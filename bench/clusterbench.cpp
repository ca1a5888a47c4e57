// zd-clusterbench: how long a cluster switch takes to reach each host.
//
//   zd-clusterbench ENDPOINTS DOMAIN SWITCHES HOSTS
//
// Switches DOMAIN between blue and green SWITCHES times through the library
// `zdctl --cluster switch` uses (--force, --no-wait: the gate's reads are
// not propagation). Beside it, a watch of every host's "applied" key
// collects when each host applied which revision (its own clock: the hosts
// are namespaces of one machine). A switch's propagation to a host is that
// time minus the moment just before its transaction was sent; the next
// switch starts once every host applied the last. Prints one JSON object:
// p50/p99/max over every (switch, host), and the bytes written to etcd per
// switch (the domain's key and its history entry, and every host's report).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "cluster.hpp"

namespace {

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

double percentile(std::vector<double> v, double p) {
  if (v.empty())
    return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

} // namespace

int main(int argc, char **argv) {
  if (argc != 5) {
    std::fprintf(stderr, "usage: zd-clusterbench ENDPOINTS DOMAIN SWITCHES HOSTS\n");
    return 2;
  }
  try {
    namespace cl = zd::cluster;
    const std::string domain = argv[2];
    const int switches = std::atoi(argv[3]);
    const size_t hosts = std::strtoul(argv[4], nullptr, 10);
    cl::Cluster cluster(zd::etcd::Client(zd::etcd::options(argv[1])), cl::Keys{});
    const int64_t from = cluster.client().get(cluster.keys().applied()).revision + 1;

    // node -> (revision, at_ns) as each report arrives.
    std::mutex mutex;
    std::map<std::string, std::vector<std::pair<int64_t, int64_t>>> applied;
    size_t report_bytes = 0, reports = 0;
    bool stop = false;
    std::thread watcher([&] {
      zd::etcd::Client client(zd::etcd::options(argv[1]));
      int64_t next = from;
      while (true) {
        {
          std::lock_guard lock(mutex);
          if (stop)
            return;
        }
        next = client.watch(
                   cluster.keys().applied(), next,
                   [&](const zd::etcd::WatchBatch &batch) {
                     std::lock_guard lock(mutex);
                     for (const auto &e : batch.events) {
                       const auto value = nlohmann::json::parse(e.kv.value);
                       applied[e.kv.key.substr(cluster.keys().applied().size())].push_back(
                           {value.value("revision", int64_t{0}), value.value("at_ns", int64_t{0})});
                       report_bytes += e.kv.key.size() + e.kv.value.size();
                       ++reports;
                     }
                     return !stop;
                   },
                   std::chrono::milliseconds(500)) +
               1;
      }
    });

    // The watcher is stopped and joined however the switches end.
    struct Join {
      std::mutex &mutex;
      bool &stop;
      std::thread &thread;
      ~Join() {
        {
          std::lock_guard lock(mutex);
          stop = true;
        }
        thread.join();
      }
    } join{mutex, stop, watcher};

    cl::WaitOptions no_wait;
    no_wait.wait = false;
    std::vector<double> latencies_ms;
    size_t switch_bytes = 0;
    const auto first = cluster.domain(domain);
    const bool blue_first = !first || first->active() != "blue"; // every switch changes it
    for (int i = 0; i < switches; ++i) {
      const int64_t sent = now_ns();
      const cl::Outcome o =
          cluster.switch_to(domain, (i % 2 == 0) == blue_first ? "blue" : "green", true, no_wait);
      const int64_t revision = o.change.revision;
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
      std::map<std::string, int64_t> reached;
      while (std::chrono::steady_clock::now() < deadline) {
        {
          std::lock_guard lock(mutex);
          for (const auto &[node, list] : applied)
            for (const auto &[r, at] : list)
              if (r >= revision && !reached.count(node))
                reached[node] = at;
        }
        if (reached.size() >= hosts)
          break;
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
      if (reached.size() < hosts)
        throw std::runtime_error("revision " + std::to_string(revision) + " reached only " +
                                 std::to_string(reached.size()) + " hosts in 5 s");
      for (const auto &[node, at] : reached)
        latencies_ms.push_back(static_cast<double>(at - sent) / 1e6);
      const auto record = cluster.domain(domain);
      switch_bytes =
          cluster.keys().domain(domain).size() + (record ? record->spec.dump().size() + 40 : 0);
    }
    const auto history = cluster.history(domain);
    const size_t history_bytes =
        history.empty() ? 0 : history.back().dump().size() + cluster.keys().history().size() + 48;
    nlohmann::json out = {{"switches", switches},
                          {"hosts", hosts},
                          {"propagation_ms",
                           {{"n", latencies_ms.size()},
                            {"p50", percentile(latencies_ms, 0.5)},
                            {"p99", percentile(latencies_ms, 0.99)},
                            {"max", percentile(latencies_ms, 1.0)}}},
                          {"bytes_per_switch",
                           {{"domain_and_history", switch_bytes + history_bytes},
                            {"host_reports", reports ? report_bytes / reports * hosts : 0}}}};
    std::printf("%s\n", out.dump().c_str());
  } catch (const std::exception &e) {
    std::fprintf(stderr, "zd-clusterbench: %s\n", e.what());
    return 1;
  }
  return 0;
}
