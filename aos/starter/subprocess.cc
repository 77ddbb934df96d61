#include "aos/starter/subprocess.h"

#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "glog/logging.h"

DEFINE_int32(restart_delay_min_ms, 100,
             "Delay before the first automatic restart of an application "
             "that exited; each further restart doubles it.");
DEFINE_int32(restart_delay_max_ms, 3000,
             "Cap of the automatic restart delay, so a crash-looping "
             "application costs at most one start per this period.");
DEFINE_int32(restart_backoff_reset_ms, 10000,
             "A run at least this long resets the restart delay to "
             "--restart_delay_min_ms.");

extern char **environ;

namespace aos::starter {

namespace {

// Unique run ids across every application of this starterd.
uint64_t next_run_id = 1;

// The start time of `pid` in clock ticks since boot (field 22 of
// /proc/<pid>/stat) and its process group (field 5); nullopt if it is gone.
struct ProcStat {
  pid_t pgrp;
  uint64_t start_ticks;
};
std::optional<ProcStat> ReadProcStat(pid_t pid) {
  std::ifstream file("/proc/" + std::to_string(pid) + "/stat");
  std::string text;
  if (!std::getline(file, text)) return std::nullopt;
  const size_t close = text.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream fields(text.substr(close + 2));
  std::string field;
  ProcStat stat{-1, 0};
  for (int index = 3; index <= 22 && fields >> field; ++index) {
    if (index == 5) stat.pgrp = std::stoi(field);
    if (index == 22) stat.start_ticks = std::stoull(field);
  }
  return stat;
}

bool SameFile(const struct stat &a, const struct stat &b) {
  return a.st_dev == b.st_dev && a.st_ino == b.st_ino &&
         a.st_size == b.st_size && a.st_mtim.tv_sec == b.st_mtim.tv_sec &&
         a.st_mtim.tv_nsec == b.st_mtim.tv_nsec;
}

std::string DescribeExit(int wait_status) {
  if (WIFEXITED(wait_status)) {
    return "exited with code " + std::to_string(WEXITSTATUS(wait_status));
  }
  return std::string("killed by signal ") +
         std::to_string(WTERMSIG(wait_status)) + " (" +
         strsignal(WTERMSIG(wait_status)) + ")";
}

// Writes all of `data` to `fd` from the forked child (async-signal-safe).
void ChildWrite(int fd, const void *data, size_t size) {
  const char *bytes = static_cast<const char *>(data);
  while (size > 0) {
    const ssize_t n = write(fd, bytes, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    bytes += n;
    size -= n;
  }
}

}  // namespace

Application::Application(AppSpec spec, std::optional<Result<UserIds>> user,
                         ShmEventLoop *event_loop,
                         std::function<void()> on_change)
    : spec_(std::move(spec)),
      user_(std::move(user)),
      event_loop_(event_loop),
      on_change_(std::move(on_change)),
      log_folder_(AppLogFolder(FLAGS_logs_folder, spec_.name)),
      next_delay_(FLAGS_restart_delay_min_ms),
      restart_timer_(event_loop->AddTimer([this] {
        if (state_ != State::WAITING) return;
        if (restart_is_automatic_) ++restarts_;
        Start();
      })),
      kill_timer_(event_loop->AddTimer([this] {
        if (state_ != State::STOPPING) return;
        LOG(WARNING) << spec_.name << " (pid " << pid_
                     << ") did not exit within its stop_time of "
                     << std::chrono::duration<double>(spec_.stop_time).count()
                     << " s after SIGINT; sending SIGKILL";
        KillGroup(SIGKILL);
      })) {
  restart_timer_->set_name(spec_.name + " restart");
  kill_timer_->set_name(spec_.name + " kill");
  KillStrays();
}

Application::~Application() {
  if (pid_ > 0 && alive()) {
    KillGroup(SIGKILL);
    int wait_status;
    while (waitpid(pid_, &wait_status, 0) < 0 && errno == EINTR) {
    }
    RemovePgidFile();
  }
  CloseStatusPipe();
  CloseOutput();
}

bool Application::alive() const {
  return state_ == State::STARTING || state_ == State::RUNNING ||
         state_ == State::STOPPING;
}

void Application::SetState(State state) {
  state_ = state;
  on_change_();
}

void Application::HandleCommand(Command command) {
  if (terminating_) return;
  switch (command) {
    case Command::START:
      switch (state_) {
        case State::WAITING:
        case State::STOPPED:
          restart_timer_->Disable();
          restart_is_automatic_ = false;
          next_delay_ = std::chrono::milliseconds(FLAGS_restart_delay_min_ms);
          Start();
          break;
        case State::STOPPING:
          restart_after_stop_ = true;
          break;
        case State::STARTING:
        case State::RUNNING:
          break;
      }
      break;
    case Command::STOP:
      stop_reason_ = LastStopReason::STOP_REQUESTED;
      Stop(false);
      break;
    case Command::RESTART:
      stop_reason_ = LastStopReason::RESTART_REQUESTED;
      next_delay_ = std::chrono::milliseconds(FLAGS_restart_delay_min_ms);
      Stop(true);
      break;
  }
}

void Application::Terminate() {
  if (terminating_) return;
  stop_reason_ = LastStopReason::TERMINATE;
  Stop(false);
  terminating_ = true;
}

void Application::Stop(bool restart) {
  restart_timer_->Disable();
  switch (state_) {
    case State::STARTING:
    case State::RUNNING:
      LOG(INFO) << "Stopping " << spec_.name << " (pid " << pid_
                << ") with SIGINT";
      restart_after_stop_ = restart;
      KillGroup(SIGINT);
      kill_timer_->Schedule(event_loop_->monotonic_now() + spec_.stop_time);
      SetState(State::STOPPING);
      break;
    case State::STOPPING:
      restart_after_stop_ = restart;
      break;
    case State::WAITING:
    case State::STOPPED:
      if (restart) {
        restart_is_automatic_ = false;
        Start();
      } else {
        SetState(State::STOPPED);
      }
      break;
  }
}

void Application::ScheduleRestart() {
  next_start_time_ = event_loop_->monotonic_now() + next_delay_;
  LOG(INFO) << "Restarting " << spec_.name << " in "
            << std::chrono::duration<double>(next_delay_).count() << " s";
  restart_timer_->Schedule(next_start_time_);
  next_delay_ = std::min(next_delay_ * 2,
                         std::chrono::milliseconds(FLAGS_restart_delay_max_ms));
  restart_is_automatic_ = true;
  SetState(State::WAITING);
}

void Application::Start() {
  restart_timer_->Disable();
  restart_after_stop_ = false;
  child_error_.reset();
  id_ = next_run_id++;
  start_time_ = event_loop_->monotonic_now();
  next_start_time_ = monotonic_clock::min_time;
  file_state_ = FileState::NOT_RUNNING;
  start_stat_.reset();

  if (user_.has_value() && !user_->has_value()) {
    LOG(ERROR) << "Not starting " << spec_.name << ": "
               << user_->error().message();
    stop_reason_ = LastStopReason::SET_USR_ERR;
    SetState(State::STOPPED);
    return;
  }
  const char *path_env = getenv("PATH");
  Result<std::string> resolved = ResolveExecutable(
      spec_.executable_name,
      path_env != nullptr ? path_env : "/usr/local/bin:/usr/bin:/bin");
  if (!resolved) {
    LOG(ERROR) << "Cannot start " << spec_.name << ": "
               << resolved.error().message();
    stop_reason_ = LastStopReason::EXECV_ERR;
    SetState(State::STOPPED);
    return;
  }
  resolved_path_ = *resolved;
  struct stat info;
  if (stat(resolved_path_.c_str(), &info) == 0) start_stat_ = info;

  // Everything the child needs is made here: between fork and exec only
  // async-signal-safe calls are allowed.
  std::vector<std::string> args = {spec_.executable_name};
  args.insert(args.end(), spec_.args.begin(), spec_.args.end());
  std::vector<char *> argv;
  for (std::string &arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  std::vector<std::string> env;
  for (char **entry = environ; *entry != nullptr; ++entry) {
    const std::string_view text(*entry);
    if (user_.has_value() &&
        (text.starts_with("HOME=") || text.starts_with("USER=") ||
         text.starts_with("LOGNAME="))) {
      continue;
    }
    env.emplace_back(text);
  }
  if (user_.has_value()) {
    env.push_back("HOME=" + (*user_)->home);
    env.push_back("USER=" + (*user_)->name);
    env.push_back("LOGNAME=" + (*user_)->name);
  }
  std::vector<char *> envp;
  for (std::string &entry : env) envp.push_back(entry.data());
  envp.push_back(nullptr);

  // Socket pairs, not pipes: when the last writer goes away a socket
  // reads as readable (EOF) to epoll, a pipe only as EPOLLHUP, which the
  // loop does not dispatch.
  int status_pipe[2];
  int output_pipe[2] = {-1, -1};
  PCHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, status_pipe) == 0);
  const int null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
  PCHECK(null_fd >= 0);

