#ifndef AOS_TESTING_PATH_H_
#define AOS_TESTING_PATH_H_

// Finding a test's data files (upstream's aos/testing/path.h).
//
// Upstream tests name their inputs by their path in the repository, e.g.
// ArtifactPath("aos/json_to_flatbuffer.bfbs") or
// ArtifactPath("aos/testdata/config1.json"), and Bazel's runfiles put both
// built and checked-in files under one root. Here built files live in the
// CMake build tree and checked-in ones in the source tree, so ArtifactPath
// looks in the build tree first, then in the source tree.

#include <string>
#include <string_view>

namespace aos::testing {

// The path of `path` (relative to the repository root) in the build tree if
// it exists there, else in the source tree. If it exists in neither, the
// source-tree path, so that opening it fails naming where it should be.
std::string ArtifactPath(std::string_view path);

}  // namespace aos::testing

#endif  // AOS_TESTING_PATH_H_
