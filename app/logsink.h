// app/logsink.h — where herd's log lines go: HAProxy's `log` targets (UDP
// syslog in RFC3164 framing, or raw lines on stdout/stderr) with their
// facility and level filters, plus the stderr messages HAProxy prints
// ("[WARNING]  (pid) : ...").
//
// Thread rules: construct on the main thread; send()/emit() from any thread
// (each call is one sendto(2)/write(2); no shared mutable state).
#pragma once

#include <netinet/in.h>

#include <string>
#include <string_view>
#include <vector>

#include "config/model.h"

namespace herd::app {

// Syslog severities.
enum Severity {
  kEmerg = 0,
  kAlert = 1,
  kCrit = 2,
  kErr = 3,
  kWarning = 4,
  kNotice = 5,
  kInfo = 6,
  kDebug = 7
};

class LogSink {
 public:
  explicit LogSink(const config::Config& cfg);
  ~LogSink();

  // Sends `msg` to the targets of `px` (its own, plus the global ones with
  // `log global`); px == nullptr means the global targets.
  void send(const config::Proxy* px, int severity, std::string_view msg) const;
  // Whether a message of `severity` would reach any target of `px`.
  bool wants(const config::Proxy* px, int severity) const;
  // HAProxy's stderr line: "[WARNING]  (pid) : msg".
  static void stderr_line(std::string_view level, std::string_view msg);

 private:
  struct Target {
    config::LogTarget t;
    sockaddr_storage addr{};
    socklen_t len = 0;
  };
  std::vector<Target> resolve(const std::vector<config::LogTarget>& in) const;
  void send_to(const std::vector<Target>& ts, int severity, std::string_view msg) const;
  std::vector<Target> global_;
  std::vector<std::pair<const config::Proxy*, std::vector<Target>>> proxies_;
  int fd4_ = -1, fd6_ = -1, fdun_ = -1;
  int pid_;
};

}  // namespace herd::app
