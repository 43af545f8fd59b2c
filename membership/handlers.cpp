// membership/handlers.cpp — Serf-compatible event handler scripts.
#include "membership/handlers.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <spdlog/spdlog.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

extern char** environ;

namespace herd::membership {
namespace {

constexpr std::size_t kMaxOutput = 8 * 1024;  // serf keeps the last 8 KiB (circbuf)
constexpr auto kWarnSlow = std::chrono::seconds(1);

// serf's eventClean.
std::string clean(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\t')
      out += "\\t";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

std::string payload_stdin(const std::string& payload) {
  std::string out = payload;
  if (!out.empty() && out.back() != '\n') out += '\n';
  return out;
}

std::string tag_value(const MemberInfo& m, const std::string& k) {
  auto it = m.tags.find(k);
  return it == m.tags.end() ? std::string() : it->second;
}

}  // namespace

bool EventFilter::valid() const {
  return event == "member-join" || event == "member-leave" || event == "member-failed" ||
         event == "member-update" || event == "member-reap" || event == "user" ||
         event == "query" || event == "*";
}

bool EventFilter::matches(const MemberEvent& ev) const {
  if (event == "*") return true;
  if (event != to_string(ev.type)) return false;
  if ((event == "user" || event == "query") && !name.empty() && name != ev.user_name) return false;
  return true;
}

std::vector<EventFilter> parse_event_filter(std::string_view text) {
  if (text.empty()) text = "*";
  std::vector<EventFilter> out;
  std::size_t start = 0;
  while (true) {
    std::size_t comma = text.find(',', start);
    std::string_view part = text.substr(
        start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
    EventFilter f;
    if (part.starts_with("user:")) {
      f.event = "user";
      f.name = std::string(part.substr(5));
    } else if (part.starts_with("query:")) {
      f.event = "query";
      f.name = std::string(part.substr(6));
    } else {
      f.event = std::string(part);
    }
    out.push_back(std::move(f));
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return out;
}

bool HandlerSpec::matches(const MemberEvent& ev) const {
  for (const auto& f : filters)
    if (f.matches(ev)) return true;
  return false;
}

std::optional<HandlerSpec> parse_handler(std::string_view text, std::string* error) {
  HandlerSpec h;
  auto eq = text.find('=');
  std::string_view filter;
  if (eq == std::string_view::npos) {
    h.script = std::string(text);
  } else {
    filter = text.substr(0, eq);
    h.script = std::string(text.substr(eq + 1));
  }
  h.filters = parse_event_filter(filter);
  for (const auto& f : h.filters) {
    if (!f.valid()) {
      if (error) *error = "invalid event filter '" + f.event + "' in '" + std::string(text) + "'";
      return std::nullopt;
    }
  }
  if (h.script.empty()) {
    if (error) *error = "empty script in '" + std::string(text) + "'";
    return std::nullopt;
  }
  return h;
}

std::vector<HandlerSpec> parse_handlers(const std::vector<std::string>& texts,
                                        std::vector<std::string>& errors) {
  std::vector<HandlerSpec> specs;
  for (const auto& h : texts) {
    std::string err;
    auto spec = parse_handler(h, &err);
    if (!spec)
      errors.push_back("event handler '" + h + "': " + err);
    else
      specs.push_back(std::move(*spec));
  }
  return specs;
}

std::string tag_env_name(std::string_view tag) {
  std::string out = "SERF_TAG_";
  for (std::size_t i = 0; i < tag.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(tag[i]);
    if (c >= 0x80) {
      // One '_' per UTF-8 character, as Go's regexp replaces runes.
      while (i + 1 < tag.size() && (static_cast<unsigned char>(tag[i + 1]) & 0xC0) == 0x80) ++i;
      out += '_';
      continue;
    }
    char u = static_cast<char>(c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c);
    bool ok = (u >= 'A' && u <= 'Z') || (u >= '0' && u <= '9') || u == '_';
    out += ok ? u : '_';
  }
  return out;
}

std::string member_event_stdin(const std::vector<MemberInfo>& members) {
  std::string out;
  for (const auto& m : members) {
    std::string tags;
    for (const auto& [k, v] : m.tags) {
      if (!tags.empty()) tags += ',';
      tags += k + "=" + v;
    }
    out += clean(m.name) + "\t" + m.addr + "\t" + clean(tag_value(m, "role")) + "\t" + clean(tags) +
           "\n";
  }
  return out;
}

Invocation build_invocation(const std::string& script, const MemberInfo& self,
                            const MemberEvent& ev) {
  Invocation inv;
  inv.script = script;
  inv.event = to_string(ev.type);
  inv.env_extra.push_back("SERF_EVENT=" + inv.event);
  inv.env_extra.push_back("SERF_SELF_NAME=" + self.name);
  inv.env_extra.push_back("SERF_SELF_ROLE=" + tag_value(self, "role"));
  for (const auto& [k, v] : self.tags) inv.env_extra.push_back(tag_env_name(k) + "=" + v);
  if (ev.is_member_event()) {
    inv.stdin_data = member_event_stdin(ev.members);
  } else if (ev.type == MemberEvent::Type::User) {
    inv.env_extra.push_back("SERF_USER_EVENT=" + ev.user_name);
    inv.env_extra.push_back("SERF_USER_LTIME=" + std::to_string(ev.ltime));
    inv.stdin_data = payload_stdin(ev.payload);
  } else {
    inv.env_extra.push_back("SERF_QUERY_NAME=" + ev.user_name);
    inv.env_extra.push_back("SERF_QUERY_LTIME=" + std::to_string(ev.ltime));
    inv.stdin_data = payload_stdin(ev.payload);
    inv.is_query = true;
    inv.query_id = ev.query_id;
  }
  return inv;
}

InvocationResult Handlers::run(const Invocation& inv) {
  InvocationResult res;
  res.script = inv.script;
  res.event = inv.event;
  res.query_id = inv.query_id;
  res.is_query = inv.is_query;

  // Environment: ours, minus the keys we set, plus ours (later wins in Go).
  std::vector<std::string> env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string_view kv(*e);
    std::string_view key = kv.substr(0, kv.find('='));
    bool overridden = false;
    for (const auto& x : inv.env_extra)
      if (std::string_view(x).substr(0, x.find('=')) == key) overridden = true;
    if (!overridden) env.emplace_back(kv);
  }
  for (const auto& x : inv.env_extra) env.push_back(x);
  std::vector<char*> envp;
  for (auto& s : env) envp.push_back(s.data());
  envp.push_back(nullptr);

  int in_pipe[2] = {-1, -1}, out_pipe[2] = {-1, -1};
  if (pipe2(in_pipe, O_CLOEXEC) != 0 || pipe2(out_pipe, O_CLOEXEC) != 0) {
    for (int fd : {in_pipe[0], in_pipe[1], out_pipe[0], out_pipe[1]})
      if (fd >= 0) close(fd);
    res.output = std::string("pipe: ") + std::strerror(errno);
    return res;
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in_pipe[0], 0);
  posix_spawn_file_actions_adddup2(&fa, out_pipe[1], 1);
  posix_spawn_file_actions_adddup2(&fa, out_pipe[1], 2);
  posix_spawn_file_actions_addclosefrom_np(&fa, 3);  // no listening sockets in scripts
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t empty, defaults;
  sigemptyset(&empty);
  sigemptyset(&defaults);
  for (int sig : {SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGCHLD})
    sigaddset(&defaults, sig);
  posix_spawnattr_setsigmask(&attr, &empty);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  std::string sh = "/bin/sh", dash_c = "-c", script = inv.script;
  char* argv[] = {sh.data(), dash_c.data(), script.data(), nullptr};
  pid_t pid = -1;
  int rc = posix_spawn(&pid, "/bin/sh", &fa, &attr, argv, envp.data());
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  close(in_pipe[0]);
  close(out_pipe[1]);
  if (rc != 0) {
    close(in_pipe[1]);
    close(out_pipe[0]);
    res.output = std::string("spawn: ") + std::strerror(rc);
    return res;
  }

  // Feed stdin and collect output without blocking on either. SIGPIPE is
  // blocked on this thread meanwhile: a script that does not read its stdin
  // must not kill herd.
  sigset_t pipe_set, old_mask;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_set, &old_mask);
  fcntl(in_pipe[1], F_SETFL, fcntl(in_pipe[1], F_GETFL) | O_NONBLOCK);
  fcntl(out_pipe[0], F_SETFL, fcntl(out_pipe[0], F_GETFL) | O_NONBLOCK);
  int in_fd = in_pipe[1], out_fd = out_pipe[0];
  std::size_t written = 0;
  if (inv.stdin_data.empty()) {
    close(in_fd);
    in_fd = -1;
  }
  auto start = std::chrono::steady_clock::now();
  std::optional<std::chrono::steady_clock::time_point> exited_at;
  bool warned = false;
  int status = 0;
  std::string output;
  while (true) {
    pollfd fds[2];
    nfds_t n = 0;
    if (out_fd >= 0) fds[n++] = {out_fd, POLLIN, 0};
    if (in_fd >= 0) fds[n++] = {in_fd, POLLOUT, 0};
    if (n > 0) poll(fds, n, 50);
    if (in_fd >= 0) {
      ssize_t w = write(in_fd, inv.stdin_data.data() + written, inv.stdin_data.size() - written);
      if (w > 0) written += static_cast<std::size_t>(w);
      if (written == inv.stdin_data.size() || (w < 0 && errno != EAGAIN && errno != EINTR)) {
        close(in_fd);  // EPIPE: the script does not read its stdin (SIGPIPE is blocked here)
        in_fd = -1;
      }
    }
    if (out_fd >= 0) {
      char buf[4096];
      while (true) {
        ssize_t r = read(out_fd, buf, sizeof buf);
        if (r > 0) {
          output.append(buf, static_cast<std::size_t>(r));
          if (output.size() > kMaxOutput) output.erase(0, output.size() - kMaxOutput);
          continue;
        }
        if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
          close(out_fd);
          out_fd = -1;
        }
        break;
      }
    }
    auto now = std::chrono::steady_clock::now();
    if (!exited_at && waitpid(pid, &status, WNOHANG) == pid) exited_at = now;
    // Like Go's Wait: wait for the output to close, but do not hang on a
    // background process that inherited it.
    if (exited_at && (out_fd < 0 || now - *exited_at > std::chrono::milliseconds(500))) break;
    if (!warned && now - start > kWarnSlow) {
      warned = true;
      spdlog::warn("membership: script '{}' slow, execution exceeding {}s", inv.script,
                   std::chrono::duration_cast<std::chrono::seconds>(kWarnSlow).count());
    }
  }
  if (in_fd >= 0) close(in_fd);
  if (out_fd >= 0) close(out_fd);
  // A SIGPIPE raised by writing to a closed stdin is pending on this thread: consume it.
  timespec zero{};
  while (sigtimedwait(&pipe_set, nullptr, &zero) == SIGPIPE) {
  }
  pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
  res.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  res.output = std::move(output);
  return res;
}

Handlers::Handlers(std::vector<HandlerSpec> specs, Done done)
    : specs_(std::move(specs)), done_(std::move(done)) {
  if (!specs_.empty()) thread_ = std::thread([this] { worker(); });
}

Handlers::~Handlers() {
  {
    std::lock_guard lk(mu_);
    stop_ = true;
    queue_.clear();
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

int Handlers::dispatch(const MemberEvent& ev, const MemberInfo& self) {
  int n = 0;
  {
    std::lock_guard lk(mu_);
    for (const auto& h : specs_) {
      if (!h.matches(ev)) continue;
      queue_.push_back(build_invocation(h.script, self, ev));
      ++n;
    }
  }
  if (n > 0) cv_.notify_all();
  return n;
}

void Handlers::wait_idle() {
  std::unique_lock lk(mu_);
  cv_.wait(lk, [&] { return stop_ || (queue_.empty() && !busy_); });
}

void Handlers::worker() {
  std::unique_lock lk(mu_);
  while (true) {
    cv_.wait(lk, [&] { return stop_ || !queue_.empty(); });
    if (stop_) return;
    Invocation inv = std::move(queue_.front());
    queue_.pop_front();
    busy_ = true;
    lk.unlock();
    InvocationResult r = run(inv);
    if (r.exit_code != 0)
      spdlog::error("membership: error invoking script '{}' for event '{}': {}", r.script, r.event,
                    r.exit_code < 0 ? std::string("killed or not started")
                                    : "exit status " + std::to_string(r.exit_code));
    if (!r.output.empty())
      spdlog::info("membership: event '{}' script '{}' output: {}", r.event, r.script, r.output);
    if (done_) done_(r);
    lk.lock();
    busy_ = false;
    if (queue_.empty()) cv_.notify_all();
  }
}

}  // namespace herd::membership
