#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# check_exports.sh LIBDMAKIT_SO INCLUDE_DIR
#
# The shared library exports exactly the public API:
#   - every dynamic symbol it defines (nm -D --defined-only) starts with dmk_
#     and is declared in a public header;
#   - every function declared in a public header is exported (static inline
#     functions excepted).
# INCLUDE_DIR is the directory holding dmakit/ (or dmakit/ itself). Public
# headers are INCLUDE_DIR/dmakit/*.h, whatever is there when the test runs.
#
# Functions declared in the headers are listed by the compiler, not by a
# regex: every header is compiled (-fsyntax-only) with -aux-info, which
# writes one line per function declaration with its file and line. Data
# symbols are looked for, as whole words, in the headers without comments.
#
# Environment: CC (default cc; may hold several words, e.g. "ccache cc"),
# CFLAGS (extra flags for that compile), NM (default nm).
# Prints each mismatch; exits 1 on any, 0 when none, 77 (skipped) when the
# library is not an ELF shared object nm can read.

set -u

if [ $# -ne 2 ]; then
	echo "usage: $0 LIBDMAKIT_SO INCLUDE_DIR" >&2
	exit 2
fi
lib=$1
inc=$2
CC=${CC:-cc}
NM=${NM:-nm}

if [ ! -f "$lib" ]; then
	echo "check_exports: $lib: no such library" >&2
	exit 1
fi
if [ -d "$inc/dmakit" ]; then
	hdrdir=$(cd "$inc/dmakit" && pwd)
else
	hdrdir=$(cd "$inc" && pwd)
fi
incroot=$(dirname "$hdrdir")
pkg=$(basename "$hdrdir")

shopt -s nullglob
headers=("$hdrdir"/*.h)
shopt -u nullglob
if [ ${#headers[@]} -eq 0 ]; then
	echo "check_exports: no headers in $hdrdir" >&2
	exit 1
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# --- what the library exports: "TYPE NAME" lines --------------------------
if ! $NM -D --defined-only "$lib" >"$tmp/nm.out" 2>"$tmp/nm.err"; then
	echo "check_exports: $NM -D cannot read $lib (skipped):" >&2
	cat "$tmp/nm.err" >&2
	exit 77
fi
# "ADDR TYPE NAME[@@VERSION]"; absolute symbols (A) are version nodes.
awk 'NF >= 2 { t = $(NF-1); n = $NF; sub(/@.*/, "", n);
	if (t != "A" && n != "") print t, n }' "$tmp/nm.out" | sort -u -k2 >"$tmp/exported"

# --- what the headers declare ----------------------------------------------
{
	for h in "${headers[@]}"; do
		printf '#include <%s/%s>\n' "$pkg" "$(basename "$h")"
	done
} >"$tmp/all.c"
# shellcheck disable=SC2086  # CC and CFLAGS may be several words
if ! $CC -std=gnu11 -D_GNU_SOURCE ${CFLAGS:-} -I"$incroot" -fsyntax-only \
	-aux-info "$tmp/aux" -o /dev/null "$tmp/all.c" 2>"$tmp/cc.err"; then
	echo "check_exports: the public headers do not compile:" >&2
	cat "$tmp/cc.err" >&2
	exit 1
fi
# "/* /abs/include/dmakit/dma.h:90:NC */ extern int dmk_x (...);"
# -> "NAME FILE:LINE", non-static functions of the public headers only.
awk -v dir="$hdrdir/" '
	$1 == "/*" && index($2, dir) == 1 && $3 == "*/" {
		decl = $0; sub(/^[^*]*\*[^*]*\*\/ */, "", decl)
		if (decl ~ /^static /) next
		if (!match(decl, /[A-Za-z_][A-Za-z0-9_]* \(/)) next
		name = substr(decl, RSTART, RLENGTH - 2)
		loc = $2; sub(/:[^:]*$/, "", loc)
		print name, loc
	}' "$tmp/aux" | sort -u -k1,1 >"$tmp/declared"

# Headers without comments, for data symbols.
for h in "${headers[@]}"; do
	# shellcheck disable=SC2086
	$CC -fpreprocessed -dD -E -P -x c "$h" 2>/dev/null
done >"$tmp/headers.nocomment"

problems=0
report() {
	echo "$*"
	problems=$((problems + 1))
}

# Every exported symbol: dmk_ and declared.
while read -r type name; do
	if [[ $name != dmk_* ]]; then
		report "$lib: exports $name ($type), which does not start with dmk_"
		continue
	fi
	case $type in
	T | t | W | w | i)
		if ! awk -v n="$name" '$1 == n { found = 1 } END { exit !found }' "$tmp/declared"; then
			report "$lib: exports function $name, declared in no public header"
		fi
		;;
	*)
		if ! grep -qw -- "$name" "$tmp/headers.nocomment"; then
			report "$lib: exports data $name ($type), declared in no public header"
		fi
		;;
	esac
done <"$tmp/exported"

# Every declared function: exported.
while read -r name loc; do
	if ! awk -v n="$name" '$2 == n { found = 1 } END { exit !found }' "$tmp/exported"; then
		report "$loc: $name() is declared but $(basename "$lib") does not export it"
	fi
done <"$tmp/declared"

nexp=$(wc -l <"$tmp/exported")
ndecl=$(wc -l <"$tmp/declared")
if [ "$problems" -ne 0 ]; then
	echo "check_exports: $problems mismatch(es); $nexp symbols exported, $ndecl functions declared in ${#headers[@]} headers" >&2
	exit 1
fi
echo "check_exports: OK, $nexp symbols exported, $ndecl functions declared in ${#headers[@]} headers"
exit 0
