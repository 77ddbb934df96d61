#include "aos/logging/logging.h"

#include <cstdarg>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "aos/logging/glog_capture.h"
#include "aos/logging/log_message.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace aos::logging::testing {
namespace {

using ::testing::EndsWith;
using ::testing::HasSubstr;
using ::testing::StartsWith;

std::string_view Format(std::span<char> buffer, const char *file, int line,
                        const char *format, ...)
    __attribute__((format(printf, 4, 5)));
std::string_view Format(std::span<char> buffer, const char *file, int line,
                        const char *format, ...) {
  va_list args;
  va_start(args, format);
  const std::string_view text = FormatLogText(buffer, file, line, format, args);
  va_end(args);
  return text;
}

// Records DoLog calls instead of sending them anywhere.
class RecordingImplementation : public LogImplementation {
 public:
  struct Call {
    Level level;
    int line;
    std::string text;
  };

  void DoLog(Level level, const char *file, int line, const char *format,
             va_list args) override {
    std::vector<char> buffer(256);
    calls.push_back(
        {level, line,
         std::string(FormatLogText(buffer, file, line, format, args))});
  }

  std::vector<Call> calls;
};

// Installs an implementation for one test and restores the previous one.
class ScopedImplementation {
 public:
  explicit ScopedImplementation(LogImplementation *implementation)
      : previous_(SetThreadLogImplementation(implementation)) {}
  ~ScopedImplementation() { SetThreadLogImplementation(previous_); }

