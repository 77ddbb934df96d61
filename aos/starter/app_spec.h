#ifndef AOS_STARTER_APP_SPEC_H_
#define AOS_STARTER_APP_SPEC_H_

// What starterd needs to know about each application it supervises, taken
// from the configuration's `applications` and checked before anything runs.
//
// The configuration merges applications by name (an import's entry and the
// importing file's entry are one application), so after ReadConfig two
// entries with one name can no longer be seen. A file that lists one name
// twice is almost always a copy-paste mistake whose second half silently
// overrides the first; CheckNoDuplicateApplications finds it in the JSON
// files themselves.

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "aos/configuration_generated.h"
#include "aos/util/status.h"

namespace aos::starter {

// One application, as configured (upstream's Application table).
struct AppSpec {
  std::string name;
  // As written in the config (defaults to name): a path if it contains a
  // '/', else a program looked up in PATH when it starts.
  std::string executable_name;
  std::vector<std::string> args;
  // Empty: run as starterd's own user.
  std::string user;
  bool autostart = true;
  bool autorestart = true;
  // Bytes; 0 means no limit.
  uint64_t memory_limit = 0;
  std::chrono::nanoseconds stop_time{std::chrono::seconds(1)};
};

// The applications of `config` that run on `node` (every one in a
// single-node config; see configuration::ApplicationShouldStart), sorted by
// name. Errors name the application and the field: a negative stop_time, an
// empty executable_name or name.
Result<std::vector<AppSpec>> AppSpecsForNode(const Configuration *config,
                                             const Node *node);

// Reads the JSON config at `path` and every JSON file it imports (relative
// to the importing file, as ReadConfig resolves them) and returns an error
// naming the file and the application if one file lists an application name
// twice. Files that cannot be read or parsed are skipped: ReadConfig reports
// those with line and column. A binary (.bfbs) config is already merged and
// passes.
Result<void> CheckNoDuplicateApplications(std::string_view path);

// A user account an application runs as.
struct UserIds {
  std::string name;
  uid_t uid = 0;
  gid_t gid = 0;
  // Every group of the user (primary included), for setgroups().
  std::vector<gid_t> groups;
  std::string home;
};

// Looks `user` up in the system's user database. The error says the user
// does not exist and how to fix it.
Result<UserIds> LookUpUser(std::string_view user);

// Where exec will find `executable_name`: itself if it contains a '/'
// (relative to the working directory), else the first executable regular
// file of that name in `path_env` (a PATH-style list; empty entries mean the
// working directory). The error says what was looked for and where.
Result<std::string> ResolveExecutable(std::string_view executable_name,
                                      std::string_view path_env);

}  // namespace aos::starter

#endif  // AOS_STARTER_APP_SPEC_H_
