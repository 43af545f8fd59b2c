// app/master.cpp — see master.h.
#include "app/master.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <set>

#include "app/handover.h"
#include "app/lifecycle.h"
#include "app/logsink.h"
#include "app/master_cli.h"

namespace herd::app {

namespace {

using Clock = std::chrono::steady_clock;

// sd_notify(3) without libsystemd: one datagram to $NOTIFY_SOCKET.
void sd_notify(bool on, const std::string& state) {
  const char* path = std::getenv("NOTIFY_SOCKET");
  if (!on || !path || !*path) return;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  size_t n = std::strlen(path);
  if (n >= sizeof addr.sun_path) return;
  std::memcpy(addr.sun_path, path, n);
  if (addr.sun_path[0] == '@') addr.sun_path[0] = '\0';  // abstract namespace
  int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return;
  ::sendto(fd, state.data(), state.size(), MSG_NOSIGNAL, reinterpret_cast<sockaddr*>(&addr),
           static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + n));
  ::close(fd);
}

std::vector<char*> c_args(const std::string& self, std::vector<std::string>& args) {
  std::vector<char*> v;
  v.push_back(const_cast<char*>(self.c_str()));
  for (auto& a : args) v.push_back(a.data());
  v.push_back(nullptr);
  return v;
}

// Starts `self args`; the child gets the signals unblocked. -1 on failure.
pid_t spawn(const std::string& self, std::vector<std::string> args, int out_fd = -1) {
  auto argv = c_args(self, args);
  pid_t p = ::fork();
  if (p != 0) return p;
  sigset_t all;
  sigfillset(&all);
  sigprocmask(SIG_UNBLOCK, &all, nullptr);
  // A master that dies (kill -9) takes its workers with it: SIGTERM, so
  // that they leave the gossip cluster as they would on a stop.
  ::prctl(PR_SET_PDEATHSIG, SIGTERM);
  if (out_fd >= 0) {
    ::dup2(out_fd, 1);
    ::dup2(out_fd, 2);
  }
  ::execv(self.c_str(), argv.data());
  _exit(127);
}

// `herd -c -q ...` on the same files: "" when valid, else its messages.
std::string check_config(const MasterOptions& o, bool* ok) {
  int pipefd[2];
  *ok = false;
  if (::pipe2(pipefd, O_CLOEXEC) != 0) return "cannot run the configuration check";
  pid_t p = spawn(o.self, o.check_args, pipefd[1]);
  ::close(pipefd[1]);
  std::string out;
  char buf[4096];
  for (ssize_t r; (r = ::read(pipefd[0], buf, sizeof buf)) != 0;) {
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) break;
    out.append(buf, static_cast<size_t>(r));
  }
  ::close(pipefd[0]);
  int st = 0;
  while (p > 0 && ::waitpid(p, &st, 0) < 0 && errno == EINTR) {
  }
  // 0 valid, 2 valid without a listener (haproxy -c's codes): a worker
  // would not start on the latter.
  *ok = p > 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0;
  return out;
}

ino_t inode_of(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? st.st_ino : 0;
}

std::string exit_text(int st) {
  if (WIFEXITED(st)) return "exited with code " + std::to_string(WEXITSTATUS(st)) + " (Exit)";
  if (WIFSIGNALED(st))
    return "exited with code " + std::to_string(128 + WTERMSIG(st)) + " (" +
           strsignal(WTERMSIG(st)) + ")";
  return "ended";
}

int exit_code(int st) {
  if (WIFEXITED(st)) return WEXITSTATUS(st);
  if (WIFSIGNALED(st)) return 128 + WTERMSIG(st);
  return 1;
}

class Master {
 public:
  explicit Master(const MasterOptions& o) : o_(o) {}

