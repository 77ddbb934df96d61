#!/usr/bin/env bash
# Checks that the code a document shows is the code CI builds and runs.
#
#   tools/check_doc_snippets.sh <repo root> <doc.md>...
#
# In the documents, a fenced code block right after a line
#   <!-- snippet: path/from/repo/root -->
# must equal that file, byte for byte (run as the CTest test docs_snippets).
# On a difference it prints a unified diff and exits 1; a marker without a
# block after it, or naming a missing file, is an error too.
set -euo pipefail
root=$1
shift
status=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

for doc in "$@"; do
  # Writes each marked block to $tmp/<n> and lists "<n> <path> <line>".
  awk -v dir="$tmp" '
    /^<!-- snippet: .* -->$/ {
      path = $3; marker = NR; want = 1; next
    }
    want && /^```/ {
      n++; file = dir "/" n; printf "" > file
      print n, path, marker > (dir "/index")
      inblock = 1; want = 0; next
    }
    want && NF { print "marker at line " marker " is not followed by a code block" > "/dev/stderr"; exit 2 }
    inblock && /^```/ { inblock = 0; close(file); next }
    inblock { print >> file }
  ' "$doc" || { echo "$doc: bad snippet marker" >&2; exit 1; }
  [[ -f "$tmp/index" ]] || { echo "$doc: no snippet markers" >&2; status=1; continue; }
  count=0
  while read -r n path line; do
    count=$((count + 1))
    if [[ ! -f "$root/$path" ]]; then
      echo "$doc:$line: snippet names $path, which does not exist" >&2
      status=1
    elif ! diff -u --label "$path" --label "$doc:$line" "$root/$path" "$tmp/$n"; then
      echo "$doc:$line: the snippet differs from $path (update one of them)" >&2
      status=1
    fi
  done <"$tmp/index"
  rm -f "$tmp"/*
  echo "$doc: $count snippets checked"
done
exit $status
