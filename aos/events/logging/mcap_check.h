#ifndef AOS_EVENTS_LOGGING_MCAP_CHECK_H_
#define AOS_EVENTS_LOGGING_MCAP_CHECK_H_

// Test support: judges an MCAP file with Foxglove's official TypeScript reader
// (@mcap/core, run by node on mcap_check/check.mjs), so the tests of our MCAP
// export do not trust our own parsing. The test set-up installs the checker
// and its npm packages into the build directory (mcap_check/install.sh); where
// node or the npm registry is unavailable, McapCheckerUnavailable() says why
// and the tests skip.

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace aos::logger::testing {

// What an MCAP file must hold, channel by channel and message by message.
struct ExpectedMcap {
  struct Channel {
    std::string topic;
    std::string message_encoding;
    std::vector<std::pair<std::string, std::string>> metadata;
    std::string schema_name;
    std::string schema_encoding;
    std::string schema_data;
  };
  struct Message {
    std::string topic;
    uint32_t sequence;
    uint64_t log_time;
    uint64_t publish_time;
    std::string data;
  };
  // "zstd" or "" (every chunk's compression).
  std::string compression = "zstd";
  // Messages are JSON text, schemas JSON Schemas: check both parse and fit.
  bool json = false;
  std::vector<Channel> channels;
  // In the order they were written.
  std::vector<Message> messages;
};

// Why the checker cannot run here, or nullopt when it can.
std::optional<std::string> McapCheckerUnavailable();

// Runs the checker on `mcap_path`. Returns true if the file matches
// `expected`; `output` receives the checker's report (its one line of counts,
// or the first difference).
bool RunMcapChecker(const std::string &mcap_path, const ExpectedMcap &expected,
                    std::string *output);

}  // namespace aos::logger::testing

#endif  // AOS_EVENTS_LOGGING_MCAP_CHECK_H_
