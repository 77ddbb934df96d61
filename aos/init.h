#ifndef AOS_INIT_H_
#define AOS_INIT_H_

// Process start-up for every AOS program.
//
// Call InitGoogle(&argc, &argv) first thing in main(). It parses the gflags
// command line (an unknown flag prints an error and exits non-zero, so a typo
// in a launch script is caught instead of ignored), sets up glog to log to
// stderr, and installs a failure signal handler that prints a stack trace when
// the process crashes. Event loops CHECK that it has run.

namespace aos {

// Parses flags, removing them from argc/argv, and initializes logging.
// Must be called exactly once, before any event loop is made. Exits with
// status 1 on an unknown or malformed flag.
void InitGoogle(int *argc, char ***argv);

// True once InitGoogle has run. Thread-safe.
bool IsInitialized();

}  // namespace aos

#endif  // AOS_INIT_H_
