// app/main.cpp — herd's entry point: HAProxy's command line, the control
// thread and the wiring of every module.
//
// Threads: main() becomes the control thread. It owns the PoolWriter (the
// pool's single writer) and runs the control io_context: signals, health
// checks, the runtime API and the gossip member all run there. The proxy's
// workers run on their own threads (proxy/engine.h). What a signal does is
// decided by the process lifecycle (app/lifecycle.h), driven on the control
// thread, for the native engine and reference mode alike.
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/version.hpp>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "app/handover.h"
#include "app/haproxy_engine.h"
#include "app/lifecycle.h"
#include "app/logsink.h"
#include "app/master.h"
#include "app/master_cli.h"
#include "app/wiring.h"
#include "balancing/counters.h"
#include "balancing/frontend.h"
#include "balancing/pool.h"
#include "config/parser.h"
#include "membership/settings.h"
#include "proxy/debug_trace.h"
#include "proxy/engine.h"
#include "stats/csv.h"
#include "stats/server_state_file.h"
#include "tls/context.h"

namespace {

constexpr const char* kVersion = "0.1.0";

struct Options {
  std::vector<std::string> files;
  bool check = false, quiet = false, foreground = false, daemon = false;
  bool debug = false;  // -d: foreground, one line per stream event (proxy/debug_trace.h)
  bool print_config = false;
  int verbose_version = 0;  // 1: -v, 2: -vv
  std::string pidfile;
  std::vector<pid_t> soft_pids, hard_pids;
  std::vector<std::string> positional;  // quick start: <port> <server>...
  std::string membership;
  std::vector<std::string> membership_flags;  // -node -bind -join -tag ... (Serf style)
  std::string engine = "native";              // --engine native|haproxy
  std::string haproxy_bin = "haproxy";        // --haproxy-bin
  std::string cli;                            // --cli: herd's runtime API in haproxy mode
  std::string io;                             // --io auto|epoll|io_uring (else $HERD_IO)
  std::string old_socket;                     // -x: the old process's `stats socket`
  bool master_worker = false, systemd = false;  // -W, -Ws
  std::string master_socket;  // --master-socket: a worker of a master (app/master.h)
  std::string master_cli;     // -S: the master CLI (master-worker mode)
};

[[noreturn]] void usage(const char* argv0, int code) {
  std::fprintf(code ? stderr : stdout,
               "Usage : %s [-f <cfgfile|cfgdir>]* [ -vdVD ] [ -n <maxconn> ] [ -N <maxpconn> ]\n"
               "        [ -p <pidfile> ] [ -m <max megs> ] [ -C <dir> ] [-- <cfgfile>*]\n"
               "        -v displays version ; -vv shows known build options.\n"
               "        -d enters debug mode ; -db only disables background mode.\n"
               "        -c check mode : only check config files and exit\n"
               "        -q quiet mode : don't display messages\n"
               "        -D goes daemon ; -db disables background mode\n"
               "        -p writes pids of all children to this file\n"
               "        -sf/-st [pid ]* finishes/terminates old pids.\n"
               "        -x <unix_socket> get listening sockets from a unix socket\n"
               "        -W master-worker mode ; -Ws with systemd notify support.\n"
               "        -S <bind>[,<bind options>...] new master CLI\n"
               "        --print-config prints the effective configuration and exits\n"
               "        --membership <file.yaml> gossip membership settings\n"
               "        --engine native|haproxy  proxy traffic itself, or supervise haproxy\n"
               "        --haproxy-bin <path>  haproxy binary (--engine haproxy)\n"
               "        --cli <ipv4@addr:port|path>  herd's runtime API (--engine haproxy)\n"
               "        --io auto|epoll|io_uring  I/O backend of the proxy (default auto)\n"
               "   or : %s <front-port> <host:port>... (quick start)\n",
               argv0, argv0);
  std::exit(code);
}

Options parse_args(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto need = [&](const char* what) -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "[ALERT]    (%d) : config : option '%s' requires %s.\n", getpid(),
                     a.c_str(), what);
        std::exit(1);
      }
      return argv[++i];
    };
    if (a == "-f")
      o.files.push_back(need("an argument"));
    else if (a == "-c")
      o.check = true;
    else if (a == "-q")
      o.quiet = true;
    else if (a == "-v" || a == "-V")
      o.verbose_version = std::max(o.verbose_version, 1);
    else if (a == "-vv")
      o.verbose_version = 2;
    else if (a == "-db")
      o.foreground = true;
    else if (a == "-d")
      o.foreground = o.debug = true;
    else if (a == "-D")
      o.daemon = true;
    else if (a == "-W" || a == "-Ws") {
      o.master_worker = true;
      o.systemd = a == "-Ws";
    } else if (a == "-S")
      o.master_cli = need("an argument");
    else if (a == "--master-socket")
      o.master_socket = need("a path");
    else if (a == "-p")
      o.pidfile = need("a pid file name");
    else if (a == "-x")
      o.old_socket = need("an argument");
    else if (a == "--print-config")
      o.print_config = true;
    else if (a == "--membership")
      o.membership = need("a file name");
    else if (a == "--engine") {
      o.engine = need("native or haproxy");
      if (o.engine != "native" && o.engine != "haproxy") usage(argv[0], 1);
    } else if (a == "--haproxy-bin")
      o.haproxy_bin = need("a path");
    else if (a == "--cli")
      o.cli = need("an address");
    else if (a == "--io") {
      o.io = need("auto, epoll or io_uring");
      if (o.io != "auto" && o.io != "epoll" && o.io != "io_uring") usage(argv[0], 1);
    } else if (a == "-h" || a == "--help")
      usage(argv[0], 0);
    else if (a == "-sf" || a == "-st") {
      auto& v = a == "-sf" ? o.soft_pids : o.hard_pids;
      while (i + 1 < argc && argv[i + 1][0] != '-')
        v.push_back(static_cast<pid_t>(std::atoi(argv[++i])));
    } else if (a == "--") {
      while (i + 1 < argc) o.files.push_back(argv[++i]);
    } else if (herd::membership::is_membership_flag(a)) {
      std::vector<std::string> rest(argv + i, argv + argc);
      herd::membership::MembershipSettings scratch;
      std::vector<std::string> errors;
      int n = herd::membership::consume_flag(rest, 0, scratch, errors);
      if (n <= 0) n = 1;
      for (int k = 0; k < n && i + k < argc; ++k) o.membership_flags.push_back(argv[i + k]);
      i += n - 1;
    } else if (!a.empty() && a[0] == '-') {
      std::fprintf(stderr, "[ALERT]    (%d) : unknown option '%s'\n", getpid(), a.c_str());
      usage(argv[0], 1);
    } else {
      o.positional.push_back(a);
    }
  }
  return o;
}

