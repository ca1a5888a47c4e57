#!/usr/bin/env bash
# Builds the Debian package with `cpack -G DEB` from a built tree, into a
# temporary directory, and checks it: exactly zdctl, its HTTP module
# (which zdctl finds at ../lib/zd/ from itself), its man page, its bash
# completion and the example units (if docs/examples/ has any); a Depends
# line that dpkg-shlibdeps computed from what zdctl and the module link
# dynamically; and a packaged zdctl that runs and prints the packaged
# completion.
#
# Usage: deb.sh BUILD_DIR SOURCE_DIR   (exit 77 without cpack or dpkg-dev)
set -uo pipefail

build=$(realpath "${1:?usage: deb.sh BUILD_DIR SOURCE_DIR}")
source_dir=$(realpath "${2:?usage: deb.sh BUILD_DIR SOURCE_DIR}")
for tool in cpack dpkg-deb dpkg-shlibdeps file; do
  command -v "$tool" >/dev/null || { echo "deb.sh: $tool is missing (skipped)"; exit 77; }
done

work=$(mktemp -d /tmp/zd-deb.XXXXXX)
trap 'rm -rf "$work"' EXIT
failures=0
fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}

(cd "$build" && cpack -G DEB -B "$work/out") >"$work/cpack.log" 2>&1 ||
  { cat "$work/cpack.log"; echo "FAIL: cpack"; exit 1; }
debs=("$work"/out/*.deb)
if ((${#debs[@]} != 1)) || [[ ! -f ${debs[0]} ]]; then
  echo "FAIL: not one .deb: ${debs[*]}"
  exit 1
fi
deb=${debs[0]}

# The files, and nothing else: a test or benchmark binary never leaks in.
want=(./usr/sbin/zdctl ./usr/lib/zd/zd-http.so ./usr/share/man/man1/zdctl.1
  ./usr/share/bash-completion/completions/zdctl)
if [[ -d $source_dir/docs/examples ]]; then
  while IFS= read -r f; do
    want+=("./usr/share/doc/zd/examples/${f#"$source_dir"/docs/examples/}")
  done < <(find "$source_dir/docs/examples" -type f)
fi
got=$(dpkg-deb -c "$deb" | awk '$1 !~ /^d/ {print $6}' | sort)
expected=$(printf '%s\n' "${want[@]}" | sort)
[[ $got == "$expected" ]] || fail "package holds:"$'\n'"$got"$'\n'"expected:"$'\n'"$expected"

# Depends: one package per library zdctl or its module needs at run time,
# as dpkg knows them (libbpf too when it is linked dynamically; the build
# links it statically when Debian ships the archive).
depends=$(dpkg-deb -f "$deb" Depends)
[[ -n $depends ]] || fail "no Depends line"
needed=$(objdump -p "$build/user/zdctl" "$build/lib/zd/zd-http.so" |
  awk '$1 == "NEEDED" {print $2}' | sort -u)
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
for soname in $needed; do
  [[ $soname == ld-linux* ]] && continue
  pkg=$(dpkg-query -S "*/$multiarch/$soname" 2>/dev/null | head -1 | cut -d: -f1)
  [[ -n $pkg ]] || { fail "no package ships $soname"; continue; }
  [[ ", $depends," == *", $pkg "* || ", $depends," == *", $pkg,"* ]] ||
    fail "Depends '$depends' lacks $pkg (for $soname)"
done
for field in Package Version Architecture Maintainer Section Description; do
  [[ -n $(dpkg-deb -f "$deb" "$field") ]] || fail "no $field field"
done

# The packaged zdctl runs, and its completion is the one packaged.
dpkg-deb -x "$deb" "$work/root"
"$work/root/usr/sbin/zdctl" --version >/dev/null || fail "the packaged zdctl does not run"
"$work/root/usr/sbin/zdctl" completion bash | cmp -s - "$work/root/usr/share/bash-completion/completions/zdctl" ||
  fail "the packaged completion is not the packaged zdctl's"

((failures == 0)) && echo "deb.sh: $(basename "$deb") (Depends: $depends): all passed"
((failures == 0))
