// app/haproxy_engine.cpp — see haproxy_engine.h.
#include "app/haproxy_engine.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "app/logsink.h"

namespace herd::app {

namespace {

using stream = boost::asio::local::stream_protocol;

const char* state_word(int s) { return s == 0 ? "ready" : s == 1 ? "drain" : "maint"; }

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ' || s.back() == '>'))
    s.pop_back();
  size_t i = 0;
  while (i < s.size() && (s[i] == '\n' || s[i] == ' ')) ++i;
  return s.substr(i);
}

bool has_token(const std::string& text, const std::string& tok) {
  std::istringstream in(text);
  std::string w;
  while (in >> w)
    if (w == tok) return true;
  return false;
}

void note(const std::string& msg) { LogSink::stderr_line("NOTICE", "haproxy engine: " + msg); }
void warn(const std::string& msg) { LogSink::stderr_line("WARNING", "haproxy engine: " + msg); }

}  // namespace

ReferenceEngine::ReferenceEngine(boost::asio::io_context& control, balancing::Pool& pool,
                                 Options opts)
    : control_(control), pool_(pool), opts_(std::move(opts)), tick_(control) {
  // The pool as the configuration built it: what a fresh haproxy has.
  auto snap = pool_.current();
  for (const auto& be : snap->backends)
    for (const auto& s : be->servers) {
      if (s->origin != balancing::Origin::Config) continue;
      Want w;
      w.ip = s->addr.ip;
      w.port = s->addr.port;
      w.state = s->in_maint() ? State::Maint : State::Ready;
      w.weight = w.initial_weight = s->initial_weight;
      w.config = true;
      baseline_[{be->name, s->name}] = w;
    }
  pool_.on_publish([this, alive = alive_](const balancing::PoolSnapshot&) {
    if (!*alive) return;
    dirty_ = true;
    if (!busy_ && queue_.empty()) reconcile();
  });
}

ReferenceEngine::~ReferenceEngine() {
  *alive_ = false;
  tick_.cancel();
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  if (!dir_.empty()) {
    unlink(admin_cfg_.c_str());
    unlink(sock_path_.c_str());
    rmdir(dir_.c_str());
  }
}

std::string ReferenceEngine::start() {
  char tmpl[] = "/tmp/herd-haproxy-XXXXXX";
  if (!mkdtemp(tmpl)) return "haproxy engine: cannot create a temporary directory";
  dir_ = tmpl;
  sock_path_ = dir_ + "/admin.sock";
  admin_cfg_ = dir_ + "/herd-admin.cfg";
  {
    std::ofstream f(admin_cfg_, std::ios::trunc);
    f << "# written by herd --engine haproxy: herd's own admin socket\n"
      << "global\n"
      << "    stats socket " << sock_path_ << " mode 600 level admin\n";
    if (!f) return "haproxy engine: cannot write " + admin_cfg_;
  }
  if (access(opts_.haproxy_bin.c_str(), X_OK) != 0 &&
      opts_.haproxy_bin.find('/') != std::string::npos)
    return "haproxy engine: " + opts_.haproxy_bin + " is not executable";
  spawn();
  if (pid_ <= 0) return "haproxy engine: cannot start " + opts_.haproxy_bin;
  arm_tick();
  return "";
}

void ReferenceEngine::reload() {
  if (stopping_ || pid_ <= 0) return;
  note("reloading haproxy: SIGUSR2 to its master (pid " + std::to_string(pid_) + "), worker pid " +
       std::to_string(worker_));
  kill(pid_, SIGUSR2);
  reload_until_ = std::chrono::steady_clock::now() + std::chrono::seconds(15);
}

void ReferenceEngine::reload_done() {
  if (reload_until_ == std::chrono::steady_clock::time_point{}) return;
  reload_until_ = {};
  if (opts_.on_reload_done) opts_.on_reload_done();
}

