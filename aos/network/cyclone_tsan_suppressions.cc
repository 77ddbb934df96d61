// ThreadSanitizer suppressions for Cyclone DDS's internals, compiled into
// the programs and tests that run Cyclone (the message bridge, its tests).
//
// Debian's libddsc is not built with -fsanitize=thread: TSAN sees its
// pthread calls but not its own atomics (ddsrt_atomic_*), so Cyclone's
// lock-free hand-offs between its threads (receive buffers reused after
// its gc thread decides nobody holds them, entities freed by that thread)
// look like races where both accesses are inside libddsc. Those reports are
// about Cyclone, not us, and cannot be fixed here. Only races with a frame
// in libddsc are suppressed; the bridge's own threads and hand-offs (the
// listener -> eventfd -> loop wakeup in dds_transport.cc) stay checked.
// docs/decisions/network.md says more.

#if defined(__SANITIZE_THREAD__)
extern "C" const char *__tsan_default_suppressions() {
  return "race:libddsc.so\n";
}
#endif