// Master-worker mode (app/master.h): a worker runs this command line again
// without what concerns the master (-W, -Ws, -D, -p, -sf, -st, -x) and with
// -db and the workers' private stats socket; a configuration check, with -c.
herd::app::MasterOptions master_options(int argc, char** argv, const Options& o,
                                        const herd::config::Global& g) {
  herd::app::MasterOptions m;
  char self[4096];
  ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
  m.self = n > 0 ? std::string(self, static_cast<size_t>(n)) : argv[0];
  std::vector<std::string> common;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "-W" || a == "-Ws" || a == "-D" || a == "-db") continue;
    if (a == "-p" || a == "-x" || a == "-S") {
      ++i;
      continue;
    }
    if (a == "-sf" || a == "-st") {
      while (i + 1 < argc && argv[i + 1][0] != '-') ++i;
      continue;
    }
    common.push_back(a);
  }
  const char* tmp = std::getenv("TMPDIR");
  m.socket = std::string(tmp && *tmp ? tmp : "/tmp") + "/herd-master-" +
             std::to_string(::getpid()) + ".sock";
  m.worker_args = common;
  m.worker_args.insert(m.worker_args.end(), {"-db", "--master-socket", m.socket});
  m.check_args = common;
  m.check_args.insert(m.check_args.end(), {"-c", "-q"});
  m.pidfile = o.pidfile.empty() ? g.pidfile : o.pidfile;
  m.systemd = o.systemd;
  m.daemon = (o.daemon || g.daemon) && !o.foreground;
  m.exit_on_failure = g.master_exit_on_failure;
  m.quiet = o.quiet;
  m.cli = o.master_cli;
  m.version = herd::stats::kHerdVersion;  // what the workers' `show version` says
  return m;
}

