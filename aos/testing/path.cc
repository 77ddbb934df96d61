#include "aos/testing/path.h"

#include <sys/stat.h>

namespace aos::testing {
namespace {

bool Exists(const std::string &path) {
  struct stat info;
  return stat(path.c_str(), &info) == 0;
}

}  // namespace

std::string ArtifactPath(std::string_view path) {
  const std::string built = std::string(AOS_BINARY_DIR "/") + std::string(path);
  if (Exists(built)) return built;
  return std::string(AOS_SOURCE_DIR "/") + std::string(path);
}

}  // namespace aos::testing
