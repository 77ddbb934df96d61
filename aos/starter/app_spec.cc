#include "aos/starter/app_spec.h"

#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "aos/configuration.h"
#include "aos/json_to_flatbuffer.h"

namespace aos::starter {

Result<std::vector<AppSpec>> AppSpecsForNode(const Configuration *config,
                                             const Node *node) {
  std::vector<AppSpec> specs;
  if (config->applications() == nullptr) return specs;
  for (const Application *application : *config->applications()) {
    if (application->name() == nullptr || application->name()->size() == 0) {
      return MakeError(
          "an application has no \"name\"; give every entry of "
          "\"applications\" a unique name");
    }
    if (!configuration::ApplicationShouldStart(config, node, application)) {
      continue;
    }
    AppSpec spec;
    spec.name = application->name()->str();
    const std::string where = "application \"" + spec.name + "\": ";
    spec.executable_name = application->executable_name() != nullptr
                               ? application->executable_name()->str()
                               : spec.name;
    if (spec.executable_name.empty()) {
      return MakeError(where +
                       "\"executable_name\" is empty; name the program to "
                       "run or leave the field out to run \"" +
                       spec.name + "\"");
    }
    if (application->args() != nullptr) {
      for (const flatbuffers::String *arg : *application->args()) {
        spec.args.push_back(arg->str());
      }
    }
    if (application->user() != nullptr) spec.user = application->user()->str();
    spec.autostart = application->autostart();
    spec.autorestart = application->autorestart();
    spec.memory_limit = application->memory_limit();
    if (application->stop_time() < 0) {
      return MakeError(where + "\"stop_time\" is " +
                       std::to_string(application->stop_time()) +
                       " ns; it must be 0 or more (nanoseconds between "
                       "SIGINT and SIGKILL)");
    }
    spec.stop_time = std::chrono::nanoseconds(application->stop_time());
    specs.push_back(std::move(spec));
  }
  return specs;
}

namespace {

Result<void> CheckFile(const std::filesystem::path &path,
                       std::set<std::filesystem::path> *seen) {
  std::error_code error;
  const std::filesystem::path canonical =
      std::filesystem::weakly_canonical(path, error);
  if (error || !seen->insert(canonical).second) return {};
  std::ifstream file(path);
  if (!file) return {};
  std::stringstream text;
  text << file.rdbuf();
  Result<FlatbufferDetachedBuffer<Configuration>> config =
      MaybeJsonToFlatbuffer<Configuration>(text.str());
  if (!config) return {};
  const Configuration &message = config->message();
  if (message.applications() != nullptr) {
    std::map<std::string, int> first_index;
    for (int i = 0; i < static_cast<int>(message.applications()->size()); ++i) {
      const Application *application = message.applications()->Get(i);
      if (application->name() == nullptr) continue;
      auto [it, inserted] = first_index.emplace(application->name()->str(), i);
      if (!inserted) {
        return MakeError(path.string() + ": application \"" + it->first +
                         "\" is listed twice (entries " +
                         std::to_string(it->second + 1) + " and " +
                         std::to_string(i + 1) +
                         " of \"applications\"); merge them into one entry "
                         "or rename one");
      }
    }
  }
  if (message.imports() != nullptr) {
    for (const flatbuffers::String *import : *message.imports()) {
      const std::filesystem::path imported =
          path.parent_path() / import->string_view();
      if (imported.extension() != ".json") continue;
      if (Result<void> r = CheckFile(imported, seen); !r) return r;
    }
  }
  return {};
}

}  // namespace

Result<void> CheckNoDuplicateApplications(std::string_view path) {
  const std::filesystem::path file(path);
  if (file.extension() != ".json") return {};
  std::set<std::filesystem::path> seen;
  return CheckFile(file, &seen);
}

Result<UserIds> LookUpUser(std::string_view user) {
  const std::string name(user);
  long buffer_size = sysconf(_SC_GETPW_R_SIZE_MAX);
  if (buffer_size <= 0) buffer_size = 16384;
  std::vector<char> buffer(buffer_size);
  struct passwd entry;
  struct passwd *found = nullptr;
  const int error =
      getpwnam_r(name.c_str(), &entry, buffer.data(), buffer.size(), &found);
  if (found == nullptr) {
    return MakeError(
        "unknown user \"" + name + "\"" +
        (error != 0 ? std::string(" (") + strerror(error) + ")" : "") +
        ": create the account (useradd) or fix \"user\" in the config");
  }
  UserIds ids;
  ids.name = name;
  ids.uid = entry.pw_uid;
  ids.gid = entry.pw_gid;
  ids.home = entry.pw_dir != nullptr ? entry.pw_dir : "";
  int count = 32;
  ids.groups.resize(count);
  while (getgrouplist(name.c_str(), ids.gid, ids.groups.data(), &count) < 0) {
    ids.groups.resize(count);
  }
  ids.groups.resize(count);
  return ids;
}

namespace {

bool IsExecutableFile(const std::string &path) {
  struct stat info;
  return stat(path.c_str(), &info) == 0 && S_ISREG(info.st_mode) &&
         access(path.c_str(), X_OK) == 0;
}

}  // namespace

Result<std::string> ResolveExecutable(std::string_view executable_name,
                                      std::string_view path_env) {
  const std::string name(executable_name);
  if (name.find('/') != std::string::npos) {
    if (IsExecutableFile(name)) return name;
    struct stat info;
    if (stat(name.c_str(), &info) != 0) {
      return MakeError("executable \"" + name +
                       "\" does not exist (relative to starterd's working "
                       "directory); fix \"executable_name\" or install it");
    }
    return MakeError("\"" + name +
                     "\" is not an executable file; check its permissions");
  }
  size_t start = 0;
  while (start <= path_env.size()) {
    size_t end = path_env.find(':', start);
    if (end == std::string_view::npos) end = path_env.size();
    const std::string_view dir = path_env.substr(start, end - start);
    // Built with append: g++ 12 misreads `a + "/" + b` here (-Wrestrict).
    std::string candidate(dir.empty() ? std::string_view(".") : dir);
    candidate.append("/").append(name);
    if (IsExecutableFile(candidate)) return candidate;
    start = end + 1;
  }
  return MakeError("executable \"" + name + "\" not found in PATH (" +
                   std::string(path_env) +
                   "); install it, add its directory to starterd's PATH, or "
                   "give a path in \"executable_name\"");
}

}  // namespace aos::starter
