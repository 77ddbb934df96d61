#include "aos/ipc_lib/signalfd.h"

#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>

#include "gtest/gtest.h"

namespace aos::ipc_lib::testing {
namespace {

void SignalThisThread(int count) {
  siginfo_t info;
  memset(&info, 0, sizeof(info));
  info.si_code = SI_QUEUE;
  info.si_pid = getpid();
  info.si_uid = getuid();
  for (int i = 0; i < count; ++i) {
    ASSERT_EQ(syscall(SYS_rt_tgsigqueueinfo, getpid(), syscall(SYS_gettid),
                      kWakeupSignal, &info),
              0);
  }
}

TEST(SignalFdTest, ReadOneAtATime) {
  SignalFd signalfd({kWakeupSignal});
  EXPECT_EQ(signalfd.Read().ssi_signo, 0u);
  SignalThisThread(2);
  EXPECT_EQ(signalfd.Read().ssi_signo, static_cast<uint32_t>(kWakeupSignal));
  EXPECT_EQ(signalfd.Read().ssi_signo, static_cast<uint32_t>(kWakeupSignal));
  EXPECT_EQ(signalfd.Read().ssi_signo, 0u);
}

// RT signals queue one entry per send; Drain empties the queue whatever its
// length (more than one read's worth here) and says how many it read.
TEST(SignalFdTest, DrainReadsEverything) {
  SignalFd signalfd({kWakeupSignal});
  EXPECT_EQ(signalfd.Drain(), 0);
  SignalThisThread(1);
  EXPECT_EQ(signalfd.Drain(), 1);
  SignalThisThread(40);
  EXPECT_EQ(signalfd.Drain(), 40);
  EXPECT_EQ(signalfd.Drain(), 0);
  EXPECT_EQ(signalfd.Read().ssi_signo, 0u);
}

}  // namespace
}  // namespace aos::ipc_lib::testing