// The I/O backend asked for: --io, else $HERD_IO, else "auto".
std::string requested_io(const std::string& io_flag) {
  if (!io_flag.empty()) return io_flag;
  const char* env = std::getenv("HERD_IO");
  return env && *env ? env : "auto";
}

void print_version(int level, const std::string& io_flag) {
  std::printf("herd version %s - an HAProxy-compatible load balancer with Serf membership\n",
              kVersion);
  std::printf("Compatible with: HAProxy 2.6 configuration and runtime API, Serf 0.8.x gossip\n");
  if (level < 2) return;
  std::printf("\nBuild options :\n");
  std::printf("  Compiler: g++ %s, C++ standard %ld\n", __VERSION__,
              static_cast<long>(__cplusplus));
  std::printf("  Boost: %d.%d.%d (Asio, Beast)\n", BOOST_VERSION / 100000,
              BOOST_VERSION / 100 % 1000, BOOST_VERSION % 100);
  std::printf("  liburing: linked (Asio's io_uring backend)\n");
  std::printf("  OpenSSL: %s; TLS records: %s\n", herd::tls::library_version(),
              herd::tls::offload_mode().c_str());
  // Both backends are compiled in; --io / $HERD_IO choose (auto: io_uring when usable).
  std::string why = herd::proxy::io_uring_unavailable();
  std::printf("\nAvailable polling systems :\n");
  std::printf("   io_uring : pref=400,  test result %s\n",
              why.empty() ? "OK" : ("FAILED (" + why + ")").c_str());
  std::printf("      epoll : pref=300,  test result OK\n");
  const std::string want = requested_io(io_flag);
  std::printf("Total: 2 (%d usable), will use %s.\n", why.empty() ? 2 : 1,
              want == "epoll"      ? "epoll"
              : why.empty()        ? "io_uring"
              : want == "io_uring" ? "none (io_uring required)"
                                   : "epoll");
  std::printf("\nDefault settings :\n  bufsize = 16384, maxhdr = 101\n");
}

// Written whole under a temporary name and renamed: whoever reads the file
// (a reload script, a test that saw the listener) never finds it empty.
void write_pidfile(const std::string& path) {
  if (path.empty()) return;
  const std::string tmp = path + "." + std::to_string(getpid()) + ".tmp";
  {
    std::ofstream f(tmp, std::ios::trunc);
    f << getpid() << "\n";
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    std::ofstream f(path, std::ios::trunc);  // e.g. a path whose directory we may not rename in
    f << getpid() << "\n";
  }
}

// `chroot`, then `group`/`gid` and `user`/`uid`, as haproxy 2.6 applies them
// once every listener and socket is bound: false (after an ALERT) when the
// process cannot, and it must not serve as root by mistake.
bool set_identity(const herd::config::Global& g) {
  using herd::app::LogSink;
  if (!g.chroot.empty() && (chroot(g.chroot.c_str()) == -1 || chdir("/") == -1)) {
    LogSink::stderr_line("ALERT", "[herd.main()] Cannot chroot(" + g.chroot + ").");
    return false;
  }
  if (g.gid != 0) {
    if (getgroups(0, nullptr) > 0 && setgroups(0, nullptr) == -1)
      LogSink::stderr_line("WARNING",
                           "[herd.main()] Failed to drop supplementary groups. Using 'gid'/'group' "
                           "without 'uid'/'user' is generally useless.");
    if (setgid(g.gid) == -1) {
      LogSink::stderr_line("ALERT", "[herd.main()] Cannot set gid " + std::to_string(g.gid) + ".");
      return false;
    }
  }
  if (g.uid != 0 && setuid(g.uid) == -1) {
    LogSink::stderr_line("ALERT", "[herd.main()] Cannot set uid " + std::to_string(g.uid) + ".");
    return false;
  }
  return true;
}