  Result<RunLog> log = RunLog::Open(FLAGS_logs_folder, spec_.name, id_,
                                    FLAGS_max_log_bytes, FLAGS_max_log_runs);
  if (log) {
    run_log_ = std::move(*log);
    PCHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, output_pipe) ==
           0);
    std::ostringstream header;
    header << "=== starterd: starting " << spec_.name << " (" << resolved_path_;
    for (const std::string &arg : spec_.args) header << " " << arg;
    header << "), run " << id_ << " ===\n";
    run_log_->Append(header.str());
  } else {
    LOG(WARNING) << spec_.name << "'s output goes to starterd's own: "
                 << log.error().message();
    run_log_.reset();
  }

  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid == 0) {
    close(status_pipe[0]);
    if (output_pipe[0] >= 0) close(output_pipe[0]);
    RunChild(resolved_path_, argv, envp, output_pipe[1], status_pipe[1],
             null_fd, parent);
  }
  const int fork_errno = errno;
  close(status_pipe[1]);
  close(null_fd);
  if (output_pipe[1] >= 0) close(output_pipe[1]);
  if (pid < 0) {
    close(status_pipe[0]);
    if (output_pipe[0] >= 0) close(output_pipe[0]);
    LOG(ERROR) << "fork for " << spec_.name
               << " failed: " << strerror(fork_errno);
    stop_reason_ = LastStopReason::FORK_ERR;
    run_log_.reset();
    SetState(State::STOPPED);
    return;
  }
  // Also in the parent, so the group exists before anyone signals it
  // (whichever of the two setpgid calls runs first wins; the other is a
  // no-op or fails harmlessly once the child exec'd).
  setpgid(pid, pid);
  pid_ = pid;
  LOG(INFO) << "Started " << spec_.name << " (pid " << pid_ << ", run " << id_
            << ")";
  WritePgidFile();

  status_fd_ = status_pipe[0];
  PCHECK(fcntl(status_fd_, F_SETFL, O_NONBLOCK) == 0);
  event_loop_->epoll()->OnReadable(status_fd_, [this] { OnStatusPipe(); });
  if (output_pipe[0] >= 0) {
    output_fd_ = output_pipe[0];
    PCHECK(fcntl(output_fd_, F_SETFL, O_NONBLOCK) == 0);
    event_loop_->epoll()->OnReadable(output_fd_, [this] { OnOutput(); });
  }
  SetState(State::STARTING);
}

