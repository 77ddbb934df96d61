#include "aos/events/logging/mcap_check.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "aos/json_to_flatbuffer.h"
#include "aos/testing/tmpdir.h"
#include "glog/logging.h"

namespace aos::logger::testing {
namespace {

// Where the CMake set-up fixture installs check.mjs and its node_modules.
const std::string kCheckerDir = AOS_MCAP_CHECK_DIR;

std::string Hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 0xf]);
  }
  return out;
}

void WriteExpected(const std::string &path, const ExpectedMcap &expected) {
  std::ofstream out(path);
  out << "{\"compression\": " << JsonQuote(expected.compression)
      << ", \"json\": " << (expected.json ? "true" : "false")
      << ", \"channels\": [";
  for (size_t i = 0; i < expected.channels.size(); ++i) {
    const ExpectedMcap::Channel &c = expected.channels[i];
    out << (i ? ",\n" : "\n") << "{\"topic\": " << JsonQuote(c.topic)
        << ", \"message_encoding\": " << JsonQuote(c.message_encoding)
        << ", \"metadata\": {";
    for (size_t j = 0; j < c.metadata.size(); ++j) {
      out << (j ? ", " : "") << JsonQuote(c.metadata[j].first) << ": "
          << JsonQuote(c.metadata[j].second);
    }
    out << "}, \"schema_name\": " << JsonQuote(c.schema_name)
        << ", \"schema_encoding\": " << JsonQuote(c.schema_encoding)
        << ", \"schema_data\": \"" << Hex(c.schema_data) << "\"}";
  }
  out << "],\n\"messages\": [";
  for (size_t i = 0; i < expected.messages.size(); ++i) {
    const ExpectedMcap::Message &m = expected.messages[i];
    out << (i ? ",\n" : "\n") << "{\"topic\": " << JsonQuote(m.topic)
        << ", \"sequence\": " << m.sequence << ", \"log_time\": \""
        << m.log_time << "\", \"publish_time\": \"" << m.publish_time
        << "\", \"data\": \"" << Hex(m.data) << "\"}";
  }
  out << "]}\n";
  CHECK(out.good()) << ": writing " << path;
}

}  // namespace

std::optional<std::string> McapCheckerUnavailable() {
  std::ifstream reason(kCheckerDir + "/UNAVAILABLE");
  if (reason) {
    std::stringstream text;
    text << reason.rdbuf();
    return "MCAP checker unavailable: " + text.str();
  }
  if (!std::filesystem::exists(kCheckerDir +
                               "/node_modules/@mcap/core/package.json")) {
    return "MCAP checker not installed in " + kCheckerDir +
           " (run the tests through ctest: its set-up fixture installs it)";
  }
  return std::nullopt;
}

bool RunMcapChecker(const std::string &mcap_path, const ExpectedMcap &expected,
                    std::string *output) {
  const std::string expected_path = mcap_path + ".expected.json";
  WriteExpected(expected_path, expected);
  const std::string command = "node '" + kCheckerDir + "/check.mjs' '" +
                              mcap_path + "' '" + expected_path + "' 2>&1";
  FILE *pipe = popen(command.c_str(), "r");
  PCHECK(pipe != nullptr) << ": running " << command;
  output->clear();
  char buffer[4096];
  size_t size;
  while ((size = fread(buffer, 1, sizeof(buffer), pipe)) > 0) {
    output->append(buffer, size);
  }
  const int status = pclose(pipe);
  std::filesystem::remove(expected_path);
  return status == 0;
}

}  // namespace aos::logger::testing
