#!/usr/bin/env bash
# Checks the compile-time safety rails of the EventLoop API (see
# event_loop_compile_errors.cc): the correct code compiles, each mistake
# fails with its own short message, and a missing _static.h include fails
# first with the static_assert that names it.
#
#   check_compile_errors.sh <source.cc> <compiler> [flags...]
set -uo pipefail
source=$1
shift
compile() { "$@" -fsyntax-only "$source" 2>&1; }
fail() { echo "check_compile_errors: $*" >&2; exit 1; }

out=$(compile "$@" -DAOS_CASE_OK) || fail "the correct code does not compile: $out"

out=$(compile "$@" -DAOS_CASE_MISTAKES) && fail "the mistakes compiled"
expect_count() {
  local count
  count=$(grep -c "error: .*$1" <<<"$out")
  [[ $count -eq $2 ]] || fail "want $2 errors '$1', got $count: $out"
}
expect_count "Watchers read ordinary flatbuffers: use Foo, not FooStatic" 1
expect_count "MakeWatcher needs a callable taking exactly one argument" 3
expect_count "ignoring return value of .*RunFor" 1
# Nothing else: each mistake is its one message, not pages of errors.
others=$(grep "error:" <<<"$out" | grep -v -e "Watchers read ordinary" \
  -e "MakeWatcher needs a callable" -e "ignoring return value")
[[ -z "$others" ]] || fail "unexpected errors: $others"

out=$(compile "$@" -DAOS_CASE_MISSING_STATIC_HEADER) && fail "compiled without _static.h"
first=$(grep -m1 "error:" <<<"$out")
[[ $first == *"MakeStaticBuilder needs the message's static flatbuffer API"* ]] ||
  fail "first error is not the static_assert: $first"
echo "check_compile_errors: ok"