  int run() {
    sigset_t set;
    sigemptyset(&set);
    for (int s : {SIGUSR1, SIGUSR2, SIGTERM, SIGINT, SIGHUP, SIGCHLD}) sigaddset(&set, s);
    sigprocmask(SIG_BLOCK, &set, nullptr);
    started_at_ = Clock::now();
    if (!o_.cli.empty()) {
      if (std::string err = open_cli(); !err.empty()) {
        LogSink::stderr_line("ALERT", err);
        return 1;
      }
    }
    if (o_.daemon) daemonize();
    if (!o_.pidfile.empty()) std::ofstream(o_.pidfile, std::ios::trunc) << ::getpid() << "\n";
    current_ = start_worker({});
    if (current_ <= 0) return finish(1);
    lifecycle_.started();
    sd_notify(o_.systemd, "READY=1\nMAINPID=" + std::to_string(::getpid()));
    // Signals are read when pending (signalfd wakes poll) or every 100 ms,
    // and the master CLI's connections served one at a time.
    int sfd = ::signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
    for (;;) {
      pollfd p[2] = {{sfd, POLLIN, 0}, {cli_fd_, POLLIN, 0}};
      ::poll(p, 2, 100);
      if (p[1].revents & POLLIN) serve_cli();
      for (;;) {
        timespec zero{0, 0};
        siginfo_t info{};
        int sig = sigtimedwait(&set, &info, &zero);
        if (sig < 0) break;
        if (sig != SIGCHLD) on_signal(sig);
      }
      if (int code = reap(); code >= 0) {
        if (sfd >= 0) ::close(sfd);
        return finish(code);
      }
    }
  }

 private:
  void on_signal(int sig) {
    if (sig == SIGHUP) {
      if (current_ > 0) ::kill(current_, SIGHUP);
      return;
    }
    // SIGUSR2: a reload; SIGUSR1: every worker soft-stops, SIGTERM and
    // SIGINT: every worker stops; the master leaves once they did.
    using A = Lifecycle::Action;
    A a = lifecycle_.signal(lifecycle_signal(sig));
    if (a == A::Reload) {
      reload();
      lifecycle_.reloaded();
    } else if (a != A::None) {
      sd_notify(o_.systemd, "STOPPING=1");
      bool soft = a == A::DrainAndLeave || a == A::Drain;
      for (pid_t p : workers()) ::kill(p, soft ? SIGUSR1 : SIGTERM);
    }
  }