void Application::RunChild(const std::string &path,
                           const std::vector<char *> &argv,
                           const std::vector<char *> &envp, int output_fd,
                           int status_fd, int null_fd, pid_t parent) {
  auto fail = [status_fd](LastStopReason reason) {
    const ChildError error{static_cast<uint32_t>(reason), errno};
    ChildWrite(status_fd, &error, sizeof(error));
    _exit(127);
  };
  setpgid(0, 0);
  // starterd blocks the signals it reads through signalfd and the event
  // loop ignores its wakeup signal; the application starts from defaults.
  for (int signal = 1; signal < NSIG; ++signal) {
    if (signal == SIGKILL || signal == SIGSTOP) continue;
    struct sigaction action = {};
    action.sa_handler = SIG_DFL;
    sigaction(signal, &action, nullptr);
  }
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);

  if (spec_.memory_limit > 0) {
    const struct rlimit limit = {spec_.memory_limit, spec_.memory_limit};
    if (setrlimit(RLIMIT_AS, &limit) != 0) fail(LastStopReason::SET_PRCTL_ERR);
  }
  if (user_.has_value()) {
    const UserIds &ids = **user_;
    if (ids.uid != geteuid() || ids.gid != getegid()) {
      if (setgroups(ids.groups.size(), ids.groups.data()) != 0 ||
          setgid(ids.gid) != 0) {
        fail(LastStopReason::SET_GRP_ERR);
      }
      if (setuid(ids.uid) != 0) fail(LastStopReason::SET_USR_ERR);
    }
  }
  // After the user switch: changing credentials clears the parent-death
  // signal.
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) {
    fail(LastStopReason::SET_PRCTL_ERR);
  }
  // starterd died before prctl took effect: nobody would kill us later.
  if (getppid() != parent) _exit(127);

  const int out = output_fd >= 0 ? output_fd : STDOUT_FILENO;
  if (dup2(null_fd, STDIN_FILENO) < 0 ||
      (out != STDOUT_FILENO && dup2(out, STDOUT_FILENO) < 0) ||
      (output_fd >= 0 && dup2(out, STDERR_FILENO) < 0)) {
    fail(LastStopReason::EXECV_ERR);
  }
  execve(path.c_str(), argv.data(), envp.data());
  fail(LastStopReason::EXECV_ERR);
  _exit(127);
}