void ReferenceEngine::spawn() {
  // Master-worker (-W) in the foreground (-db): herd supervises the master,
  // which re-executes itself and starts a new worker on SIGUSR2.
  std::vector<std::string> args{opts_.haproxy_bin, "-W", opts_.debug ? "-d" : "-db"};
  for (const auto& f : opts_.cfg_files) {
    args.push_back("-f");
    args.push_back(f);
  }
  args.push_back("-f");
  args.push_back(admin_cfg_);
  if (!opts_.old_socket.empty() && opts_.old_socket != "/dev/null" && restarts_ == 0) {
    // herd was reloaded (-x): the first haproxy takes the listeners of the
    // old herd's haproxy; one started again after a crash binds its own.
    args.push_back("-x");
    args.push_back(opts_.old_socket);
  }
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t parent = getpid();
  pid_t p = fork();
  if (p == 0) {
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) _exit(1);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    signal(SIGPIPE, SIG_DFL);
    execvp(argv[0], argv.data());
    std::fprintf(stderr, "haproxy engine: cannot exec %s\n", argv[0]);
    _exit(127);
  }
  if (p < 0) {
    pid_ = -1;
    return;
  }
  pid_ = p;
  started_at_ = std::chrono::steady_clock::now();
  ++gen_;
  queue_.clear();
  busy_ = false;
  reachable_ = false;
  worker_ = -1;
  retired_.clear();
  reset_applied();
  dirty_ = true;
  note("started " + opts_.haproxy_bin + " (pid " + std::to_string(pid_) + ")");
}

void ReferenceEngine::reset_applied() {
  applied_.clear();
  for (const auto& [k, w] : baseline_) {
    Have h;
    h.ip = w.ip;
    h.port = w.port;
    h.state = w.state;
    h.weight = w.weight;
    h.config = true;
    applied_[k] = h;
  }
}

void ReferenceEngine::arm_tick() {
  tick_.expires_after(opts_.tick);
  tick_.async_wait([this, alive = alive_](boost::system::error_code ec) {
    if (ec || !*alive) return;
    on_tick();
  });
}

void ReferenceEngine::on_tick() {
  auto now = std::chrono::steady_clock::now();
  if (pid_ > 0) {
    int st = 0;
    if (waitpid(pid_, &st, WNOHANG) == pid_) child_exited(st);
  }
  if (stopping_) {
    if (pid_ <= 0) {
      if (stop_done_) boost::asio::post(control_, std::exchange(stop_done_, nullptr));
      return;  // no more ticks
    }
    if (now >= stop_deadline_) {
      kill(pid_, SIGKILL);
      stop_deadline_ = now + std::chrono::hours(1);
    }
    arm_tick();
    return;
  }
  if (pid_ <= 0 && now >= next_start_) {
    ++restarts_;
    spawn();
  }
  if (pid_ > 0 && !busy_ && queue_.empty()) {
    bool removing = std::any_of(applied_.begin(), applied_.end(),
                                [](const auto& kv) { return kv.second.removing; });
    if (dirty_ || removing || !reachable_) {
      reconcile();
    } else {
      // Idle: ask which worker answers, so a reload (herd's or anyone's) is
      // seen; every tick while one herd asked for is pending.
      if (reload_until_ != std::chrono::steady_clock::time_point{} && now >= reload_until_)
        reload_done();  // no new worker in 15 s: the reload failed, the old one serves
      auto every = now < reload_until_ ? opts_.tick : std::chrono::milliseconds(1000);
      if (now - last_cmd_ >= every) enqueue("show info", [](const std::string&) {});
    }
  }
  arm_tick();
}

void ReferenceEngine::child_exited(int status) {
  std::string how = WIFSIGNALED(status)
                        ? "killed by signal " + std::to_string(WTERMSIG(status))
                        : "exited with status " + std::to_string(WEXITSTATUS(status));
  pid_t old = pid_;
  pid_ = -1;
  ++gen_;
  queue_.clear();
  busy_ = false;
  reachable_ = false;
  worker_ = -1;
  retired_.clear();
  if (stopping_) {
    note("haproxy (pid " + std::to_string(old) + ") " + how);
    return;
  }
  auto now = std::chrono::steady_clock::now();
  if (now - started_at_ > std::chrono::seconds(10)) failures_ = 0;
  auto delay = std::chrono::milliseconds(200) * (1 << std::min(failures_, 6));
  delay = std::min<std::chrono::milliseconds>(delay, std::chrono::seconds(10));
  ++failures_;
  next_start_ = now + delay;
  warn("haproxy (pid " + std::to_string(old) + ") " + how + "; restarting in " +
       std::to_string(delay.count()) + " ms");
}

