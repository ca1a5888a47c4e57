#include "completion.hpp"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <iostream>
#include <sstream>
#include <vector>

namespace zdctl {
namespace {

// The shells `zdctl completion` writes a script for.
const std::vector<std::string> kShells = {"bash"};

// What a word completes to. The script knows each kind (see _zdctl_offer):
// names read from the state, directories, network interfaces, shells, or
// nothing ("-"), when the word is one the user makes up.
std::string positional_kind(const CLI::App &cmd, const CLI::Option &arg) {
  const std::string name = arg.get_name();
  if (name == "DOMAIN")
    return "domains";
  if (name == "WORKSPACE")
    return "workspaces";
  if (name == "SHELL")
    return "shells";
  // NAME belongs to the command's group (domain rm NAME). A NAME being added
  // is new: offering the existing ones would only offer refusals.
  const CLI::App *group = cmd.get_parent();
  if (name == "NAME" && cmd.get_name() != "add" && group) {
    if (group->get_name() == "domain")
      return "domains";
    if (group->get_name() == "workspace")
      return "workspaces";
  }
  return "-";
}

std::string value_kind(const std::string &option) {
  if (option == "--state")
    return "dirs";
  if (option == "--xdp" || option == "--via")
    return "interfaces";
  if (option == "--workspace")
    return "workspaces";
  if (option == "--group")
    return "groups";
  return "-";
}

// A word safe in bash between single quotes.
std::string quoted(const std::string &word) {
  std::string out = "'";
  for (char c : word)
    out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

std::string joined(const std::vector<std::string> &words) {
  std::string out;
  for (const auto &word : words)
    out += (out.empty() ? "" : " ") + word;
  return out;
}

void add_once(std::vector<std::string> &words, const std::string &word) {
  if (std::find(words.begin(), words.end(), word) == words.end())
    words.push_back(word);
}

// What the script needs to know of one command.
struct Spec {
  std::string path; // "zdctl domain add"
  std::vector<std::string> commands, flags, valued, kinds;
};

// Options hidden from --help (no group) are not offered either.
void add_options(const CLI::App &app, Spec &spec) {
  for (const CLI::Option *opt : app.get_options()) {
    if (!opt->nonpositional() || opt->get_group().empty())
      continue;
    std::vector<std::string> names;
    for (const auto &s : opt->get_snames())
      names.push_back("-" + s);
    for (const auto &l : opt->get_lnames())
      names.push_back("--" + l);
    for (const auto &name : names)
      add_once(opt->get_items_expected_max() > 0 ? spec.valued : spec.flags, name);
  }
}

void collect(const CLI::App &app, const std::string &path, std::vector<Spec> &specs) {
  Spec spec{path, {}, {}, {}, {}};
  add_options(app, spec);
  // A command that falls through also takes the options of the commands above
  // it (zdctl switch shop green --json).
  for (const CLI::App *at = &app; at->get_fallthrough() && at->get_parent(); at = at->get_parent())
    add_options(*at->get_parent(), spec);
  for (const CLI::Option *opt : app.get_options())
    if (opt->get_positional() && !opt->nonpositional())
      spec.kinds.push_back(positional_kind(app, *opt));
  const auto subs = app.get_subcommands([](const CLI::App *sub) {
    return !sub->get_name().empty() && !sub->get_group().empty() && !sub->get_disabled();
  });
  for (const CLI::App *sub : subs)
    spec.commands.push_back(sub->get_name());
  specs.push_back(spec);
  for (const CLI::App *sub : subs)
    collect(*sub, path + " " + sub->get_name(), specs);
}

// The part of the script that does not depend on the tree: walking the words
// typed so far, and listing names from the state.
constexpr const char *kWalker = R"bash(
# _zdctl_has WORD LIST: whether WORD is one of the words of LIST.
_zdctl_has() {
  [[ -n $1 && " $2 " == *" $1 "* ]]
}
# _zdctl_names KIND ZDCTL [STATE]: the names of KIND (domains, workspaces) in
# the state, from `zdctl --json status`: none without root or a state, and no
# error text. Names are letters, digits, - _ . so they need no JSON unescaping;
# each sits at the third level of its top-level list.
_zdctl_names() {
  local line section='' top='^  "([a-z_]+)": ' name='^      "name": "([^"]+)"' cmd=("$2")
  [[ $2 == \~/* ]] && cmd=("$HOME/${2#\~/}") # the word as typed: ~ is not expanded yet
  [[ -n $3 ]] && cmd+=(--state "$3")
  while IFS= read -r line; do
    if [[ $line =~ $top ]]; then
      section=${BASH_REMATCH[1]}
    elif [[ $section == "$1" && $line =~ $name ]]; then
      printf '%s\n' "${BASH_REMATCH[1]}"
    fi
  done < <(timeout 2 "${cmd[@]}" --json status 2>/dev/null)
}

_zdctl() {
  local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]} path=zdctl state='' word
  local i n=0 kind commands flags valued kinds
  # bash splits --state=DIR into --state, =, DIR: the = belongs to the option.
  if [[ $cur == = ]]; then
    cur=
  elif [[ $prev == = ]] && ((COMP_CWORD > 1)); then
    prev=${COMP_WORDS[COMP_CWORD - 2]}
  fi
  _zdctl_spec "$path"
  for ((i = 1; i < COMP_CWORD; i++)); do
    word=${COMP_WORDS[i]}
    if _zdctl_has "$word" "$valued"; then
      [[ ${COMP_WORDS[i + 1]} == = ]] && ((++i))
      ((++i))
      [[ $word == --state ]] && state=${COMP_WORDS[i]}
    elif [[ $word == --state=* ]]; then
      state=${word#*=}
    elif [[ $word == -* || $word == = ]]; then
      :
    elif _zdctl_has "$word" "$commands"; then
      path+=" $word"
      n=0
      _zdctl_spec "$path"
    else
      ((++n))
    fi
  done
  if _zdctl_has "$prev" "$valued"; then
    _zdctl_value_kind "$prev"
  elif [[ $cur == -* ]]; then
    kind=options
  elif [[ -n $commands ]]; then
    kind=commands
  else
    kind=${kinds[n]:-options} # every argument given: what is left are options
  fi
  [[ $kind == dirs ]] && compopt -o filenames 2>/dev/null
  mapfile -t COMPREPLY < <(_zdctl_offer "$kind" "$cur" "${COMP_WORDS[0]}" "$state")
}
)bash";

void write_spec(std::ostream &out, const std::vector<Spec> &specs) {
  out << "\n# _zdctl_spec PATH: for the command PATH, its subcommands, its flags, its options\n"
         "# that take a value, and what each of its arguments completes to.\n"
         "_zdctl_spec() {\n  case $1 in\n";
  for (const Spec &s : specs) {
    out << "  " << quoted(s.path) << ")\n    commands=" << quoted(joined(s.commands))
        << "\n    flags=" << quoted(joined(s.flags)) << "\n    valued=" << quoted(joined(s.valued))
        << "\n    kinds=(" << joined(s.kinds) << ")\n    ;;\n";
  }
  out << "  esac\n}\n";
}

void write_value_kinds(std::ostream &out, const std::vector<Spec> &specs) {
  std::vector<std::string> options;
  for (const Spec &s : specs)
    for (const auto &option : s.valued)
      add_once(options, option);
  out << "\n# _zdctl_value_kind OPTION: what the value of OPTION completes to.\n"
         "_zdctl_value_kind() {\n  case $1 in\n";
  for (const auto &option : options)
    if (value_kind(option) != "-")
      out << "  " << quoted(option) << ") kind=" << value_kind(option) << " ;;\n";
  out << "  *) kind=- ;;\n  esac\n}\n";
}

void write_offer(std::ostream &out) {
  out << "\n# _zdctl_offer KIND CUR ZDCTL STATE: the words of KIND that start with CUR.\n"
         "_zdctl_offer() {\n  case $1 in\n"
         "  commands) compgen -W \"$commands\" -- \"$2\" ;;\n"
         "  options) compgen -W \"$flags $valued\" -- \"$2\" ;;\n"
         "  domains | workspaces) compgen -W \"$(_zdctl_names \"$1\" \"$3\" \"$4\")\" -- "
         "\"$2\" ;;\n"
         "  dirs) compgen -d -- \"$2\" ;;\n"
         "  groups) compgen -g -- \"$2\" ;;\n"
         "  interfaces)\n    local ifaces=(/sys/class/net/*)\n"
         "    compgen -W \"${ifaces[*]##*/}\" -- \"$2\"\n    ;;\n"
         "  shells) compgen -W "
      << quoted(joined(kShells)) << " -- \"$2\" ;;\n  esac\n}\n";
}

} // namespace

std::string bash_completion(const CLI::App &root) {
  std::vector<Spec> specs;
  collect(root, "zdctl", specs);
  std::ostringstream out;
  out << "# bash completion for zdctl, written by `zdctl completion bash` from its own\n"
         "# commands and options.\n"
         "# Load it with: source <(zdctl completion bash), or install it as\n"
         "# /usr/share/bash-completion/completions/zdctl.\n";
  write_spec(out, specs);
  write_value_kinds(out, specs);
  write_offer(out);
  out << kWalker << "\ncomplete -F _zdctl zdctl\n";
  return out.str();
}

void completion_options(CLI::App &cmd, Options &o) {
  cmd.add_option("SHELL", o.shell, "the shell to write it for")
      ->required()
      ->check(CLI::IsMember(kShells));
  const CLI::App *root = &cmd;
  while (root->get_parent())
    root = root->get_parent();
  o.cli = root;
}

void do_completion(const Options &opts) {
  std::cout << bash_completion(*opts.cli);
}

} // namespace zdctl
