// Shell completion for zdctl, generated from CLI11's own tree of commands
// and options at run time, so it always matches the binary that prints it.
#pragma once

#include <string>

#include "commands.hpp"

namespace CLI {
class App;
}

namespace zdctl {

// A bash script that completes the commands, options and option values of
// the tree under root, and the names of domains and workspaces from the state
// (read with `zdctl --json status`; nothing is offered if that fails).
std::string bash_completion(const CLI::App &root);

// The `completion` command: its SHELL argument, and the tree it describes.
void completion_options(CLI::App &cmd, Options &o);
void do_completion(const Options &opts);

} // namespace zdctl