void ReferenceEngine::stop(bool soft, std::function<void()> done) {
  stopping_ = true;
  stop_done_ = std::move(done);
  queue_.clear();
  ++gen_;
  busy_ = false;
  if (pid_ > 0) {
    kill(pid_, soft ? SIGUSR1 : SIGTERM);
    stop_deadline_ = std::chrono::steady_clock::now() +
                     (soft ? std::chrono::hours(24 * 365) : std::chrono::seconds(3));
  }
  tick_.cancel();
  arm_tick();
}

std::string ReferenceEngine::options_for(const std::string& backend,
                                         const balancing::Server& s) const {
  std::string o = opts_.server_options ? opts_.server_options(backend) : "";
  if (!o.empty()) return o;
  o = "weight " + std::to_string(s.initial_weight);
  if (s.maxconn > 0) o += " maxconn " + std::to_string(s.maxconn);
  if (s.maxqueue > 0) o += " maxqueue " + std::to_string(s.maxqueue);
  if (s.backup) o += " backup";
  if (!s.cookie.empty()) o += " cookie " + s.cookie;
  if (s.check_enabled)
    o += " check rise " + std::to_string(s.rise) + " fall " + std::to_string(s.fall);
  return o;
}

std::map<ReferenceEngine::Key, ReferenceEngine::Want> ReferenceEngine::desired() const {
  std::map<Key, Want> out;
  auto snap = pool_.current();
  for (const auto& be : snap->backends)
    for (const auto& s : be->servers) {
      Want w;
      w.ip = s->addr.ip;
      w.port = s->addr.port;
      w.state = s->in_maint() ? State::Maint : s->draining() ? State::Drain : State::Ready;
      w.weight = s->weight;
      w.initial_weight = s->initial_weight;
      w.config = s->origin == balancing::Origin::Config;
      if (!w.config) {
        w.opts = options_for(be->name, *s);
        w.check = s->check_enabled || has_token(w.opts, "check");
      }
      out[{be->name, s->name}] = std::move(w);
    }
  return out;
}

