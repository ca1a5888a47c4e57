// zd-client: a client of zd-echo workspaces for the shell tests (the
// cluster's, whose hosts are namespaces the test process is not in).
//
//   zd-client greet HOST PORT   prints the greeting of a new connection
//                               (the workspace that took it); exit 1 if none
//   zd-client hold HOST PORT    prints the greeting, then for each line on
//                               stdin sends it and prints the answer (the
//                               same connection, held until stdin ends)
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>

#include "client.hpp"

int main(int argc, char **argv) {
  if (argc != 4 || (std::strcmp(argv[1], "greet") != 0 && std::strcmp(argv[1], "hold") != 0)) {
    std::fprintf(stderr, "usage: zd-client greet|hold HOST PORT\n");
    return 2;
  }
  zdtest::Conn conn;
  std::string why;
  if (zdtest::connect_and_greet(argv[2], std::atoi(argv[3]), conn, &why) !=
      zdtest::ConnectError::none) {
    std::fprintf(stderr, "zd-client: %s\n", why.c_str());
    return 1;
  }
  std::cout << conn.greeting << std::endl;
  if (std::strcmp(argv[1], "greet") == 0)
    return 0;
  std::string line;
  while (std::getline(std::cin, line)) {
    line += '\n';
    if (write(conn.fd.get(), line.data(), line.size()) != static_cast<ssize_t>(line.size()))
      return 1;
    std::string answer;
    char c = 0;
    while (read(conn.fd.get(), &c, 1) == 1 && c != '\n')
      answer += c;
    std::cout << answer << std::endl;
  }
  return 0;
}
