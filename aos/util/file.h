#ifndef AOS_UTIL_FILE_H_
#define AOS_UTIL_FILE_H_

// Whole-file reads and writes and directory helpers, with upstream AOS's
// names so ported code compiles.
//
// Two flavours: the `OrDie` functions are for programs whose files are part
// of their build (a schema next to the binary, a test's own output) and
// CHECK-fail naming the path and errno text; the `Result` functions are for
// files a user named, where the caller reports the error and carries on.

#include <sys/stat.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "aos/util/status.h"

namespace aos::util {

// The whole contents of `filename`, or an error naming the path and why.
Result<std::string> ReadFileToString(std::string_view filename);

// The whole contents of `filename`; CHECK-fails naming the path on error.
std::string ReadFileToStringOrDie(std::string_view filename);

// The whole contents of `filename`, or nullopt if it cannot be read (the
// reason is logged at VLOG(1)).
std::optional<std::string> MaybeReadFileToString(std::string_view filename);

// The whole contents of `filename` as bytes; CHECK-fails on error.
std::vector<uint8_t> ReadFileToVecOrDie(std::string_view filename);

// Replaces `filename` with `contents` (created with `permissions` if new).
// Returns an error naming the path on failure (a full disk included: the
// write and the close are both checked).
Result<void> WriteStringToFile(std::string_view filename,
                               std::string_view contents,
                               mode_t permissions = S_IRWXU);

// As WriteStringToFile, CHECK-failing on error.
void WriteStringToFileOrDie(std::string_view filename,
                            std::string_view contents,
                            mode_t permissions = S_IRWXU);

// Makes every missing directory of `path` up to and including its last
// component's parent, as upstream: "a/b/c" makes "a" and "a/b" (a path ending
// in '/' makes its last directory too). CHECK-fails on any error but EEXIST.
void MkdirP(std::string_view path, mode_t mode);

// As MkdirP, but returns false instead of dying when the disk is full
// (ENOSPC), so a logger can stop cleanly.
bool MkdirPIfSpace(std::string_view path, mode_t mode);

// True if `path` exists (any kind of file).
bool PathExists(std::string_view path);

// Removes `path` and, if it is a directory, everything below it. A missing
// path is fine; any other error CHECK-fails naming the file.
void UnlinkRecursive(std::string_view path);

}  // namespace aos::util

#endif  // AOS_UTIL_FILE_H_