void ReferenceEngine::reconcile() {
  if (stopping_ || pid_ <= 0 || busy_ || !queue_.empty()) return;
  if (!reachable_) {
    // Probe the socket first; the diff follows once haproxy answers.
    enqueue("show info", [this](const std::string&) {
      reachable_ = true;
      note("haproxy (master pid " + std::to_string(pid_) + ", worker pid " +
           std::to_string(worker_) + ") answers on " + sock_path_ + "; applying the pool");
      dirty_ = true;
    });
    return;
  }
  dirty_ = false;
  auto want = desired();
  bool any_removing = false;
  for (auto& [k, h] : applied_) {
    const std::string target = k.first + "/" + k.second;
    auto it = want.find(k);
    if (it == want.end()) {
      if (h.config) continue;  // a config server cannot be deleted from herd's pool anyway
      if (!h.removing) {
        h.removing = true;
        // Graceful leave drained it in herd first; anything else is a failure.
        State s = h.state == State::Drain ? State::Drain : State::Maint;
        note("server " + target + " left herd's pool: " + state_word(static_cast<int>(s)) +
             ", deleted once idle in haproxy");
        if (h.state != s)
          enqueue("set server " + target + " state " + state_word(static_cast<int>(s)),
                  [this, k, s](const std::string& r) {
                    auto a = applied_.find(k);
                    if (a != applied_.end() && trim(r).empty()) a->second.state = s;
                  });
      }
      any_removing = true;
      continue;
    }
    const Want& w = it->second;
    if (h.removing) {
      h.removing = false;  // came back before it was deleted
      note("server " + target + " is back in herd's pool");
    }
    if (w.ip != h.ip || w.port != h.port) {
      enqueue(
          "set server " + target + " addr " + w.ip + " port " + std::to_string(w.port),
          [this, k, w, target](const std::string& r) {
            auto a = applied_.find(k);
            if (a == applied_.end()) return;
            if (r.find("changed") != std::string::npos || r.find("no need") != std::string::npos) {
              a->second.ip = w.ip;
              a->second.port = w.port;
            } else {
              warn("set server " + target + " addr: " + trim(r));
            }
          });
    }
    if (w.weight != h.weight) {
      enqueue("set weight " + target + " " + std::to_string(w.weight),
              [this, k, w, target](const std::string& r) {
                auto a = applied_.find(k);
                if (a == applied_.end()) return;
                if (trim(r).empty())
                  a->second.weight = w.weight;
                else
                  warn("set weight " + target + ": " + trim(r));
              });
    }
    if (w.state != h.state) {
      enqueue("set server " + target + " state " + state_word(static_cast<int>(w.state)),
              [this, k, w, target](const std::string& r) {
                auto a = applied_.find(k);
                if (a == applied_.end()) return;
                if (trim(r).empty()) {
                  a->second.state = w.state;
                  note("server " + target + " is " + state_word(static_cast<int>(w.state)));
                } else {
                  warn("set server " + target + " state: " + trim(r));
                }
              });
    }
  }
  for (const auto& [k, w] : want) {
    if (applied_.count(k) || w.config) continue;
    const std::string target = k.first + "/" + k.second;
    std::string addr = w.ip.find(':') != std::string::npos ? "[" + w.ip + "]" : w.ip;
    enqueue("add server " + target + " " + addr + ":" + std::to_string(w.port) + " " + w.opts,
            [this, k, w, target](const std::string& r) {
              bool added = r.find("New server registered") != std::string::npos;
              bool exists = r.find("Already exists") != std::string::npos;
              if (!added && !exists) {
                warn("add server " + target + ": " + trim(r));
                return;
              }
              Have h;
              h.ip = added ? w.ip : "";
              h.port = w.port;
              h.state = State::Maint;  // dynamic servers start in MAINT
              h.weight = added ? w.initial_weight : -1;
              h.maint_sent = false;
              applied_[k] = h;
              dirty_ = true;  // the next pass sets weight and state
              if (added)
                note("server " + target + " added at " + w.ip + ":" + std::to_string(w.port));
              if (w.check)
                enqueue("enable health " + target, [target](const std::string& r2) {
                  if (!trim(r2).empty()) warn("enable health " + target + ": " + trim(r2));
                });
            });
  }
  if (any_removing)
    enqueue("show stat -1 4 -1", [this](const std::string& r) { poll_removals(r); });
}

void ReferenceEngine::poll_removals(const std::string& csv) {
  // # pxname,svname,qcur,qmax,scur,...
  std::map<Key, std::pair<long, long>> load;
  std::istringstream in(csv);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::vector<std::string> f;
    std::string cell;
    std::istringstream ls(line);
    while (std::getline(ls, cell, ',') && f.size() < 5) f.push_back(cell);
    if (f.size() < 5) continue;
    load[{f[0], f[1]}] = {std::atol(f[4].c_str()), std::atol(f[2].c_str())};
  }
  for (auto& [k, h] : applied_) {
    if (!h.removing) continue;
    auto it = load.find(k);
    const std::string target = k.first + "/" + k.second;
    if (it == load.end()) {  // already gone in haproxy
      note("server " + target + " no longer in haproxy");
      h.config = false;
      h.removing = false;
      h.weight = -2;  // marker: erase below
      continue;
    }
    if (it->second.first != 0 || it->second.second != 0) continue;
    if (!h.maint_sent) {
      h.maint_sent = true;
      enqueue("set server " + target + " state maint", [](const std::string&) {});
    }
    enqueue("del server " + target, [this, k, target](const std::string& r) {
      auto a = applied_.find(k);
      if (a == applied_.end()) return;
      if (r.find("Server deleted") != std::string::npos) {
        note("server " + target + " deleted from haproxy");
        applied_.erase(a);
      } else {
        a->second.maint_sent = false;  // retried on the next tick
        note("del server " + target + " (retrying): " + trim(r));
      }
    });
  }
  for (auto it = applied_.begin(); it != applied_.end();)
    it = it->second.weight == -2 && !it->second.removing ? applied_.erase(it) : std::next(it);
}

