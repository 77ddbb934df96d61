#ifndef AOS_TESTING_TMPDIR_H_
#define AOS_TESTING_TMPDIR_H_

// Temporary directories for tests.
//
// Every test process gets a private directory (TestTmpDir()), made by the test
// main and removed when the process exits, so tests can run in parallel and
// twice in a row without seeing each other's files. TempDir makes a further
// unique directory that is removed when it goes out of scope.

#include <string>

namespace aos::testing {

// This test process's private temporary directory. CHECK-fails if the test
// main has not set it up.
const std::string &TestTmpDir();

// Sets the directory TestTmpDir() returns. Called by the test main.
void SetTestTmpDir(std::string path);

// Removes `path` and everything below it. Returns false (and logs) on failure;
// a missing path is not a failure.
bool RemoveRecursively(const std::string &path);

// A fresh, empty, uniquely named directory, removed with its contents on
// destruction.
class TempDir {
 public:
  // Makes the directory under `parent` (TestTmpDir() when running under the
  // test main, else $TMPDIR or /tmp).
  TempDir();
  explicit TempDir(const std::string &parent);
  ~TempDir();

  TempDir(const TempDir &) = delete;
  TempDir &operator=(const TempDir &) = delete;

  const std::string &path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace aos::testing

#endif  // AOS_TESTING_TMPDIR_H_
