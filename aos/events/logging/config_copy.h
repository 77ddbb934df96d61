#ifndef AOS_EVENTS_LOGGING_CONFIG_COPY_H_
#define AOS_EVENTS_LOGGING_CONFIG_COPY_H_

// CopyConfiguration: deep-copies a Configuration into a FlatBufferBuilder
// the way the flattener lays it out, for log headers: each channel keeps
// exactly the fields it had (present-but-default values stay present), and
// every channel of one type shares one copy of the type's schema (a plain
// object-API copy would repeat the schema per channel).

#include "aos/configuration_generated.h"
#include "flatbuffers/flatbuffers.h"

namespace aos::logger {

flatbuffers::Offset<Configuration> CopyConfiguration(
    const Configuration *configuration, flatbuffers::FlatBufferBuilder *fbb);

}  // namespace aos::logger

#endif  // AOS_EVENTS_LOGGING_CONFIG_COPY_H_