// The descriptor limit, as haproxy 2.6's main() sets it before binding:
// `ulimit-n <n>` exactly, else what `maxconn` needs (2 per connection, the
// listeners and a reserve; only ever raised). When setrlimit() fails it is
// fatal (`strict-limits`, the default); with `no strict-limits` the soft
// limit goes up to the hard one with a warning. Both say "Cannot raise FD limit to N, limit is M."
// as haproxy does. A global `maxconn` unset derives from the result.
bool set_fd_limit(const herd::config::Config& cfg) {
  using herd::app::LogSink;
  const auto& g = cfg.global;
  long want = g.ulimit_n;
  if (want <= 0 && g.maxconn > 0) {
    long binds = 0;
    for (const auto& p : cfg.proxies) binds += static_cast<long>(p.binds.size());
    want = 2L * g.maxconn + binds + static_cast<long>(g.stats_sockets.size()) + 10 +
           3L * std::max(1, g.nbthread);
  }
  if (want <= 0) return true;
  rlimit lim{};
  getrlimit(RLIMIT_NOFILE, &lim);
  if (g.ulimit_n <= 0 && lim.rlim_cur != RLIM_INFINITY && lim.rlim_cur >= static_cast<rlim_t>(want))
    return true;
  rlimit next{static_cast<rlim_t>(want), std::max(lim.rlim_max, static_cast<rlim_t>(want))};
  if (setrlimit(RLIMIT_NOFILE, &next) == 0) return true;
  getrlimit(RLIMIT_NOFILE, &lim);
  const std::string msg =
      "[herd.main()] Cannot raise FD limit to " + std::to_string(want) + ", limit is ";
  if (g.strict_limits) {
    LogSink::stderr_line("ALERT", msg + std::to_string(lim.rlim_cur) + ".");
    return false;
  }
  lim.rlim_cur = lim.rlim_max;
  if (setrlimit(RLIMIT_NOFILE, &lim) == 0) getrlimit(RLIMIT_NOFILE, &lim);
  LogSink::stderr_line("WARNING", msg + std::to_string(lim.rlim_cur) + ".");
  return true;
}

bool daemonize() {
  pid_t p = fork();
  if (p < 0) return false;
  if (p > 0) _exit(0);
  setsid();
  int fd = open("/dev/null", O_RDWR);
  if (fd >= 0) {
    dup2(fd, 0);
    dup2(fd, 1);
    dup2(fd, 2);
    if (fd > 2) close(fd);
  }
  return true;
}

// The proxy's I/O backend: --io, else $HERD_IO, else auto (io_uring where this
// process may set one up, epoll otherwise, with a notice saying why).
std::optional<herd::proxy::IoBackend> choose_io(const Options& opt) {
  using herd::app::LogSink;
  using herd::proxy::IoBackend;
  const std::string want = requested_io(opt.io);  // --io was checked by parse_args
  if (want != "auto" && want != "epoll" && want != "io_uring") {
    LogSink::stderr_line("ALERT", "HERD_IO: '" + want + "' is not auto, epoll or io_uring");
    return std::nullopt;
  }
  if (want == "epoll") return IoBackend::Epoll;
  std::string why = herd::proxy::io_uring_unavailable();
  if (why.empty()) return IoBackend::IoUring;
  if (want == "io_uring") {
    LogSink::stderr_line("ALERT",
                         "io_uring was required (--io io_uring) but this process cannot "
                         "set one up: " +
                             why);
    return std::nullopt;
  }
  if (!opt.quiet) LogSink::stderr_line("NOTICE", "io_uring unavailable (" + why + "); using epoll");
  return IoBackend::Epoll;
}

