#ifndef AOS_EVENTS_LOGGING_LOG_TO_MCAP_H_
#define AOS_EVENTS_LOGGING_LOG_TO_MCAP_H_

// Converts an AOS log into an MCAP file for Foxglove and other viewers.
//
// Every AOS channel with messages in the log becomes one MCAP channel. Its
// topic is the channel's name, or "<name> <type>" when several channels share
// the name (viewers key panels by topic: /aos has timing reports and log
// messages); in multi-node logs it starts with "/<node>", as each node logged
// its own copy. Metadata names the AOS type (and node). Its
// schema is the channel's type:
//   - kFlatbuffer: schema encoding "flatbuffer" with the binary reflection
//     schema (.bfbs) embedded in the log's configuration, messages as logged;
//   - kJson: schema encoding "jsonschema" generated from that reflection
//     schema, messages converted to JSON (for viewers without flatbuffer
//     support).
// Each message's log_time is its realtime send time (Unix ns, so viewers
// show wall-clock time; the monotonic time if the log has no realtime) and
// publish_time the realtime it was sent on its source node (different for
// forwarded messages). Its sequence is the queue index.

#include <cstdint>
#include <string>
#include <vector>

#include "aos/events/logging/logfile_sorting.h"
#include "aos/events/logging/mcap_writer.h"
#include "aos/util/status.h"
#include "flatbuffers/reflection.h"

namespace aos::logger {

struct LogToMcapOptions {
  enum class Mode { kFlatbuffer, kJson };
  Mode mode = Mode::kFlatbuffer;
  McapWriter::Options mcap;
};

struct LogToMcapStats {
  uint64_t messages = 0;
  // Bytes of message data read from the log.
  uint64_t message_bytes = 0;
  // Messages that did not verify against their schema (JSON mode only; they
  // are skipped, with a warning).
  uint64_t invalid_messages = 0;
  uint64_t mcap_bytes = 0;
  // Parts that could not be read to their end (truncated logs).
  std::vector<std::string> warnings;
};

// Writes `logs` (the output of SortParts for one log) to `output_path`.
// Returns an error naming the file for unreadable logs or an unwritable
// output.
Result<LogToMcapStats> LogToMcap(const std::vector<LogFile> &logs,
                                 const std::string &output_path,
                                 const LogToMcapOptions &options);

// The binary schema (.bfbs, file identifier "BFBS") of `schema`, a
// reflection schema embedded in a configuration.
std::vector<uint8_t> SchemaToBfbs(const reflection::Schema *schema);

// A JSON Schema (draft 2020-12) describing the JSON FlatbufferToJson prints
// for `schema`'s root table.
std::string JsonSchemaFor(const reflection::Schema *schema);

// The JSON of one message for MCAP: FlatbufferToJson's text with non-finite
// floats (which JSON cannot spell) as null.
std::string MessageToJson(const reflection::Schema *schema,
                          const uint8_t *data);

}  // namespace aos::logger

#endif  // AOS_EVENTS_LOGGING_LOG_TO_MCAP_H_
