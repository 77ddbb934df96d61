#ifndef AOS_LOGGING_LOG_MESSAGE_H_
#define AOS_LOGGING_LOG_MESSAGE_H_

// Building aos.logging.LogMessageFbs messages (log_message.fbs) inside a
// channel's fixed-size message buffer, for the event loop's AOS_LOG sender:
// LogTextCapacity() says, once and before running, how long a text fits in
// the channel's max_size next to the other fields; BuildLogMessage() then
// builds a message with a text that long or shorter without growing past
// max_size, so the builder never asks its (preallocated) allocator for more.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "aos/logging/log_message_generated.h"
#include "flatbuffers/flatbuffers.h"

namespace aos::logging {

// The longest text a LogMessageFbs sent by application `name` may carry so
// that building it (with ForceDefaults, as Sender builders do, bookkeeping
// included) takes at most `max_size` bytes. 0 when not even
// kMinLogTextCapacity bytes of text fit (the channel is too small to be
// useful). Allocates: call it before running.
size_t LogTextCapacity(size_t max_size, std::string_view name);

// Builds a LogMessageFbs with these fields into `fbb` and returns it (the
// caller finishes and sends it). Uses `fbb`'s allocator only.
flatbuffers::Offset<LogMessageFbs> BuildLogMessage(
    flatbuffers::FlatBufferBuilder *fbb, Level level, int32_t source_pid,
    std::string_view name, uint64_t send_failures, std::string_view text);

}  // namespace aos::logging

#endif  // AOS_LOGGING_LOG_MESSAGE_H_
