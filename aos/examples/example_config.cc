#include "aos/examples/example_config.h"

#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <string>
#include <system_error>

namespace aos::examples {

FlatbufferDetachedBuffer<Configuration> ReadExampleConfigOrExit(
    std::string_view path) {
  std::string resolved(path);
  std::error_code error;
  if (!std::filesystem::exists(resolved, error) &&
      std::filesystem::path(resolved).is_relative()) {
    const std::filesystem::path self =
        std::filesystem::read_symlink("/proc/self/exe", error);
    if (!error &&
        std::filesystem::exists(self.parent_path() / resolved, error)) {
      resolved = (self.parent_path() / resolved).string();
    }
  }
  Result<FlatbufferDetachedBuffer<Configuration>> config =
      configuration::MaybeReadConfig(resolved);
  if (!config) {
    std::cerr << "Cannot read --config=" << path << ": "
              << config.error().message() << "\n";
    std::exit(1);
  }
  return std::move(*config);
}

}  // namespace aos::examples
