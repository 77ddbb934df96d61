#include "aos/events/logging/logger_record.h"

#include "glog/logging.h"

namespace aos::logger::record_internal {

void WrongSize(const MessageRecord &record, size_t size) {
  LOG(FATAL) << "WriteMessageRecord needs exactly MessageRecordSize() = "
             << MessageRecordSize(record) << " bytes, got " << size;
}

}  // namespace aos::logger::record_internal
