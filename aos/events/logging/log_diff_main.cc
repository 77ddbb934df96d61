// log_diff: compares two logs channel by channel (see log_diff.h).
//
//   log_diff <log A> <log B> [--ignore=/aos,/camera]
//
// Each log is a folder (or a single part file). Prints the comparison as
// JSON on stdout. Exit status: 0 when the logs are equal, 1 when they
// differ, 2 on bad input (one line on stderr).

#include <iostream>
#include <sstream>

#include "aos/events/logging/log_diff.h"
#include "aos/events/logging/logfile_sorting.h"
#include "aos/init.h"
#include "gflags/gflags.h"

DEFINE_string(ignore, "",
              "Comma-separated channels expected to differ: a name skips "
              "every type on it, \"name type\" only that one.");

namespace {

int Fail(const std::string &message) {
  std::cerr << "log_diff: " << message << "\n";
  return 2;
}

aos::Result<std::vector<aos::logger::LogFile>> Load(const std::string &path) {
  aos::Result<std::vector<std::string>> files =
      aos::logger::FindLogs(std::vector<std::string>{path});
  if (!files) return std::unexpected(files.error());
  return aos::logger::SortParts(*files);
}

}  // namespace

int main(int argc, char **argv) {
  gflags::SetUsageMessage(
      "Compares two logs channel by channel.\n"
      "Usage: log_diff <log A> <log B> [--ignore=/aos,...]\n"
      "Exit status 0: equal; 1: different; 2: bad input.");
  aos::InitGoogle(&argc, &argv);
  if (argc != 3) {
    return Fail("expected two logs (folders or part files), got " +
                std::to_string(argc - 1) + " arguments; see --help");
  }
  aos::logger::LogDiffOptions options;
  std::stringstream ignore(FLAGS_ignore);
  for (std::string item; std::getline(ignore, item, ',');) {
    if (!item.empty()) options.ignore.push_back(item);
  }
  auto a = Load(argv[1]);
  if (!a) return Fail(a.error().message());
  auto b = Load(argv[2]);
  if (!b) return Fail(b.error().message());
  aos::Result<aos::logger::LogDiff> diff =
      aos::logger::DiffLogs(*a, *b, options);
  if (!diff) return Fail(diff.error().message());
  std::cout << diff->ToJson();
  return diff->equal ? 0 : 1;
}
