#ifndef AOS_STARTER_STARTERD_LIB_H_
#define AOS_STARTER_STARTERD_LIB_H_

// Starter: the heart of starterd. It supervises the applications the
// configuration lists for this node (see subprocess.h for one application's
// life), publishes their aos.starter.Status on /aos, and obeys
// aos.starter.StarterRpc commands from /aos.
//
//   Result<std::unique_ptr<Starter>> starter = Starter::Make(&config.message(),
//                                                            "aos_config.json");
//   if (!starter) { print (*starter).error(); exit 1; }
//   Result<void> done = (*starter)->Run();
//
// Status goes out on every change (at most the channel's frequency minus one
// per second, so a burst cannot fail a send) and once a second regardless.
// SIGINT, SIGTERM and SIGHUP stop every application (SIGINT, then SIGKILL
// after its stop_time) and make Run() return success once all have exited.
// SIGCHLD, SIGINT, SIGTERM and SIGHUP are blocked and read through a
// signalfd in the loop, so no handler ever runs in the middle of a state
// change.
//
// As upstream, starterd creates (and keeps mapped) the shared memory of every
// channel readable on its node before starting anything, so that a queue's
// memory is charged to starterd and allocated once, not in the middle of an
// application's start-up; --purge_shm_base first removes what a previous
// boot left in --shm_base.

#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "aos/configuration.h"
#include "aos/events/shm_event_loop.h"
#include "aos/ipc_lib/memory_mapped_queue.h"
#include "aos/ipc_lib/signalfd.h"
#include "aos/starter/process_sampler.h"
#include "aos/starter/subprocess.h"
#include "aos/util/status.h"

namespace aos::starter {

class Starter {
 public:
  // Checks the configuration, creates the queues and makes the supervisor
  // (nothing starts before Run). `config_path` is the file `config` was read
  // from, checked for applications listed twice. Errors name the problem and
  // its fix: no /aos Status or StarterRpc channel, an application listed twice,
  // a bad field. An unknown user is not an error here: that application alone
  // fails to start with SET_USR_ERR, and the error is logged.
  // A queue file that cannot be made or does not match the configuration is
  // an error naming the file (remove stale ones with aos_shm, or
  // --purge_shm_base).
  static Result<std::unique_ptr<Starter>> Make(const Configuration *config,
                                               std::string_view config_path);
  ~Starter();

  // Starts the autostart applications and supervises until a stop signal
  // and the exit of every application.
  Result<void> Run();

  ShmEventLoop *event_loop() { return &event_loop_; }

 private:
  explicit Starter(const Configuration *config);

  void OnSignal();
  void HandleRpc(const StarterRpc &command);
  void OnChange();
  void SendStatus();
  void Shutdown();
  bool AnyAlive() const;

  const Configuration *const config_;
  std::vector<ipc_lib::MemoryMappedQueue> queues_;
  ShmEventLoop event_loop_;
  ipc_lib::SignalFd signals_;
  std::unique_ptr<RawSender> status_sender_;
  ProcessSampler sampler_;
  std::map<std::string, std::unique_ptr<Application>, std::less<>>
      applications_;
  TimerHandler *status_timer_ = nullptr;
  TimerHandler *send_soon_timer_ = nullptr;
  int sends_this_period_ = 0;
  int max_sends_per_period_ = 1;
  bool exiting_ = false;
  bool reported_oversize_ = false;
};

}  // namespace aos::starter

#endif  // AOS_STARTER_STARTERD_LIB_H_
