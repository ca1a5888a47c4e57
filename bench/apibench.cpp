// zd-apibench: the latency of one HTTP request, COUNT times in a row, on one
// kept-alive connection or on a new connection each, through Debian's
// cpp-httplib client with TCP_NODELAY (so that any wait is the server's).
// POST bodies alternate between BODY_A and BODY_B (a switch there and back).
//
//   zd-apibench PORT keep|new COUNT GET PATH
//   zd-apibench PORT keep|new COUNT POST PATH BODY_A BODY_B
//
// The bearer token comes from $ZD_TOKEN (none when unset). Prints one JSON
// line: {"n", "failed", "p50_us", "p99_us", "max_us", "mean_us"}; a failed
// request (no answer, or not 2xx) is counted and not timed. With
// $ZD_SAMPLES, every time (us) is also appended to that file, a line each,
// so that a script can pool several runs.
#include <httplib.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

int main(int argc, char **argv) {
  if (argc != 6 && argc != 8) {
    std::fprintf(stderr, "usage: zd-apibench PORT keep|new COUNT GET|POST PATH [BODY_A BODY_B]\n");
    return 2;
  }
  const int port = std::atoi(argv[1]);
  const bool keep = std::string(argv[2]) == "keep";
  const int count = std::atoi(argv[3]);
  const std::string method = argv[4], path = argv[5];
  const std::string bodies[2] = {argc == 8 ? argv[6] : "", argc == 8 ? argv[7] : ""};
  httplib::Headers headers;
  if (const char *token = std::getenv("ZD_TOKEN"))
    headers.emplace("Authorization", std::string("Bearer ") + token);

  auto client = [&] {
    auto c = std::make_unique<httplib::Client>("127.0.0.1", port);
    c->set_keep_alive(keep);
    c->set_tcp_nodelay(true);
    c->set_connection_timeout(5, 0);
    c->set_read_timeout(5, 0);
    return c;
  };
  std::unique_ptr<httplib::Client> kept = client();
  std::vector<double> us;
  int failed = 0;
  for (int i = 0; i < count; ++i) {
    std::unique_ptr<httplib::Client> fresh = keep ? nullptr : client();
    httplib::Client &c = keep ? *kept : *fresh;
    const auto t0 = std::chrono::steady_clock::now();
    const auto res = method == "GET" ? c.Get(path, headers)
                                     : c.Post(path, headers, bodies[i % 2], "application/json");
    const auto t1 = std::chrono::steady_clock::now();
    if (!res || res->status / 100 != 2) {
      ++failed;
      continue;
    }
    us.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
  }
  if (us.empty()) {
    std::printf("{\"n\":0,\"failed\":%d}\n", failed);
    return 1;
  }
  if (const char *file = std::getenv("ZD_SAMPLES"))
    if (FILE *out = std::fopen(file, "a")) {
      for (double v : us)
        std::fprintf(out, "%.1f\n", v);
      std::fclose(out);
    }
  std::sort(us.begin(), us.end());
  auto at = [&](double p) { return us[static_cast<size_t>(p * double(us.size() - 1))]; };
  double sum = 0;
  for (double v : us)
    sum += v;
  std::printf("{\"n\":%zu,\"failed\":%d,\"p50_us\":%.1f,\"p99_us\":%.1f,\"max_us\":%.1f,"
              "\"mean_us\":%.1f}\n",
              us.size(), failed, at(0.5), at(0.99), us.back(), sum / double(us.size()));
  return failed ? 1 : 0;
}
