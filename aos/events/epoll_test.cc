#include "aos/events/epoll.h"

#include <unistd.h>

#include <chrono>
#include <thread>

#include "gtest/gtest.h"

namespace aos::internal::testing {
namespace {

class Pipe {
 public:
  Pipe() { EXPECT_EQ(pipe(fds_), 0); }
  ~Pipe() {
    close(fds_[0]);
    close(fds_[1]);
  }
  int read_end() const { return fds_[0]; }
  void Write() { ASSERT_EQ(write(fds_[1], "x", 1), 1); }
  void Drain() {
    char byte;
    ASSERT_EQ(read(fds_[0], &byte, 1), 1);
  }

 private:
  int fds_[2];
};

TEST(EPollTest, ReadableCallbacksAndQuit) {
  EPoll epoll;
  Pipe pipe;
  int calls = 0;
  epoll.OnReadable(pipe.read_end(), [&]() {
    pipe.Drain();
    if (++calls == 2) epoll.Quit();
  });
  int before_wait = 0;
  epoll.BeforeWait([&]() {
    ++before_wait;
    if (calls < 2) pipe.Write();
  });
  epoll.Run();
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(before_wait, 2);
  epoll.DeleteFd(pipe.read_end());
}

TEST(EPollTest, DeletingAnotherReadyFdSkipsIt) {
  EPoll epoll;
  Pipe a;
  Pipe b;
  int a_calls = 0;
  int b_calls = 0;
  epoll.OnReadable(a.read_end(), [&]() {
    ++a_calls;
    a.Drain();
    if (b_calls == 0) epoll.DeleteFd(b.read_end());
  });
  epoll.OnReadable(b.read_end(), [&]() {
    ++b_calls;
    b.Drain();
    epoll.DeleteFd(a.read_end());
  });
  a.Write();
  b.Write();
  EXPECT_TRUE(epoll.Poll(std::chrono::seconds(1)));
  // Whichever ran first removed the other before it could run.
  EXPECT_EQ(a_calls + b_calls, 1);
  if (a_calls == 1) {
    epoll.DeleteFd(a.read_end());
  } else {
    epoll.DeleteFd(b.read_end());
  }
}

TEST(EPollTest, QuitBeforeRunEndsItUnlessCleared) {
  EPoll epoll;
  epoll.Quit();
  epoll.Run();
  epoll.ClearQuit();
  int waits = 0;
  // The stale Quit only leaves a spurious wakeup behind, after which the
  // loop keeps going until the real Quit.
  epoll.BeforeWait([&]() {
    if (++waits == 2) epoll.Quit();
  });
  epoll.Run();
  EXPECT_EQ(waits, 2);
}

TEST(TimerFdTest, ExpiresAtAbsoluteTime) {
  EPoll epoll;
  TimerFd timer;
  EXPECT_EQ(timer.Read(), 0u);
  bool fired = false;
  epoll.OnReadable(timer.fd(), [&]() {
    EXPECT_EQ(timer.Read(), 1u);
    fired = true;
    epoll.Quit();
  });
  const monotonic_clock::time_point when =
      monotonic_clock::now() + std::chrono::milliseconds(2);
  timer.SetTime(when, monotonic_clock::zero());
  epoll.Run();
  EXPECT_TRUE(fired);
  EXPECT_GE(monotonic_clock::now(), when);
  epoll.DeleteFd(timer.fd());

  // A disabled timer never expires.
  timer.SetTime(monotonic_clock::now() + std::chrono::milliseconds(1),
                monotonic_clock::zero());
  timer.Disable();
  std::this_thread::sleep_for(std::chrono::milliseconds(3));
  EXPECT_EQ(timer.Read(), 0u);
}

}  // namespace
}  // namespace aos::internal::testing