 private:
  LogImplementation *const previous_;
};

TEST(FormatLogTextTest, PrefixesBasenameAndLineAndDropsOneNewline) {
  std::vector<char> buffer(128);
  EXPECT_EQ(Format(buffer, "/src/aos/foo.cc", 12, "value %d, %s\n", 5, "ok"),
            "foo.cc:12] value 5, ok");
  EXPECT_EQ(Format(buffer, "bar.cc", 3, "two\n\n"), "bar.cc:3] two\n");
  EXPECT_EQ(Format(buffer, "bar.cc", 3, "%s", ""), "bar.cc:3] ");
}

TEST(FormatLogTextTest, TruncatesWithTheFullLength) {
  std::vector<char> buffer(kMinLogTextCapacity);
  const std::string long_text(500, 'x');
  const std::string_view text =
      Format(buffer, "a.cc", 7, "%s", long_text.c_str());
  // "a.cc:7] " is 8 bytes.
  EXPECT_EQ(text.size(), buffer.size());
  EXPECT_THAT(std::string(text), StartsWith("a.cc:7] xxxx"));
  EXPECT_THAT(std::string(text), EndsWith("xx...[truncated, 508 bytes]"));
}

TEST(FormatLogTextTest, CutsAtTheBufferSizeExactly) {
  std::vector<char> buffer(kMinLogTextCapacity);
  // One byte less than the buffer fits whole (vsnprintf needs the last one
  // for its NUL); the buffer's size does not.
  const std::string fits(buffer.size() - 1 - 8, 'y');
  EXPECT_EQ(Format(buffer, "a.cc", 7, "%s", fits.c_str()), "a.cc:7] " + fits);
  const std::string too_long = fits + "y";
  EXPECT_THAT(std::string(Format(buffer, "a.cc", 7, "%s", too_long.c_str())),
              EndsWith("...[truncated, 64 bytes]"));
}

TEST(FormatLogTextTest, SaysSoOnAnUnprintableArgument) {
  std::vector<char> buffer(128);
  // In the C locale a non-ASCII wide character cannot be converted.
  EXPECT_THAT(std::string(Format(buffer, "a.cc", 1, "%ls", L"\u00e9")),
              HasSubstr("[bad format string] %ls"));
}

TEST(FormatLogTextDeathTest, RejectsTinyBuffers) {
  std::vector<char> buffer(kMinLogTextCapacity - 1);
  EXPECT_DEATH(Format(buffer, "a.cc", 1, "x"), "at least 64 bytes");
}

// A sender's allocator gives the builder one block of max_size bytes and
// dies when asked for more; this builder says how big its block grew.
class CapacityBuilder : public flatbuffers::FlatBufferBuilder {
 public:
  explicit CapacityBuilder(size_t initial_size)
      : FlatBufferBuilder(initial_size) {}
  size_t capacity() const { return buf_.capacity(); }
};

TEST(LogTextCapacityTest, EveryTextUpToTheCapacityFits) {
  // Channel max_sizes are multiples of 8.
  for (const size_t max_size : {256u, 304u, 512u, 1000u}) {
    for (const std::string &name :
         std::vector<std::string>{"", "ping", std::string(40, 'n')}) {
      const size_t capacity = LogTextCapacity(max_size, name);
      SCOPED_TRACE("max_size " + std::to_string(max_size) + " name '" + name +
                   "' capacity " + std::to_string(capacity));
      ASSERT_GE(capacity, kMinLogTextCapacity);
      // One byte more does not fit: the capacity is exact.
      for (size_t length = 0; length <= capacity + 1; ++length) {
        CapacityBuilder fbb(max_size);
        fbb.ForceDefaults(true);
        fbb.Finish(BuildLogMessage(&fbb, Level::ERROR, 123, name, ~uint64_t{0},
                                   std::string(length, 't')));
        EXPECT_EQ(fbb.capacity() > max_size, length > capacity)
            << "text of " << length;
        if (length <= capacity) {
          ASSERT_LE(fbb.GetSize(), max_size);
        }
      }
    }
  }
}

TEST(LogTextCapacityTest, ZeroWhenTheChannelIsTooSmall) {
  EXPECT_EQ(LogTextCapacity(64, "ping"), 0u);
  EXPECT_EQ(LogTextCapacity(128, "ping"), 0u);
  EXPECT_EQ(LogTextCapacity(512, std::string(500, 'n')), 0u);
}

TEST(BuildLogMessageTest, FillsEveryField) {
  flatbuffers::FlatBufferBuilder fbb;
  fbb.Finish(BuildLogMessage(&fbb, Level::WARNING, 42, "pong", 3, "hello"));
  flatbuffers::Verifier verifier(fbb.GetBufferPointer(), fbb.GetSize());
  ASSERT_TRUE(verifier.VerifyBuffer<LogMessageFbs>(nullptr));
  const LogMessageFbs *message =
      flatbuffers::GetRoot<LogMessageFbs>(fbb.GetBufferPointer());
  EXPECT_EQ(message->message()->string_view(), "hello");
  EXPECT_EQ(message->level(), Level::WARNING);
  EXPECT_EQ(message->source_pid(), 42);
  EXPECT_EQ(message->name()->string_view(), "pong");
  EXPECT_EQ(message->send_failures(), 3u);
}

TEST(AosLogTest, GoesToTheThreadsImplementation) {
  RecordingImplementation recording;
  GlogCapture glog;
  {
    ScopedImplementation scoped(&recording);
    AOS_LOG(WARNING, "to the implementation %d", 1);
    // Other threads keep their own (none: glog).
    std::thread([]() { AOS_LOG(INFO, "from another thread %d", 2); }).join();
  }
  ASSERT_EQ(recording.calls.size(), 1u);
  EXPECT_EQ(recording.calls[0].level, Level::WARNING);
  EXPECT_THAT(
      recording.calls[0].text,
      EndsWith("logging_test.cc:" + std::to_string(recording.calls[0].line) +
               "] to the implementation 1"));
  EXPECT_TRUE(glog.Find("to the implementation").empty());
  EXPECT_EQ(glog.Find("from another thread 2").size(), 1u);
}

TEST(AosLogTest, FallsBackToGlogWithTheSeverityAndCallersLine) {
  ASSERT_EQ(GetThreadLogImplementation(), nullptr);
  GlogCapture glog;
  const int line = __LINE__ + 1;
  AOS_LOG(DEBUG, "debug %s\n", "text");
  AOS_LOG(INFO, "info");
  AOS_LOG(WARNING, "warning");
  AOS_LOG(ERROR, "error %d", -1);

  const std::vector<GlogCapture::Entry> debug = glog.Find("debug text");
  ASSERT_EQ(debug.size(), 1u);
  EXPECT_EQ(debug[0].severity, google::GLOG_INFO);
  EXPECT_EQ(debug[0].base_filename, "logging_test.cc");
  EXPECT_EQ(debug[0].line, line);
  EXPECT_EQ(debug[0].message, "debug text");
  ASSERT_EQ(glog.Find("info").size(), 1u);
  EXPECT_EQ(glog.Find("info")[0].severity, google::GLOG_INFO);
  ASSERT_EQ(glog.Find("warning").size(), 1u);
  EXPECT_EQ(glog.Find("warning")[0].severity, google::GLOG_WARNING);
  ASSERT_EQ(glog.Find("error -1").size(), 1u);
  EXPECT_EQ(glog.Find("error -1")[0].severity, google::GLOG_ERROR);
}

// Says on stderr that it saw a message, so a death test can check the
// order: the implementation first, then glog's abort.
class AnnouncingImplementation : public LogImplementation {
 public:
  void DoLog(Level level, const char *, int, const char *, va_list) override {
    fprintf(stderr, "implementation saw level %d\n", static_cast<int>(level));
  }
};

TEST(AosLogDeathTest, FatalAbortsThroughGlog) {
  EXPECT_DEATH(AOS_LOG(FATAL, "fatal %d", 99), "fatal 99");
}

TEST(AosLogDeathTest, FatalReachesTheImplementationBeforeAborting) {
  AnnouncingImplementation announcing;
  ScopedImplementation scoped(&announcing);
  EXPECT_DEATH(AOS_LOG(FATAL, "boom"), "implementation saw level 4(.|\n)*boom");
}

}  // namespace
}  // namespace aos::logging::testing
