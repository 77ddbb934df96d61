#include "aos/events/logging/log_files.h"

#include <algorithm>
#include <filesystem>
#include <tuple>

#include "aos/events/logging/str_cat.h"

namespace aos::logger {

Result<std::vector<std::string>> FindLogFiles(
    const std::vector<std::string> &paths) {
  if (paths.empty()) {
    return MakeError(
        "no log given: pass log part files (.bfbs, .bfbs.zst, .bfbs.xz, "
        ".bfbs.sz) and/or "
        "folders holding them");
  }
  std::vector<std::string> files;
  for (const std::string &path : paths) {
    std::error_code error;
    const std::filesystem::file_status status =
        std::filesystem::status(path, error);
    if (error || !std::filesystem::exists(status)) {
      return MakeError(StrCat(path, ": no such file or folder"));
    }
    if (!std::filesystem::is_directory(status)) {
      files.push_back(path);
      continue;
    }
    size_t found = 0;
    for (std::filesystem::recursive_directory_iterator it(path, error), end;
         !error && it != end; it.increment(error)) {
      if (it->is_regular_file() && IsPartFileName(it->path().string())) {
        files.push_back(it->path().string());
        ++found;
      }
    }
    if (error) {
      return MakeError(
          StrCat(path, ": cannot list the folder: ", error.message()));
    }
    if (found == 0) {
      return MakeError(StrCat(
          path,
          ": no log files (.bfbs, .bfbs.zst, .bfbs.xz, .bfbs.sz) in this "
          "folder or below it"));
    }
  }
  std::sort(files.begin(), files.end());
  files.erase(std::unique(files.begin(), files.end()), files.end());
  return files;
}

namespace {

// A header holding only a configuration: a configuration file.
bool IsConfigOnly(const LogFileHeader &header) {
  return header.configuration() != nullptr && header.parts_uuid() == nullptr &&
         header.log_event_uuid() == nullptr;
}

std::string_view StringOrEmpty(const flatbuffers::String *string) {
  return string == nullptr ? std::string_view() : string->string_view();
}

}  // namespace

const Configuration *LogFiles::ConfigurationOf(const Part &part) const {
  if (part.header().configuration() != nullptr) {
    return part.header().configuration();
  }
  const auto it = configs.find(
      std::string(StringOrEmpty(part.header().configuration_sha256())));
  if (it == configs.end()) return nullptr;
  return it->second.header().configuration();
}

Result<LogFiles> OpenLogFiles(const std::vector<std::string> &paths) {
  Result<std::vector<std::string>> files = FindLogFiles(paths);
  if (!files) return std::unexpected(files.error());
  LogFiles log;
  for (const std::string &path : *files) {
    Result<std::unique_ptr<PartReader>> reader = PartReader::Open(path);
    if (!reader) return std::unexpected(reader.error());
    LogFiles::Part part;
    part.path = path;
    std::error_code ignored;
    part.file_size = std::filesystem::file_size(path, ignored);
    part.reader = std::move(*reader);
    if (IsConfigOnly(part.header())) {
      const std::string sha256 = Sha256Hex(part.reader->header_span());
      log.configs.emplace(sha256, std::move(part));
    } else {
      log.parts.push_back(std::move(part));
    }
  }
  for (const LogFiles::Part &part : log.parts) {
    if (log.ConfigurationOf(part) == nullptr) {
      return MakeError(
          StrCat(part.path, ": its configuration file (",
                 StringOrEmpty(part.header().configuration_sha256()),
                 ".bfbs[.zst|.xz|.sz]) is not among the files given; pass the "
                 "log's folder "
                 "or add that file"));
    }
  }
  const auto key = [](const LogFiles::Part &part) {
    const LogFileHeader &header = part.header();
    return std::make_tuple(
        std::string(StringOrEmpty(header.log_event_uuid())),
        std::string(header.node() == nullptr
                        ? std::string_view()
                        : StringOrEmpty(header.node()->name())),
        std::string(StringOrEmpty(header.parts_uuid())), header.parts_index(),
        part.path);
  };
  std::sort(log.parts.begin(), log.parts.end(),
            [&](const LogFiles::Part &a, const LogFiles::Part &b) {
              return key(a) < key(b);
            });
  return log;
}

}  // namespace aos::logger