  // -S <path>[,mode,<octal>]: HAProxy's master CLI, on a Unix socket.
  std::string open_cli() {
    std::vector<std::string> words;
    for (size_t at = 0;;) {
      size_t comma = o_.cli.find(',', at);
      words.push_back(o_.cli.substr(at, comma == std::string::npos ? comma : comma - at));
      if (comma == std::string::npos) break;
      at = comma + 1;
    }
    std::string path = words[0];
    if (path.rfind("unix@", 0) == 0) path = path.substr(5);
    if (path.empty() || path.find('@') != std::string::npos ||
        (path.find('/') == std::string::npos && path.find(':') != std::string::npos))
      return "-S '" + o_.cli + "': herd's master CLI listens on a Unix socket path only";
    long mode = -1;
    for (size_t i = 1; i < words.size(); ++i) {
      char* end = nullptr;
      if (words[i] == "mode" && i + 1 < words.size() &&
          (mode = std::strtol(words[i + 1].c_str(), &end, 8), *end == '\0') && mode >= 0 &&
          mode <= 07777) {
        ++i;
        continue;
      }
      return "-S '" + o_.cli + "': bind option '" + words[i] +
             "' is not supported by herd's master CLI (only 'mode <octal>')";
    }
    sockaddr_un addr{};
    if (path.size() >= sizeof addr.sun_path) return "-S: socket path too long: " + path;
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path.data(), path.size());
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    ::unlink(path.c_str());
    if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(fd, 16) != 0 ||
        (mode >= 0 && ::chmod(path.c_str(), static_cast<mode_t>(mode)) != 0)) {
      std::string err = "-S: cannot listen on '" + path + "': " + std::strerror(errno);
      if (fd >= 0) ::close(fd);
      return err;
    }
    cli_fd_ = fd;
    cli_path_ = path;
    return "";
  }

  ProcTable proc_table() const {
    auto secs = [](Clock::time_point t) {
      return std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - t).count();
    };
    ProcTable t;
    t.version = o_.version;
    t.master = {::getpid(), reloads_, secs(started_at_)};
    t.failed_reloads = failed_reloads_;
    std::vector<std::pair<Clock::time_point, ProcRow>> olds;
    for (const auto& [pid, w] : info_) {
      ProcRow r{pid, reloads_ - w.reloads_at, secs(w.at)};
      if (pid == current_)
        t.workers.push_back(r);
      else
        olds.push_back({w.at, r});
    }
    std::sort(olds.begin(), olds.end(),
              [](const auto& a, const auto& b) { return a.first > b.first; });
    for (const auto& o : olds) t.old_workers.push_back(o.second);
    return t;
  }

  // A master command (no prefix); sets *reload for `reload`, *quit for `quit`.
  std::string master_command(const std::string& cmd, bool* reload, bool* quit) {
    if (cmd == "show proc") return show_proc(proc_table());
    if (cmd == "show version") return o_.version + "\n\n";
    if (cmd == "help") return master_help();
    if (cmd == "reload") {
      *reload = true;
      return "";
    }
    if (cmd == "quit") {
      *quit = true;
      return "";
    }
    std::string help = master_help();
    return "Unknown command, but maybe one of the following ones is a better match:\n" +
           help.substr(help.find('\n') + 1);
  }

  // One connection of the master CLI: a line of `;`-separated commands,
  // each answered by the master or a worker (`@<pid>`), then closed. The
  // line is read with a 2 s timeout: a silent client cannot hold the master.
  void serve_cli() {
    int c = ::accept4(cli_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0) return;
    timeval tv{2, 0};
    ::setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    std::string line;
    char buf[4096];
    while (line.find('\n') == std::string::npos && line.size() < 65536) {
      ssize_t r = ::recv(c, buf, sizeof buf, 0);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) break;
      line.append(buf, static_cast<size_t>(r));
    }
    line = line.substr(0, line.find('\n'));
    std::string out;
    bool reload = false, quit = false;
    for (const auto& cmd : split_commands(line)) {
      CliTarget t = route_command(cmd, current_, olds_);
      if (t.kind == CliTarget::Kind::Error) {
        out += t.error;
      } else if (t.kind == CliTarget::Kind::Worker) {
        std::string reply;
        std::string err = cli_command(worker_cli_path(o_.socket, t.pid), t.command, &reply);
        out += err.empty() ? reply : "herd: worker " + std::to_string(t.pid) + ": " + err + "\n";
      } else {
        out += master_command(t.command, &reload, &quit);
      }
      if (reload || quit) break;
    }
    for (size_t off = 0; off < out.size();) {
      ssize_t r = ::send(c, out.data() + off, out.size() - off, MSG_NOSIGNAL);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) break;
      off += static_cast<size_t>(r);
    }
    ::close(c);
    if (reload) on_signal(SIGUSR2);  // as HAProxy's: the connection closes first
  }

  std::set<pid_t> workers() const {
    std::set<pid_t> w = olds_;
    if (current_ > 0) w.insert(current_);
    return w;
  }

  void daemonize() {
    pid_t p = ::fork();
    if (p > 0) _exit(0);
    ::setsid();
    int fd = ::open("/dev/null", O_RDWR);
    if (fd >= 0) {
      ::dup2(fd, 0);
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      if (fd > 2) ::close(fd);
    }
  }

  // A worker with `extra` arguments, once its private stats socket is in
  // place (it is then bound and about to serve); -1 if it ended first.
  pid_t start_worker(const std::vector<std::string>& extra) {
    ino_t before = inode_of(o_.socket);
    std::vector<std::string> args = o_.worker_args;
    args.insert(args.end(), extra.begin(), extra.end());
    pid_t p = spawn(o_.self, args);
    if (p < 0) {
      LogSink::stderr_line("ALERT", std::string("cannot fork a worker: ") + std::strerror(errno));
      return -1;
    }
    LogSink::stderr_line("NOTICE", "New worker (" + std::to_string(p) + ") forked");
    for (auto end = Clock::now() + std::chrono::seconds(30); Clock::now() < end;) {
      int st = 0;
      if (::waitpid(p, &st, WNOHANG) == p) {
        LogSink::stderr_line("ALERT", "New worker (" + std::to_string(p) + ") " + exit_text(st));
        return -1;
      }
      ino_t now = inode_of(o_.socket);
      if (now != 0 && now != before) {
        LogSink::stderr_line("NOTICE", "Loading success.");
        info_[p] = {Clock::now(), reloads_};
        return p;
      }
      ::usleep(10 * 1000);
    }
    LogSink::stderr_line("ALERT", "New worker (" + std::to_string(p) + ") did not start in 30 s");
    ::kill(p, SIGKILL);
    ::waitpid(p, nullptr, 0);
    return -1;
  }

  void reload() {
    ++reloads_;
    LogSink::stderr_line("WARNING", "Reloading: checking the configuration");
    sd_notify(o_.systemd, "RELOADING=1");
    bool ok = false;
    std::string out = check_config(o_, &ok);
    if (!ok) {
      ++failed_reloads_;
      LogSink::stderr_line("ALERT", "the new configuration is not valid; worker (" +
                                        std::to_string(current_) + ") keeps serving:");
      std::fputs(out.c_str(), stderr);
      sd_notify(o_.systemd, "READY=1");
      return;
    }
    pid_t old = current_;
    pid_t p =
        old > 0 ? start_worker({"-sf", std::to_string(old), "-x", o_.socket}) : start_worker({});
    if (p > 0) {
      olds_.insert(old);
      current_ = p;
      failed_reloads_ = 0;
    } else {
      ++failed_reloads_;
      LogSink::stderr_line(
          "ALERT", "the new worker failed; worker (" + std::to_string(old) + ") keeps serving");
    }
    sd_notify(o_.systemd, "READY=1");
  }

  // Reaps ended workers; returns the master's exit code when it must end.
  int reap() {
    for (;;) {
      int st = 0;
      pid_t p = ::waitpid(-1, &st, WNOHANG);
      if (p <= 0) break;
      info_.erase(p);
      ::unlink(worker_cli_path(o_.socket, p).c_str());  // a worker killed left it behind
      if (olds_.erase(p)) {
        LogSink::stderr_line("WARNING",
                             "Former worker (" + std::to_string(p) + ") " + exit_text(st));
      } else if (p == current_) {
        current_ = -1;
        last_code_ = exit_code(st);
        LogSink::stderr_line(lifecycle_.stopping() ? "WARNING" : "ALERT",
                             "Current worker (" + std::to_string(p) + ") " + exit_text(st));
        if (!lifecycle_.stopping() && o_.exit_on_failure) {
          LogSink::stderr_line("ALERT", "exit-on-failure: killing every processes with SIGTERM");
          lifecycle_.signal(Lifecycle::Signal::Interrupt);  // Stopped
          for (pid_t w : olds_) ::kill(w, SIGTERM);
        }
      }
    }
    if (workers().empty() && (lifecycle_.stopping() || o_.exit_on_failure)) {
      LogSink::stderr_line("WARNING",
                           "All workers exited. Exiting... (" + std::to_string(last_code_) + ")");
      return last_code_;
    }
    return -1;
  }

  int finish(int code) {
    if (cli_fd_ >= 0) {
      ::close(cli_fd_);
      ::unlink(cli_path_.c_str());
    }
    ::unlink(o_.socket.c_str());
    if (!o_.pidfile.empty()) ::unlink(o_.pidfile.c_str());
    return code;
  }

  const MasterOptions& o_;
  pid_t current_ = -1;
  std::set<pid_t> olds_;
  Lifecycle lifecycle_;  // app/lifecycle.h
  // `show proc`: when each worker started and the master's reload count then.
  struct Started {
    Clock::time_point at;
    uint32_t reloads_at = 0;
  };
  std::map<pid_t, Started> info_;
  Clock::time_point started_at_;
  uint32_t reloads_ = 0, failed_reloads_ = 0;
  int cli_fd_ = -1;  // -S
  std::string cli_path_;
  int last_code_ = 0;
};

}  // namespace

int run_master(const MasterOptions& o) { return Master(o).run(); }

}  // namespace herd::app
