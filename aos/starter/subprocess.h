#ifndef AOS_STARTER_SUBPROCESS_H_
#define AOS_STARTER_SUBPROCESS_H_

// Application: one supervised program and its state machine, driven by
// starterd's event loop.
//
//   STOPPED --START--> (WAITING) --fork--> STARTING --exec ok--> RUNNING
//   RUNNING --exits on its own--> WAITING (back-off) --timer--> STARTING
//   RUNNING --STOP--> STOPPING --exit--> STOPPED
//   any failure before exec (fork, user, groups, prctl, exec) --> STOPPED
//     with the matching LastStopReason; never retried automatically.
//
// Each run is its own process group (setpgid), stopped as a group: SIGINT,
// then SIGKILL after the application's stop_time; when the main process
// exits, whatever it left in its group is killed too, so an application
// cannot leave strays behind. The child asks for SIGKILL when starterd dies
// (PR_SET_PDEATHSIG, set after the user switch, which would clear it), and
// the group id is written to <logs folder>/<app>/pgid so that the next
// starterd kills anything that outlived a SIGKILLed starterd.
//
// Output: the child's stdout and stderr are one stream socket (as systemd's
// journal does) that starterd reads into a RunLog; stdin is /dev/null.
//
// Restarts back off exponentially: the first after --restart_delay_min_ms,
// doubling up to --restart_delay_max_ms; a run that lasted
// --restart_backoff_reset_ms or longer starts the sequence again.
//
// Not thread-safe: everything runs on the event loop's thread.

#include <sys/stat.h>
#include <sys/types.h>

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "aos/events/shm_event_loop.h"
#include "aos/starter/app_spec.h"
#include "aos/starter/process_sampler.h"
#include "aos/starter/run_log.h"
#include "aos/starter/starter_generated.h"
#include "aos/starter/starter_rpc_generated.h"
#include "gflags/gflags.h"

DECLARE_int32(restart_delay_min_ms);
DECLARE_int32(restart_delay_max_ms);
DECLARE_int32(restart_backoff_reset_ms);

namespace aos::starter {

class Application {
 public:
  // `on_change` is called after every state change (to publish a status).
  // Kills strays a previous starterd left for this application (see the
  // file comment). `user` is the looked-up account of spec.user, or the
  // lookup's error, which makes every start fail with SET_USR_ERR.
  Application(AppSpec spec, std::optional<Result<UserIds>> user,
              ShmEventLoop *event_loop, std::function<void()> on_change);
  Application(const Application &) = delete;
  Application &operator=(const Application &) = delete;
  // Kills a still-running process group (SIGKILL) and reaps it.
  ~Application();

  // Applies a command (see starter_rpc.fbs for each command's meaning).
  void HandleCommand(Command command);

  // starterd is shutting down: stop with reason TERMINATE and never
  // restart.
  void Terminate();

  // Reaps the process if it exited; call on every SIGCHLD (they coalesce).
  void MaybeReap();

  // Whether a process of this application exists (STARTING, RUNNING or
  // STOPPING).
  bool alive() const;

  // Records a timing report from `pid` if it is this application's process.
  void NoteTimingReport(pid_t pid, monotonic_clock::time_point now);

  // Builds this application's status; with `sampler`, process_info too.
  flatbuffers::Offset<ApplicationStatus> PopulateStatus(
      flatbuffers::FlatBufferBuilder *fbb, ProcessSampler *sampler,
      monotonic_clock::time_point now);

  const std::string &name() const { return spec_.name; }
  const AppSpec &spec() const { return spec_; }
  State state() const { return state_; }
  pid_t pid() const { return pid_; }

 private:
  // What the child reports through the status pipe when it fails before
  // exec.
  struct ChildError {
    uint32_t reason;
    int32_t error_number;
  };

  void Start();
  void Stop(bool restart);
  void ScheduleRestart();
  void SetState(State state);
  void OnStatusPipe();
  void OnOutput();
  void CloseStatusPipe();
  void CloseOutput();
  void Exited(int wait_status);
  void KillGroup(int signal);
  void KillStrays();
  void WritePgidFile();
  void RemovePgidFile();
  FileState CurrentFileState();
  [[noreturn]] void RunChild(const std::string &path,
                             const std::vector<char *> &argv,
                             const std::vector<char *> &envp, int output_fd,
                             int status_fd, int null_fd, pid_t parent);

  const AppSpec spec_;
  const std::optional<Result<UserIds>> user_;
  ShmEventLoop *const event_loop_;
  const std::function<void()> on_change_;
  const std::string log_folder_;

  State state_ = State::STOPPED;
  LastStopReason stop_reason_ = LastStopReason::STOP_REQUESTED;
  pid_t pid_ = -1;
  uint64_t id_ = 0;
  uint8_t last_exit_code_ = 0;
  monotonic_clock::time_point last_exit_time_ = monotonic_clock::min_time;
  uint32_t restarts_ = 0;
  monotonic_clock::time_point start_time_ = monotonic_clock::min_time;
  monotonic_clock::time_point next_start_time_ = monotonic_clock::min_time;
  monotonic_clock::time_point last_timing_report_ = monotonic_clock::min_time;
  std::chrono::milliseconds next_delay_;
  bool restart_after_stop_ = false;
  bool terminating_ = false;
  bool restart_is_automatic_ = false;
  std::optional<ChildError> child_error_;

  // The executable as resolved and stat'ed when the run started.
  std::string resolved_path_;
  std::optional<struct stat> start_stat_;
  FileState file_state_ = FileState::NOT_RUNNING;

  int status_fd_ = -1;
  int output_fd_ = -1;
  std::optional<RunLog> run_log_;

  TimerHandler *restart_timer_;
  TimerHandler *kill_timer_;
};

}  // namespace aos::starter

#endif  // AOS_STARTER_SUBPROCESS_H_