void Application::OnStatusPipe() {
  ChildError error;
  const ssize_t n = read(status_fd_, &error, sizeof(error));
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
  if (n == static_cast<ssize_t>(sizeof(error))) {
    child_error_ = error;
  } else if (n == 0 && state_ == State::STARTING) {
    // The pipe closed on exec (O_CLOEXEC) without a report: the program
    // runs.
    file_state_ = CurrentFileState() == FileState::NO_CHANGE
                      ? FileState::NO_CHANGE
                      : FileState::CHANGED_DURING_STARTUP;
    CloseStatusPipe();
    SetState(State::RUNNING);
    return;
  }
  CloseStatusPipe();
}

void Application::CloseStatusPipe() {
  if (status_fd_ < 0) return;
  event_loop_->epoll()->DeleteFd(status_fd_);
  close(status_fd_);
  status_fd_ = -1;
}

void Application::OnOutput() {
  char buffer[16384];
  while (true) {
    const ssize_t n = read(output_fd_, buffer, sizeof(buffer));
    if (n > 0) {
      if (run_log_) run_log_->Append(std::string_view(buffer, n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return;
    // EOF: every writer (the process and anything it forked) is gone.
    CloseOutput();
    return;
  }
}

void Application::CloseOutput() {
  if (output_fd_ < 0) return;
  event_loop_->epoll()->DeleteFd(output_fd_);
  close(output_fd_);
  output_fd_ = -1;
}

void Application::KillGroup(int signal) {
  if (pid_ <= 0) return;
  if (kill(-pid_, signal) != 0 && errno == ESRCH) {
    // The group is not formed yet (the child has not run setpgid): signal
    // the process itself.
    kill(pid_, signal);
  }
}

void Application::MaybeReap() {
  if (!alive() || pid_ <= 0) return;
  // Peek first: while the exited leader is unreaped its group id cannot be
  // reused, so killing what it left in the group cannot hit anyone else.
  siginfo_t info = {};
  if (waitid(P_PID, pid_, &info, WEXITED | WNOHANG | WNOWAIT) != 0 ||
      info.si_pid != pid_) {
    return;
  }
  // Whatever the application left in its group goes with it. (The
  // zombie leader counts as a member, so success says nothing about
  // leftovers.)
  kill(-pid_, SIGKILL);
  int wait_status;
  const pid_t done = waitpid(pid_, &wait_status, WNOHANG);
  if (done != pid_) return;
  Exited(wait_status);
}

void Application::Exited(int wait_status) {
  // Read what the output pipe still holds, and a pre-exec failure report:
  // the child is gone, so the status pipe has all it will ever have.
  if (status_fd_ >= 0) OnStatusPipe();
  if (output_fd_ >= 0) OnOutput();
  RemovePgidFile();
  kill_timer_->Disable();
  last_exit_code_ = WIFEXITED(wait_status) ? WEXITSTATUS(wait_status)
                                           : 128 + WTERMSIG(wait_status);
  last_exit_time_ = event_loop_->monotonic_now();
  const std::string exit_text = DescribeExit(wait_status);
  file_state_ = FileState::NOT_RUNNING;
  if (run_log_) {
    run_log_->Append("=== starterd: " + spec_.name + " " + exit_text +
                     " ===\n");
  }
  // The output pipe may stay open in a grandchild that escaped the group;
  // the next run gets its own.
  CloseOutput();
  run_log_.reset();

  if (child_error_.has_value()) {
    stop_reason_ = static_cast<LastStopReason>(child_error_->reason);
    LOG(ERROR) << "Could not start " << spec_.name << ": "
               << EnumNameLastStopReason(stop_reason_) << " ("
               << strerror(child_error_->error_number) << ")";
    SetState(State::STOPPED);
    return;
  }
  const bool stopping = state_ == State::STOPPING;
  LOG(INFO) << spec_.name << " (pid " << pid_ << ") " << exit_text;
  if (terminating_) {
    SetState(State::STOPPED);
    return;
  }
  if (stopping) {
    if (restart_after_stop_) {
      restart_is_automatic_ = false;
      Start();
    } else {
      SetState(State::STOPPED);
    }
    return;
  }
  if (!spec_.autorestart) {
    SetState(State::STOPPED);
    return;
  }
  if (event_loop_->monotonic_now() - start_time_ >=
      std::chrono::milliseconds(FLAGS_restart_backoff_reset_ms)) {
    next_delay_ = std::chrono::milliseconds(FLAGS_restart_delay_min_ms);
  }
  ScheduleRestart();
}

void Application::NoteTimingReport(pid_t pid, monotonic_clock::time_point now) {
  if (pid > 0 && pid == pid_ && alive()) last_timing_report_ = now;
}

FileState Application::CurrentFileState() {
  struct stat info;
  if (!start_stat_.has_value() || stat(resolved_path_.c_str(), &info) != 0 ||
      !SameFile(info, *start_stat_)) {
    return FileState::CHANGED;
  }
  return FileState::NO_CHANGE;
}

flatbuffers::Offset<ApplicationStatus> Application::PopulateStatus(
    flatbuffers::FlatBufferBuilder *fbb, ProcessSampler *sampler,
    monotonic_clock::time_point now) {
  const auto name = fbb->CreateString(spec_.name);
  flatbuffers::Offset<util::ProcessInfo> process_info;
  if (sampler != nullptr && alive() && pid_ > 0) {
    process_info = sampler->Sample(fbb, pid_, now);
  }
  if (state_ == State::RUNNING && file_state_ == FileState::NO_CHANGE &&
      CurrentFileState() == FileState::CHANGED) {
    file_state_ = FileState::CHANGED;
  }
  // A report per --timing_report_ms (1 s by default); three missed ones
  // mean the loop is stuck or gone.
  const bool active_timing_report =
      alive() && last_timing_report_ != monotonic_clock::min_time &&
      now - last_timing_report_ <= std::chrono::seconds(3);
  ApplicationStatus::Builder builder(*fbb);
  builder.add_name(name);
  builder.add_state(state_);
  builder.add_last_exit_code(last_exit_code_);
  if (pid_ > 0) builder.add_pid(pid_);
  builder.add_id(id_);
  builder.add_last_start_time(start_time_.time_since_epoch().count());
  if (last_exit_time_ != monotonic_clock::min_time) {
    builder.add_last_exit_time(last_exit_time_.time_since_epoch().count());
  }
  builder.add_last_stop_reason(stop_reason_);
  if (!process_info.IsNull()) builder.add_process_info(process_info);
  builder.add_has_active_timing_report(active_timing_report);
  builder.add_file_state(file_state_);
  builder.add_restarts(restarts_);
  if (state_ == State::WAITING &&
      next_start_time_ != monotonic_clock::min_time) {
    builder.add_next_start_time(next_start_time_.time_since_epoch().count());
  }
  return builder.Finish();
}

void Application::WritePgidFile() {
  std::optional<ProcStat> stat = ReadProcStat(pid_);
  std::error_code error;
  std::filesystem::create_directories(log_folder_, error);
  std::ofstream file(log_folder_ + "/pgid");
  file << pid_ << " " << (stat ? stat->start_ticks : 0) << "\n";
  if (!file) {
    LOG(WARNING) << "cannot record " << spec_.name << "'s process group in "
                 << log_folder_
                 << "/pgid; a starterd killed with SIGKILL could leave its "
                    "children running";
  }
}

void Application::RemovePgidFile() {
  std::error_code error;
  std::filesystem::remove(log_folder_ + "/pgid", error);
}

void Application::KillStrays() {
  std::ifstream file(log_folder_ + "/pgid");
  pid_t pgid = -1;
  uint64_t start_ticks = 0;
  if (!(file >> pgid >> start_ticks) || pgid <= 0) return;
  // Members of that group that started no earlier than its leader. While
  // any member lives the group id cannot be reused, and a live process
  // with the leader's pid but another start time means it was.
  std::optional<ProcStat> leader = ReadProcStat(pgid);
  if (leader.has_value() && leader->start_ticks != start_ticks) {
    // The id now belongs to an unrelated process: ours are long gone.
    RemovePgidFile();
    return;
  }
  int killed = 0;
  DIR *proc = opendir("/proc");
  if (proc != nullptr) {
    while (struct dirent *entry = readdir(proc)) {
      char *end;
      const long pid = strtol(entry->d_name, &end, 10);
      if (*end != '\0' || pid <= 0) continue;
      std::optional<ProcStat> stat = ReadProcStat(pid);
      if (!stat || stat->pgrp != pgid || stat->start_ticks < start_ticks) {
        continue;
      }
      if (kill(pid, SIGKILL) == 0) ++killed;
    }
    closedir(proc);
  }
  if (killed > 0) {
    LOG(WARNING) << "Killed " << killed << " stray process"
                 << (killed == 1 ? "" : "es") << " of " << spec_.name
                 << " (process group " << pgid
                 << ") left by a previous starterd";
  }
  RemovePgidFile();
}

}  // namespace aos::starter
