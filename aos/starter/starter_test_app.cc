// A program for starterd's tests to supervise, doing one thing per --mode:
//   run            an AOS event loop (sends timing reports) until SIGINT
//   exit           exits with --exit_code at once
//   ignore_sigint  ignores SIGINT, says so on stdout, sleeps until killed
//   spawn_child    forks a child that sleeps forever (writing its pid to
//                  --pid_file), then sleeps until killed
// Every mode first prints --print to stdout and "err:" + --print to stderr.

#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iostream>

#include "aos/configuration.h"
#include "aos/events/shm_event_loop.h"
#include "aos/init.h"
#include "gflags/gflags.h"

DEFINE_string(mode, "run", "run, exit, ignore_sigint or spawn_child");
DEFINE_int32(exit_code, 1, "Exit code of --mode=exit.");
DEFINE_string(print, "", "Printed to stdout and stderr at start.");
DEFINE_string(pid_file, "", "Where spawn_child writes its child's pid.");
DEFINE_bool(exit_after_spawn, false,
            "spawn_child exits once the pid file is written, leaving the "
            "child behind.");
DEFINE_string(config, "", "Configuration for --mode=run.");

int main(int argc, char **argv) {
  aos::InitGoogle(&argc, &argv);
  if (!FLAGS_print.empty()) {
    std::cout << FLAGS_print << std::endl;
    std::cerr << "err:" << FLAGS_print << std::endl;
  }
  if (FLAGS_mode == "exit") return FLAGS_exit_code;
  if (FLAGS_mode == "ignore_sigint") {
    signal(SIGINT, SIG_IGN);
    std::cout << "ignoring SIGINT" << std::endl;
    while (true) pause();
  }
  if (FLAGS_mode == "spawn_child") {
    const pid_t child = fork();
    if (child == 0) {
      while (true) pause();
    }
    std::ofstream(FLAGS_pid_file + ".tmp") << child << "\n";
    rename((FLAGS_pid_file + ".tmp").c_str(), FLAGS_pid_file.c_str());
    if (FLAGS_exit_after_spawn) return 0;
    while (true) pause();
  }
  aos::FlatbufferDetachedBuffer<aos::Configuration> config =
      aos::configuration::ReadConfig(FLAGS_config);
  aos::ShmEventLoop event_loop(&config.message());
  return event_loop.Run() ? 0 : 1;
}
