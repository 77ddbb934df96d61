#ifndef AOS_LOGGING_GLOG_CAPTURE_H_
#define AOS_LOGGING_GLOG_CAPTURE_H_

// For tests: records what glog logs while it lives, so a test can tell
// whether AOS_LOG went to glog (and at which severity) or to a channel.

#include <mutex>
#include <string>
#include <vector>

#include "glog/logging.h"

namespace aos::logging::testing {

class GlogCapture : public google::LogSink {
 public:
  struct Entry {
    google::LogSeverity severity;
    std::string base_filename;
    int line;
    std::string message;
  };

  GlogCapture() { google::AddLogSink(this); }
  ~GlogCapture() override { google::RemoveLogSink(this); }
  GlogCapture(const GlogCapture &) = delete;
  GlogCapture &operator=(const GlogCapture &) = delete;

  using google::LogSink::send;
  void send(google::LogSeverity severity, const char * /*full_filename*/,
            const char *base_filename, int line,
            const google::LogMessageTime & /*time*/, const char *message,
            size_t message_len) override {
    std::lock_guard<std::mutex> lock(mutex_);
    entries_.push_back(
        {severity, base_filename, line, std::string(message, message_len)});
  }

  // The entries whose message contains `text`.
  std::vector<Entry> Find(const std::string &text) const {
    std::lock_guard<std::mutex> lock(mutex_);
    std::vector<Entry> found;
    for (const Entry &entry : entries_) {
      if (entry.message.find(text) != std::string::npos) {
        found.push_back(entry);
      }
    }
    return found;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<Entry> entries_;
};

}  // namespace aos::logging::testing

#endif  // AOS_LOGGING_GLOG_CAPTURE_H_
