// The Domains page's files (user/zdctl/page/), compiled into zdctl by
// cmake/embed_page.cmake: nothing is fetched from anywhere at run time.
#pragma once

#include <string>
#include <string_view>

namespace zdctl {

struct PageFile {
  const char *path; // "/index.html"
  const char *content_type;
  std::string_view text;
};

// The file served at path, or nullptr.
const PageFile *page_file(const std::string &path);

} // namespace zdctl