// --engine haproxy: herd's control plane drives a supervised haproxy (app/haproxy_engine.h).
int run_reference(const Options& opt, boost::asio::io_context& control, herd::balancing::Pool& pool,
                  herd::app::Wiring& wiring) {
  using namespace herd;
  std::vector<config::StatsSocket> cli;
  if (!opt.cli.empty()) {
    auto pr = config::parse_text("global\n    stats socket " + opt.cli + " level admin\n", "--cli");
    if (pr.fatal || pr.config.global.stats_sockets.empty()) {
      app::LogSink::stderr_line("ALERT", "--cli: invalid address '" + opt.cli + "'");
      return 1;
    }
    cli = pr.config.global.stats_sockets;
  }
  wiring.set_reference_mode(cli);
  app::ReferenceEngine::Options eo;
  eo.haproxy_bin = opt.haproxy_bin;
  eo.cfg_files = opt.files;
  eo.server_options = [&wiring](const std::string& be) { return wiring.pool_server_options(be); };
  app::Lifecycle lifecycle;  // app/lifecycle.h: driven on this (the control) thread
  eo.on_reload_done = [&lifecycle] { lifecycle.reloaded(); };
  eo.old_socket = opt.old_socket;
  eo.debug = opt.debug;
  app::ReferenceEngine ref(control, pool, eo);
  if (opt.daemon && !opt.foreground) {
    if (!daemonize()) return 1;
  }
  write_pidfile(opt.pidfile);
  if (!wiring.start()) return 1;
  std::string err = ref.start();
  if (!err.empty()) {
    app::LogSink::stderr_line("ALERT", err);
    wiring.stop();
    return 1;
  }
  // The old herd (-sf/-st) stops once this haproxy serves (it took the
  // listeners with -x, or bound its own beside them), or after 10 s.
  if (!opt.soft_pids.empty() || !opt.hard_pids.empty())
    for (auto end = std::chrono::steady_clock::now() + std::chrono::seconds(10);
         !ref.ready() && std::chrono::steady_clock::now() < end;)
      control.run_one_for(std::chrono::milliseconds(20));
  lifecycle.started();
  for (pid_t p : opt.soft_pids) kill(p, SIGUSR1);
  for (pid_t p : opt.hard_pids) kill(p, SIGTERM);
  if (!opt.quiet)
    app::LogSink::stderr_line(
        "NOTICE", std::string("herd ") + kVersion + " started in reference mode: supervising " +
                      opt.haproxy_bin + " (pid " + std::to_string(ref.pid()) + ")");
  // SIGUSR1, SIGTERM, SIGINT and SIGUSR2 go through the lifecycle
  // (app/lifecycle.h), whose actions are performed here.
  boost::asio::signal_set signals(control, SIGUSR1, SIGTERM, SIGINT);
  signals.add(SIGHUP);   // passed to haproxy's worker, which dumps its server states
  signals.add(SIGUSR2);  // haproxy's reload signal in master-worker mode: herd takes it
  std::function<void(app::Lifecycle::Action)> act = [&](app::Lifecycle::Action a) {
    using A = app::Lifecycle::Action;
    switch (a) {
      case A::None:
      case A::AbortSessions:  // haproxy applies its own hard-stop-after
        break;
      case A::Reload:
        ref.reload();  // on_reload_done: lifecycle.reloaded()
        break;
      case A::DrainAndLeave:
        // Soft stop: haproxy finishes its connections, then herd leaves.
        wiring.soft_stop();
        ref.stop(true, [&] {
          act(lifecycle.drained());
          wiring.leave_cluster([&] { act(lifecycle.left()); });
        });
        break;
      case A::Drain:
        // After SIGTERM: the leave under way stops haproxy and ends herd.
        wiring.soft_stop();
        break;
      case A::Leave:
        // Leave the cluster while haproxy still serves, then stop it.
        wiring.leave_cluster([&] { ref.stop(false, [&] { act(lifecycle.left()); }); });
        break;
      case A::StopNow:
        wiring.stop();
        control.stop();
        break;
    }
  };
  std::function<void()> wait_signal = [&] {
    signals.async_wait([&](boost::system::error_code ec, int sig) {
      if (ec) return;
      if (sig == SIGHUP) {
        if (ref.worker_pid() > 0) kill(ref.worker_pid(), SIGHUP);
      } else {
        act(lifecycle.signal(app::lifecycle_signal(sig)));
      }
      if (lifecycle.state() != app::Lifecycle::State::Stopped) wait_signal();
    });
  };
  wait_signal();
  control.run();
  if (!opt.pidfile.empty()) unlink(opt.pidfile.c_str());
  return 0;  // ~ReferenceEngine kills a haproxy still running
}

}  // namespace

namespace herd::app {
int agent_main(int argc, char** argv);    // app/agent_main.cpp
int members_main(int argc, char** argv);  // app/agent_main.cpp
}  // namespace herd::app

