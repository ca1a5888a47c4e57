#!/usr/bin/env bash
# Drives the bash completion that `zdctl completion bash` prints, in bash, as
# bash would: COMP_WORDS and COMP_CWORD set, _zdctl called, COMPREPLY read.
#
# Usage: completion.sh ZDCTL
#          commands, options and values; names from a fake zdctl on PATH
#          that prints `status --json` (no privilege)
#        completion.sh --state ZDCTL ZD_ECHO
#          names from a real state, in a private network + mount namespace
#          with its own bpffs (root; exit 77 otherwise)
set -uo pipefail

mode=words
if [[ ${1:-} == --state ]]; then
  mode=state
  shift
fi
zdctl=$(realpath "${1:?usage: completion.sh [--state] ZDCTL [ZD_ECHO]}")
failures=0

if [[ $mode == state && -z ${ZD_COMPLETION_INNER:-} ]]; then
  ((EUID == 0)) || { echo "completion.sh: needs root (skipped)"; exit 77; }
  ZD_COMPLETION_INNER=1 exec unshare -n -m -- "$0" --state "$@"
fi

# expect WANT WORDS...: completing the last of WORDS offers exactly WANT.
expect() {
  local want=$1 got
  shift
  COMP_WORDS=("$@")
  COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
  COMPREPLY=()
  _zdctl 2>"$work/stderr"
  got=$(printf '%s\n' "${COMPREPLY[@]}" | sort | xargs)
  if [[ $got != "$want" ]]; then
    echo "FAIL: '${COMP_WORDS[*]}<TAB>' offered '$got', expected '$want'"
    failures=$((failures + 1))
  fi
  if [[ -s $work/stderr ]]; then
    echo "FAIL: '${COMP_WORDS[*]}<TAB>' wrote to stderr: $(cat "$work/stderr")"
    failures=$((failures + 1))
  fi
}

load() {
  "$zdctl" completion bash >"$work/zdctl.bash" || { echo "FAIL: zdctl completion bash"; exit 1; }
  bash -n "$work/zdctl.bash" || { echo "FAIL: the script is not valid bash"; exit 1; }
  # shellcheck source=/dev/null
  source "$work/zdctl.bash"
}

# A zdctl on PATH that answers `status --json` from $work/status.json (as the
# real one prints it), notes its arguments, and fails when there is no file.
fake_zdctl() {
  mkdir -p "$work/bin"
  cat >"$work/bin/zdctl" <<EOF
#!/bin/sh
echo "\$*" >>"$work/calls"
[ -f "$work/status.json" ] || { echo "zdctl: error: not attached" >&2; exit 1; }
cat "$work/status.json"
EOF
  chmod +x "$work/bin/zdctl"
  cat >"$work/status.json" <<'EOF'
{
  "domains": [
    {
      "active": "blue",
      "bindings": [
        "tcp://10.99.0.1:80"
      ],
      "name": "shop",
      "previous": null
    },
    {
      "active": null,
      "bindings": [],
      "name": "shop-2",
      "previous": null
    }
  ],
  "workspaces": [
    {
      "interface": "veth-red",
      "name": "blue",
      "sockets": [
        {
          "endpoint": "tcp://[::1]:3001"
        }
      ]
    },
    {
      "name": "green",
      "sockets": []
    }
  ],
  "xdp": {
    "interfaces": [
      {
        "mode": "native",
        "name": "eth0"
      }
    ]
  }
}
EOF
  PATH=$work/bin:$PATH
}

test_words() {
  load
  expect "switch" zdctl sw
  expect "apply attach canary completion detach domain drain export history metrics revert serve status switch upgrade workspace" zdctl ''
  expect "--force" zdctl switch --f
  expect "--xdp --xdp-generic" zdctl attach --xd
  expect "add rm set" zdctl domain ''
  expect "add rm set" zdctl -v workspace ''
  expect "--json" zdctl status --j
  expect "bash" zdctl completion ''
  expect "lo" zdctl attach --xdp lo
  expect "nogroup" zdctl attach --group nogrou
  expect "--listen" zdctl domain add shop --li
  expect "" zdctl domain add ''

  fake_zdctl
  expect "shop shop-2" zdctl switch ''
  expect "shop-2" zdctl switch shop-
  expect "blue green" zdctl switch shop ''
  expect "blue green" zdctl switch --force shop ''
  expect "shop shop-2" zdctl revert ''
  expect "shop shop-2" zdctl domain rm ''
  expect "blue green" zdctl workspace rm ''
  expect "shop shop-2" zdctl drain ''
  expect "blue green" zdctl drain shop --workspace ''
  expect "" zdctl domain add ''
  # Every argument given: options.
  expect "--force" zdctl switch shop blue --f

  # --state before or after the command, in both spellings, reaches zdctl.
  : >"$work/calls"
  expect "shop shop-2" zdctl --state /x/zd switch ''
  expect "blue green" zdctl switch --state /y/zd shop ''
  expect "shop shop-2" zdctl --state = /z/zd revert ''
  expect "shop shop-2" zdctl revert ''
  local calls
  calls=$(cat "$work/calls")
  local want=$'--state /x/zd --json status\n--state /y/zd --json status\n--state /z/zd --json status\n--json status'
  [[ $calls == "$want" ]] || { echo "FAIL: zdctl was called as: $calls"; failures=$((failures + 1)); }

  # zdctl is run as typed, ~/ included.
  # shellcheck disable=SC2088 # a literal ~, as bash hands it over
  HOME=$work expect "blue green" '~/bin/zdctl' workspace rm ''

  # No state (or no root): no names, and nothing on the terminal.
  rm "$work/status.json"
  expect "" zdctl switch ''
  expect "" zdctl switch shop ''
}

test_state() {
  local echo_bin state
  echo_bin=$(realpath "${2:?usage: completion.sh --state ZDCTL ZD_ECHO}")
  mount --make-rprivate /
  mkdir "$work/bpf"
  mount -t bpf bpf "$work/bpf"
  ip link set lo up
  state=$work/bpf/zd
  z() { "$zdctl" --state "$state" "$@" >/dev/null || { echo "FAIL: zdctl $*"; exit 1; }; }
  z attach
  z domain add shop --listen tcp://10.99.0.1:80
  z domain add shop-2 --listen tcp://10.99.0.2:80
  "$echo_bin" blue 127.0.0.1:3001 >"$work/echo.out" &
  echo_pid=$!
  for _ in $(seq 50); do [[ -s $work/echo.out ]] && break; sleep 0.05; done
  z workspace add blue --pid "$echo_pid" --socket tcp://127.0.0.1:3001

  load
  expect "shop shop-2" "$zdctl" --state "$state" switch ''
  expect "blue" "$zdctl" --state "$state" switch shop ''
  expect "blue" "$zdctl" workspace rm --state "$state" b
  expect "shop-2" "$zdctl" --state = "$state" domain rm shop-
  # Another state directory, with nothing there: no names, no error text.
  expect "" "$zdctl" --state "$work/bpf/none" switch ''
}

work=$(mktemp -d /tmp/zd-completion.XXXXXX)
echo_pid=
cleanup() {
  [[ -n $echo_pid ]] && kill "$echo_pid" 2>/dev/null && wait "$echo_pid" 2>/dev/null
  umount "$work/bpf" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

"test_$mode" "$@"
((failures == 0)) && echo "completion.sh ($mode): all passed"
((failures == 0))
