// zd-analyze: turns one switch-under-load run (zd-loadgen's CSVs and the
// switch log of zd-switchbench) into gnuplot data files and a JSON summary.
//
//   zd-analyze --run PREFIX --switches LOG [--bucket-ms 100] [--zoom-s 1] [--zoom-bucket-ms 5]
//
// Writes PREFIX.timeline.dat (t, blue/s, green/s, errors/s per bucket),
// PREFIX.zoom.dat (same, finer buckets over a short window in the middle),
// PREFIX.switches.dat and PREFIX.errors.dat (instants), and prints the summary.
#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

struct Req {
  int64_t start;
  char ws;
  std::string err;
  bool keepalive;
};

struct Conn {
  bool keepalive;
  int64_t open, close;
  char first, last;
  uint32_t requests, changes;
  std::string err;
};

struct Switch {
  int64_t begin, end; // realtime ns: zdctl spawned, zdctl exited
  char target;
  int rc;
};

std::vector<std::string> split(const std::string &line) {
  std::vector<std::string> out;
  std::stringstream ss(line);
  std::string field;
  while (std::getline(ss, field, ','))
    out.push_back(field);
  return out;
}

std::ifstream open_in(const std::string &path) {
  std::ifstream in(path);
  if (!in)
    throw std::runtime_error("cannot read " + path);
  return in;
}

struct Buckets {
  int64_t origin, width;
  std::vector<std::array<uint64_t, 3>> n; // blue, green, errors

  void add(int64_t t, int slot) {
    if (t < origin)
      return;
    size_t i = static_cast<size_t>((t - origin) / width);
    if (i >= n.size())
      n.resize(i + 1, {0, 0, 0});
    n[i][static_cast<size_t>(slot)]++;
  }
  void write(const std::string &path, size_t skip_last) const {
    FILE *f = std::fopen(path.c_str(), "w");
    double per_s = 1e9 / static_cast<double>(width);
    for (size_t i = 0; i + skip_last < n.size(); ++i)
      std::fprintf(f, "%.4f %.0f %.0f %.0f\n",
                   static_cast<double>(i) * static_cast<double>(width) / 1e9,
                   static_cast<double>(n[i][0]) * per_s, static_cast<double>(n[i][1]) * per_s,
                   static_cast<double>(n[i][2]) * per_s);
    std::fclose(f);
  }
};

} // namespace

