// app/master_cli.cpp — see master_cli.h.
#include "app/master_cli.h"

#include <cstdio>
#include <cstdlib>

namespace herd::app {

namespace {

std::string trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

std::string row(pid_t pid, const char* type, const std::string& reloads, int64_t uptime,
                const std::string& version) {
  char buf[256];
  std::snprintf(buf, sizeof buf, "%-15u %-15s %-15s %-15s %-15s\n", static_cast<unsigned>(pid),
                type, reloads.c_str(), uptime_text(uptime).c_str(), version.c_str());
  return buf;
}

}  // namespace

std::string uptime_text(int64_t s) {
  if (s < 0) s = 0;
  char buf[64];
  std::snprintf(buf, sizeof buf, "%lldd%02dh%02dm%02ds", static_cast<long long>(s / 86400),
                static_cast<int>(s % 86400 / 3600), static_cast<int>(s % 3600 / 60),
                static_cast<int>(s % 60));
  return buf;
}

std::string show_proc(const ProcTable& t) {
  char buf[256];
  std::snprintf(buf, sizeof buf, "#%-14s %-15s %-15s %-15s %-15s\n", "<PID>", "<type>", "<reloads>",
                "<uptime>", "<version>");
  std::string out = buf;
  out +=
      row(t.master.pid, "master",
          std::to_string(t.master.reloads) + " [failed: " + std::to_string(t.failed_reloads) + "]",
          t.master.uptime_s, t.version);
  out += "# workers\n";
  for (const auto& w : t.workers)
    out += row(w.pid, "worker", std::to_string(w.reloads), w.uptime_s, t.version);
  if (!t.old_workers.empty()) {
    out += "# old workers\n";
    for (const auto& w : t.old_workers)
      out += row(w.pid, "worker", std::to_string(w.reloads), w.uptime_s, t.version);
  }
  out += "# programs\n\n";
  return out;
}

std::string master_help() {
  return "The following commands are valid at this level:\n"
         "  @!<pid>                                 : send a command to the <pid> process\n"
         "  @<relative pid>                         : send a command to the <relative pid> "
         "process\n"
         "  @master                                 : send a command to the master process\n"
         "  reload                                  : reload haproxy\n"
         "  show proc                               : show processes status\n"
         "  show version                            : show version of the current process\n"
         "  help [<command>]                        : list matching or all commands\n"
         "  quit                                    : disconnect\n";
}

std::vector<std::string> split_commands(const std::string& line) {
  std::vector<std::string> out;
  std::string cur;
  for (size_t i = 0; i < line.size(); ++i) {
    if (line[i] == '\\' && i + 1 < line.size() && line[i + 1] == ';') {
      cur += ';';
      ++i;
    } else if (line[i] == ';') {
      if (auto t = trim(cur); !t.empty()) out.push_back(t);
      cur.clear();
    } else {
      cur += line[i];
    }
  }
  if (auto t = trim(cur); !t.empty()) out.push_back(t);
  return out;
}

CliTarget route_command(const std::string& command, pid_t current, const std::set<pid_t>& olds) {
  CliTarget t;
  t.command = command;
  if (command.empty() || command[0] != '@') return t;
  size_t sp = command.find_first_of(" \t");
  std::string prefix = command.substr(0, sp);
  t.command = sp == std::string::npos ? "" : trim(command.substr(sp));
  auto not_found = [&] {
    t.kind = CliTarget::Kind::Error;
    t.error = "Can't find the target PID matching the prefix '" + prefix + "'\n";
    return t;
  };
  if (prefix == "@master") return t;
  if (t.command.empty()) {
    // HAProxy enters the process's CLI in interactive mode there.
    t.kind = CliTarget::Kind::Error;
    t.error = "herd's master CLI takes a command after '" + prefix + "'\n";
    return t;
  }
  bool absolute = prefix.size() > 1 && prefix[1] == '!';
  std::string num = prefix.substr(absolute ? 2 : 1);
  if (num.empty() || num.size() > 9 || num.find_first_not_of("0123456789") != std::string::npos)
    return not_found();
  long n = std::strtol(num.c_str(), nullptr, 10);
  if (!absolute) {
    // Relative pid 1: the current worker (0 is the master in HAProxy).
    if (n == 0) return t;
    if (n != 1 || current <= 0) return not_found();
    t.kind = CliTarget::Kind::Worker;
    t.pid = current;
    return t;
  }
  if (current > 0 && n == current) {
    t.kind = CliTarget::Kind::Worker;
    t.pid = current;
    return t;
  }
  if (olds.count(static_cast<pid_t>(n))) {
    t.kind = CliTarget::Kind::Worker;
    t.pid = static_cast<pid_t>(n);
    return t;
  }
  return not_found();
}

std::string worker_cli_path(const std::string& master_socket, pid_t pid) {
  return master_socket + "." + std::to_string(pid);
}

}  // namespace herd::app