int main(int argc, char** argv) {
  using namespace herd;
  if (argc > 1 && std::strcmp(argv[1], "agent") == 0) return app::agent_main(argc - 1, argv + 1);
  if (argc > 1 && std::strcmp(argv[1], "members") == 0)
    return app::members_main(argc - 1, argv + 1);
  Options opt = parse_args(argc, argv);
  if (opt.verbose_version) {
    print_version(opt.verbose_version, opt.io);
    return 0;
  }
  int pid = static_cast<int>(getpid());

  // Configuration: files, or the quick start form `herd 80 h1:3000 h2:3000`.
  config::ParseResult pr;
  if (opt.files.empty() && !opt.positional.empty()) {
    int port = std::atoi(opt.positional[0].c_str());
    if (port <= 0 || port > 65535 || opt.positional.size() < 2) usage(argv[0], 1);
    std::vector<std::string> servers(opt.positional.begin() + 1, opt.positional.end());
    std::string text = config::quickstart_config(static_cast<uint16_t>(port), servers);
    if (opt.print_config) {
      std::fputs(text.c_str(), stdout);
      return 0;
    }
    pr = config::parse_text(text, "<quickstart>");
  } else if (!opt.files.empty()) {
    pr = config::parse_paths(opt.files);
  } else {
    usage(argv[0], 1);
  }
  tls::prepare(pr);  // certificates load now, so that -c reports them as haproxy does
  if (opt.check) {
    if (!pr.diags.empty()) {
      std::fprintf(stderr, "[NOTICE]   (%d) : herd version is %s\n", pid, kVersion);
      std::fprintf(stderr, "[NOTICE]   (%d) : path to executable is %s\n", pid, argv[0]);
    }
    return config::write_check_report(pr, pid, opt.quiet, std::cout, std::cerr);
  }
  for (const auto& d : pr.diags) std::cerr << config::format_diagnostic(d, pid) << "\n";
  if (pr.fatal) return 1;
  if (opt.print_config) {
    for (const auto& f : opt.files) {
      std::ifstream in(f);
      std::cout << in.rdbuf();
    }
    return 0;
  }
  if (!pr.has_listener) {
    std::fprintf(stderr,
                 "[ALERT]    (%d) : config : Configuration file has no error but will not start "
                 "(no listener) => exit(2).\n",
                 pid);
    return 2;
  }
  config::Config& cfg = pr.config;
  if (opt.engine == "native" && opt.master_socket.empty() && !set_fd_limit(cfg)) return 1;
  if (opt.engine == "native" && opt.master_socket.empty() &&
      (opt.master_worker || cfg.global.master_worker))
    return app::run_master(master_options(argc, argv, opt, cfg.global));
  if (!opt.master_cli.empty() && opt.master_socket.empty())
    std::fprintf(stderr,
                 "[WARNING]  (%d) : config : a master CLI socket was defined, but master-worker "
                 "mode (-W) is not enabled.\n",
                 pid);
  if (!opt.master_socket.empty()) {
    // A worker of a master: its successor takes the sockets over this one.
    config::StatsSocket s;
    s.path = opt.master_socket;
    s.mode = 0600;
    s.level = config::StatsSocket::Level::Admin;
    s.expose_fd_listeners = true;
    // And this worker's own, `<socket>.<pid>`: the master CLI's `@!<pid>`
    // reaches it there, also once a reload replaced it (kept open while it
    // finishes its connections: Wiring::keep_cli_socket()).
    config::StatsSocket own = s;
    own.path = app::worker_cli_path(opt.master_socket, getpid());
    own.expose_fd_listeners = false;
    cfg.global.stats_sockets.insert(cfg.global.stats_sockets.begin(), {s, own});  // bound first
  }

  unsigned nthreads = cfg.global.nbthread > 0 ? static_cast<unsigned>(cfg.global.nbthread)
                                              : std::max(1u, std::thread::hardware_concurrency());
  cfg.global.nbthread = static_cast<int>(nthreads);
  balancing::set_thread_count(nthreads);
  balancing::set_current_thread_slot(balancing::control_slot());

  signal(SIGPIPE, SIG_IGN);
  boost::asio::io_context control(1);
  balancing::Pool pool;
  balancing::ProcessLive process;
  app::LogSink sink(cfg);
  balancing::PoolWriter writer(pool, cfg);
  // `load-server-state-from-file`: the states `show servers state` saved
  // before a reload, applied before anything serves or checks (in reference
  // mode too: the supervised haproxy loads the same file, and the engine
  // takes this pool as what a fresh haproxy has).
  for (const auto& w : stats::load_server_states(cfg, writer))
    app::LogSink::stderr_line("WARNING", w);

  app::Wiring wiring(control, cfg, pool, writer, process, sink, opt.membership,
                     opt.membership_flags);
  if (!opt.master_socket.empty())
    wiring.keep_cli_socket(app::worker_cli_path(opt.master_socket, getpid()));
  if (opt.engine == "haproxy") {
    process.poller = "haproxy";  // the data plane is the supervised haproxy's
    return run_reference(opt, control, pool, wiring);
  }
  auto io = choose_io(opt);
  if (!io) return 1;
  process.poller = proxy::to_string(*io);
  if (opt.debug) proxy::debug::enable();
  proxy::Engine engine(cfg, pool, process, wiring.proxy_hooks(), *io);
  // A server that gains capacity takes queued requests at once; the
  // subscription ends before the engine does.
  struct EngineEvents {
    balancing::PoolWriter& w;
    int id;
    ~EngineEvents() { w.unsubscribe(id); }
  } engine_events{writer, writer.subscribe([&engine](const std::vector<balancing::PoolChange>& c) {
                    engine.on_pool_changes(c);
                  })};
  // -x: the old process's listening sockets (and member state), as
  // `haproxy -x`; failing to get them is fatal, as there.
  app::InheritedSockets inherited;
  if (!opt.old_socket.empty() && opt.old_socket != "/dev/null") {
    std::vector<int> fds;
    std::string err = app::receive_sockets(opt.old_socket, &fds);
    if (!err.empty()) {
      // Once more on a new connection (an old process too busy to answer
      // within its second, seen on a loaded machine), after a warning.
      app::LogSink::stderr_line("WARNING", err + "; trying again");
      for (int fd : fds) ::close(fd);
      fds.clear();
      err = app::receive_sockets(opt.old_socket, &fds);
    }
    std::string state;
    if (err.empty() && (!opt.membership.empty() || !opt.membership_flags.empty()))
      err = app::receive_state(opt.old_socket, &state);
    inherited.add(fds);
    if (!err.empty()) {
      app::LogSink::stderr_line("WARNING", err);
      app::LogSink::stderr_line("ALERT", "Failed to get the sockets from the old process!");
      return 1;
    }
    wiring.inherit(&inherited, std::move(state));
  }
  try {
    engine.bind([&](const std::string& ip, uint16_t port) {
      return inherited.take_tcp_listener(ip, port);
    });
  } catch (const std::exception& e) {
    app::LogSink::stderr_line("ALERT", e.what());
    return 1;
  }
  app::Lifecycle lifecycle;  // app/lifecycle.h: driven on this (the control) thread
  std::function<void()> on_handed_over;
  wiring.expose([&engine] { return engine.listener_fds(); },
                [&engine, &on_handed_over] {
                  engine.set_handed_over();
                  if (on_handed_over) on_handed_over();
                });
  if (opt.daemon && !opt.foreground && (cfg.global.daemon || opt.daemon)) {
    if (!daemonize()) return 1;
  }
  if (opt.master_socket.empty())  // a master's workers leave the pid file to it
    write_pidfile(opt.pidfile.empty() ? cfg.global.pidfile : opt.pidfile);
  if (!wiring.start()) return 1;
  inherited.close_rest();  // sockets of binds this configuration dropped
  // A reload with membership: the pool gets the predecessor's members back
  // (one push/pull) before this process serves, or after 2 s whatever.
  for (auto end = std::chrono::steady_clock::now() + std::chrono::seconds(2);
       wiring.catching_up() && std::chrono::steady_clock::now() < end;)
    control.run_one_for(std::chrono::milliseconds(20));
  if (!set_identity(cfg.global)) return 1;
  engine.start();
  lifecycle.started();
  for (pid_t p : opt.soft_pids) kill(p, SIGUSR1);
  for (pid_t p : opt.hard_pids) kill(p, SIGTERM);
  if (!opt.quiet)
    app::LogSink::stderr_line("NOTICE", "herd " + std::string(kVersion) + " started: " +
                                            std::to_string(engine.threads()) + " thread(s), " +
                                            proxy::to_string(engine.io_backend()) + " backend");

  // SIGUSR2 is ignored, as by haproxy without master-worker mode (it would
  // end the process otherwise); SIGHUP dumps the server states. SIGUSR1,
  // SIGTERM and SIGINT go through the lifecycle (app/lifecycle.h), whose
  // actions are performed here.
  boost::asio::signal_set signals(control, SIGUSR1, SIGTERM, SIGINT);
  signals.add(SIGHUP);
  signals.add(SIGUSR2);
  std::thread stopper;
  boost::asio::steady_timer hard_stop_timer(control);
  std::function<void(app::Lifecycle::Action)> act;
  auto finish = [&] {
    hard_stop_timer.cancel();
    engine.hard_stop();
    wiring.stop();
    control.stop();
  };
  // The sockets went to a successor, which soft-stops this process next.
  on_handed_over = [&] {
    if (lifecycle.state() == app::Lifecycle::State::Serving)
      lifecycle.signal(app::Lifecycle::Signal::Reload);
  };
  auto begin_drain = [&](bool leave) {
    // Soft stop: listeners close now, in-flight requests finish.
    process.stopping = true;
    for (const auto& px : cfg.proxies) {
      if (!px.has_frontend()) continue;
      auto* fl = process.frontend(px.name);
      if (fl) fl->stopped = true;
      uint64_t fe = fl ? fl->counters.sum(balancing::Counter::Connections) : 0;
      app::LogSink::stderr_line("WARNING", "Proxy " + px.name + " stopped (cumulated conns: FE: " +
                                               std::to_string(fe) + ", BE: 0).");
    }
    engine.soft_stop();
    wiring.soft_stop();
    // The drain and the gossip leave run side by side: the balancer is
    // not a server of anyone's pool, and its listeners are closed. (A leave
    // begun by SIGTERM ends the process by itself.)
    if (leave) wiring.leave_cluster([&] { act(lifecycle.left()); });
    stopper = std::thread([&] {
      engine.join();
      boost::asio::post(control, [&] { act(lifecycle.drained()); });
    });
    if (cfg.global.hard_stop_after_ms > 0) {
      // `hard-stop-after`: what is still running then is cut short, in
      // HAProxy's words; the gossip leave is not waited for any more.
      hard_stop_timer.expires_after(std::chrono::milliseconds(cfg.global.hard_stop_after_ms));
      hard_stop_timer.async_wait([&](boost::system::error_code tec) {
        if (tec) return;
        app::LogSink::stderr_line("WARNING",
                                  "soft-stop running for too long, performing a hard-stop.");
        for (const auto& px : cfg.proxies) {
          auto* fl = px.has_frontend() ? process.frontend(px.name) : nullptr;
          int64_t conns = fl ? fl->sessions.get() : 0;
          if (conns > 0)
            app::LogSink::stderr_line("WARNING", "Proxy " + px.name + " hard-stopped (" +
                                                     std::to_string(conns) +
                                                     " remaining conns will be closed).");
        }
        act(lifecycle.hard_stop_expired());
      });
    }
  };
  act = [&](app::Lifecycle::Action a) {
    using A = app::Lifecycle::Action;
    switch (a) {
      case A::None:
      case A::Reload:  // a native process reloads through a successor (-sf, -x)
        break;
      case A::DrainAndLeave:
      case A::Drain:
        begin_drain(a == A::DrainAndLeave);
        break;
      case A::Leave:
        // Leave the gossip cluster gracefully (traffic is still served
        // meanwhile), then stop; a second SIGTERM stops at once.
        wiring.leave_cluster([&] { act(lifecycle.left()); });
        break;
      case A::AbortSessions:
        engine.abort_sessions();  // the workers exit within 500 ms: drained()
        break;
      case A::StopNow:
        finish();
        break;
    }
  };
  std::function<void()> wait_signal = [&] {
    signals.async_wait([&](boost::system::error_code ec, int sig) {
      if (ec) return;
      if (sig == SIGHUP) {
        app::LogSink::stderr_line("WARNING", "SIGHUP received, dumping servers states.");
        for (const auto& line : wiring.state_dump_lines())
          app::LogSink::stderr_line("WARNING", line);
      } else if (sig != SIGUSR2) {
        act(lifecycle.signal(app::lifecycle_signal(sig)));
      }
      if (lifecycle.state() != app::Lifecycle::State::Stopped) wait_signal();
    });
  };
  wait_signal();
  control.run();
  engine.hard_stop();
  if (stopper.joinable()) stopper.join();  // it joins the engine: never two joins at once
  engine.join();
  if (!opt.pidfile.empty()) unlink(opt.pidfile.c_str());
  return 0;
}