int main(int argc, char **argv) {
  try {
    std::string run, switch_log;
    int bucket_ms = 100, zoom_bucket_ms = 5;
    double zoom_s = 1.0;
    for (int i = 1; i + 1 < argc; i += 2) {
      std::string k = argv[i], v = argv[i + 1];
      if (k == "--run")
        run = v;
      else if (k == "--switches")
        switch_log = v;
      else if (k == "--bucket-ms")
        bucket_ms = std::stoi(v);
      else if (k == "--zoom-s")
        zoom_s = std::stod(v);
      else if (k == "--zoom-bucket-ms")
        zoom_bucket_ms = std::stoi(v);
      else
        throw std::runtime_error("unknown option " + k);
    }
    if (run.empty() || switch_log.empty())
      throw std::runtime_error("usage: zd-analyze --run PREFIX --switches LOG");

    std::vector<Req> reqs;
    std::vector<Conn> conns;
    std::vector<Switch> switches;
    std::map<uint64_t, bool> group_ka; // group -> keep-alive
    std::string line;
    {
      auto in = open_in(run + ".conn.csv");
      std::getline(in, line);
      while (std::getline(in, line)) {
        auto f = split(line);
        Conn c{f[2] == "1",
               std::stoll(f[3]),
               std::stoll(f[4]),
               f[5][0],
               f[6][0],
               static_cast<uint32_t>(std::stoul(f[7])),
               static_cast<uint32_t>(std::stoul(f[8])),
               f[9]};
        group_ka[std::stoull(f[1])] = c.keepalive;
        conns.push_back(c);
      }
    }
    {
      auto in = open_in(run + ".req.csv");
      std::getline(in, line);
      while (std::getline(in, line)) {
        auto f = split(line);
        reqs.push_back({std::stoll(f[0]), f[2][0], f[3], group_ka[std::stoull(f[4])]});
      }
    }
    {
      auto in = open_in(switch_log);
      while (std::getline(in, line)) {
        std::stringstream ss(line);
        Switch s{};
        std::string target;
        ss >> s.begin >> s.end >> target >> s.rc;
        s.target = target.empty() ? '?' : target[0];
        switches.push_back(s);
      }
    }
    if (reqs.empty())
      throw std::runtime_error("no requests recorded");

    int64_t origin = reqs.front().start, last = 0;
    for (const auto &r : reqs) {
      origin = std::min(origin, r.start);
      last = std::max(last, r.start);
    }

    // Timelines.
    Buckets coarse{origin, bucket_ms * 1'000'000LL, {}};
    int64_t zoom_from = origin + (last - origin) / 2;
    int64_t zoom_to = zoom_from + static_cast<int64_t>(zoom_s * 1e9);
    Buckets zoom{zoom_from, zoom_bucket_ms * 1'000'000LL, {}};
    std::map<std::string, uint64_t> errors;
    std::map<char, uint64_t> per_ws;
    uint64_t ok = 0;
    FILE *errf = std::fopen((run + ".errors.dat").c_str(), "w");
    for (const auto &r : reqs) {
      int slot = r.err != "none" ? 2 : r.ws == 'b' ? 0 : r.ws == 'g' ? 1 : 2;
      coarse.add(r.start, slot);
      if (r.start < zoom_to)
        zoom.add(r.start, slot);
      if (slot == 2) {
        errors[r.err == "none" ? "unknown_workspace" : r.err]++;
        std::fprintf(errf, "%.4f 0\n", static_cast<double>(r.start - origin) / 1e9);
      } else {
        ok++;
        per_ws[r.ws]++;
      }
    }
    std::fclose(errf);
    coarse.write(run + ".timeline.dat", 1); // the last bucket is partial
    zoom.write(run + ".zoom.dat", 1);

    FILE *sw = std::fopen((run + ".switches.dat").c_str(), "w");
    FILE *zsw = std::fopen((run + ".zoomswitches.dat").c_str(), "w");
    int failed_switches = 0;
    for (const auto &s : switches) {
      failed_switches += s.rc != 0;
      std::fprintf(sw, "%.4f %c\n", static_cast<double>(s.end - origin) / 1e9, s.target);
      if (s.end >= zoom_from && s.end < zoom_to)
        std::fprintf(zsw, "%.4f %c\n", static_cast<double>(s.end - zoom_from) / 1e9, s.target);
    }
    std::fclose(sw);
    std::fclose(zsw);

    // Connections that lived across switches: a switch "spans" a connection
    // when zdctl started after the connection opened and returned before it
    // closed, so the route certainly changed while the connection was open.
    std::vector<int64_t> begins, ends;
    for (const auto &s : switches)
      if (s.rc == 0) {
        begins.push_back(s.begin);
        ends.push_back(s.end);
      }
    uint64_t ka_total = 0, ka_spanning = 0, ka_stayed = 0, close_spanning = 0,
             close_stayed_old = 0, moved = 0, max_spanned = 0, ka_requests_spanning = 0;
    for (const auto &c : conns) {
      ka_total += c.keepalive;
      moved += c.changes > 0;
      // switches with begin > open and end < close
      auto first = std::upper_bound(begins.begin(), begins.end(), c.open) - begins.begin();
      auto stop = std::lower_bound(ends.begin(), ends.end(), c.close) - ends.begin();
      uint64_t spanned = stop > first ? static_cast<uint64_t>(stop - first) : 0;
      if (spanned == 0 || c.requests == 0)
        continue;
      bool stayed = c.changes == 0 && c.first == c.last && c.err == "none";
      if (c.keepalive) {
        ka_spanning++;
        ka_stayed += stayed;
        ka_requests_spanning += c.requests;
        max_spanned = std::max(max_spanned, spanned);
      } else {
        // Which workspace a short connection gets is decided when its SYN is
        // handled, which the client cannot timestamp: only count that it worked.
        close_spanning++;
        close_stayed_old += stayed;
      }
    }

    uint64_t bad = 0;
    for (const auto &[k, n] : errors)
      bad += n;
    std::printf("{\"seconds\":%.3f,\"requests\":%zu,\"ok\":%llu,\"failed\":%llu,\"errors\":{",
                static_cast<double>(last - origin) / 1e9, reqs.size(),
                static_cast<unsigned long long>(ok), static_cast<unsigned long long>(bad));
    bool firstk = true;
    for (const auto &[k, n] : errors) {
      std::printf("%s\"%s\":%llu", firstk ? "" : ",", k.c_str(), static_cast<unsigned long long>(n));
      firstk = false;
    }
    std::printf("},\"per_workspace\":{\"blue\":%llu,\"green\":%llu},",
                static_cast<unsigned long long>(per_ws['b']),
                static_cast<unsigned long long>(per_ws['g']));
    std::printf("\"switches\":%zu,\"failed_switches\":%d,", switches.size(), failed_switches);
    std::printf("\"connections\":%zu,\"connections_moved\":%llu,\"keepalive\":{\"connections\":%llu,"
                "\"spanning_switches\":%llu,\"stayed_on_accepting_workspace\":%llu,"
                "\"requests_on_spanning\":%llu,\"max_switches_spanned\":%llu},"
                "\"short_lived\":{\"spanning_a_switch\":%llu,\"completed_ok\":%llu}}\n",
                conns.size(), static_cast<unsigned long long>(moved),
                static_cast<unsigned long long>(ka_total),
                static_cast<unsigned long long>(ka_spanning),
                static_cast<unsigned long long>(ka_stayed),
                static_cast<unsigned long long>(ka_requests_spanning),
                static_cast<unsigned long long>(max_spanned),
                static_cast<unsigned long long>(close_spanning),
                static_cast<unsigned long long>(close_stayed_old));
    return 0;
  } catch (const std::exception &e) {
    std::fprintf(stderr, "zd-analyze: error: %s\n", e.what());
    return 1;
  }
}
