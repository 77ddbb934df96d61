#ifndef AOS_EVENTS_LOGGING_STR_CAT_H_
#define AOS_EVENTS_LOGGING_STR_CAT_H_

// StrCat: joins anything printable with operator<< into one string, for the
// error messages of the log code (g++ 12 has no std::format).

#include <sstream>
#include <string>

namespace aos::logger {

template <typename... Args>
std::string StrCat(const Args &...args) {
  std::ostringstream out;
  (out << ... << args);
  return out.str();
}

}  // namespace aos::logger

#endif  // AOS_EVENTS_LOGGING_STR_CAT_H_