bool ReferenceEngine::same_worker(const std::string& reply, bool probe, std::string& rest) {
  // `show info` comes first: "Name: HAProxy\n...Pid: N\n...\n\n", then the command's reply.
  auto at = reply.find("\nPid: ");
  pid_t pid = at == std::string::npos ? -1 : std::atoi(reply.c_str() + at + 6);
  if (pid <= 0) return false;  // not haproxy's info: treated as not answering
  auto cut = reply.find("\n\n");
  rest = cut == std::string::npos ? std::string() : reply.substr(cut + 2);
  if (worker_ <= 0 || pid == worker_) {
    worker_ = pid;
    return true;
  }
  if (std::find(retired_.begin(), retired_.end(), pid) != retired_.end())
    return false;  // a replaced worker still answers on the socket: retried later
  note("haproxy worker changed (pid " + std::to_string(worker_) + " -> " + std::to_string(pid) +
       "): applying herd's pool to the new worker");
  retired_.push_back(worker_);
  if (retired_.size() > 16) retired_.erase(retired_.begin());
  worker_ = pid;
  reload_done();
  reset_applied();  // the new worker read the config: it has the config's servers only
  dirty_ = true;
  return probe;  // what another command did there is re-checked by the next pass
}

void ReferenceEngine::enqueue(std::string cmd, std::function<void(const std::string&)> done) {
  queue_.push_back(Job{std::move(cmd), std::move(done)});
  if (!busy_)
    boost::asio::post(control_, [this, alive = alive_] {
      if (*alive) run_next();
    });
}

void ReferenceEngine::run_next() {
  if (busy_ || stopping_) return;
  if (queue_.empty()) {
    if (dirty_ && reachable_) reconcile();
    return;
  }
  busy_ = true;
  auto job = std::make_shared<Job>(std::move(queue_.front()));
  queue_.pop_front();
  const uint64_t gen = gen_;
  auto sock = std::make_shared<stream::socket>(control_);
  auto timer = std::make_shared<boost::asio::steady_timer>(control_);
  auto reply = std::make_shared<std::string>();
  const bool probe = job->cmd == "show info";
  auto out = std::make_shared<std::string>(probe ? "show info\n" : "show info;" + job->cmd + "\n");
  auto alive = alive_;
  auto end = [this, alive, gen, job, timer, sock, reply, probe](bool reached) {
    if (!*alive) return;
    timer->cancel();
    boost::system::error_code ignored;
    sock->close(ignored);
    if (gen != gen_) return;  // haproxy restarted or engine stopping meanwhile
    busy_ = false;
    last_cmd_ = std::chrono::steady_clock::now();
    std::string rest;
    if (reached && same_worker(*reply, probe, rest)) {
      if (job->done) job->done(rest);
    } else {
      // Not answering (starting, dying): start over from the top next tick.
      queue_.clear();
      reachable_ = false;
      dirty_ = true;
      return;
    }
    run_next();
  };
  timer->expires_after(opts_.command_timeout);
  timer->async_wait([sock](boost::system::error_code ec) {
    if (ec) return;
    boost::system::error_code ignored;
    sock->cancel(ignored);
    sock->close(ignored);
  });
  sock->async_connect(
      stream::endpoint(sock_path_), [sock, out, reply, end](boost::system::error_code ec) {
        if (ec) return end(false);
        boost::asio::async_write(*sock, boost::asio::buffer(*out),
                                 [sock, reply, end](boost::system::error_code ec2, std::size_t) {
                                   if (ec2) return end(false);
                                   boost::asio::async_read(
                                       *sock, boost::asio::dynamic_buffer(*reply),
                                       [end](boost::system::error_code ec3, std::size_t) {
                                         end(ec3 == boost::asio::error::eof);
                                       });
                                 });
      });
}

}  // namespace herd::app
