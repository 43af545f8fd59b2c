// app/agent_main.cpp — the `herd agent` and `herd members` subcommands.
//
// `herd agent -join HOST[:port] -tag role=backend [-node n] [-bind ip:port]
// [-rpc-addr ip:port] [-encrypt key] [-event-handler h] [-- cmd args...]`
// runs a full gossip member (no proxy) for a backend host, optionally with
// the application as a child process: SIGHUP/SIGUSR1/SIGUSR2 are forwarded
// to it, its exit status becomes ours, and on SIGTERM/SIGINT the member
// leaves the cluster gracefully BEFORE the child is stopped (so the load
// balancers drain it while it still serves). When the child exits by
// itself the member leaves too.
//
// `herd members [-rpc-addr a] [-status re] [-tag k=re] [-name re]
// [-rpc-auth key]` prints members like `serf members`, speaking the Serf
// RPC protocol to a herd or serf agent.
//
// Threads: one; everything runs on a local io_context.
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/write.hpp>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "app/logsink.h"
#include "membership/agent.h"
#include "membership/handlers.h"
#include "membership/rpc_msgs.h"
#include "membership/rpc_server.h"
#include "membership/settings.h"

extern char** environ;

namespace herd::app {

namespace {

void agent_usage() {
  std::fprintf(stderr,
               "Usage: herd agent [-node name] [-bind ip:port] [-advertise ip:port]\n"
               "                  [-join host[:port]]... [-tag k=v]... [-rpc-addr ip:port]\n"
               "                  [-encrypt key | -keyring-file f] [-snapshot f [-rejoin]]\n"
               "                  [-tags-file f] [-profile lan|wan|local]\n"
               "                  [-event-handler h]... [-- cmd args...]\n");
}

}  // namespace

int agent_main(int argc, char** argv) {
  using namespace herd::membership;
  std::vector<std::string> args, cmd;
  bool in_cmd = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (!in_cmd && a == "--") {
      in_cmd = true;
      continue;
    }
    if (!in_cmd && (a == "-h" || a == "--help")) {
      agent_usage();
      return 0;
    }
    (in_cmd ? cmd : args).push_back(a);
  }
  MembershipSettings s;
  std::vector<std::string> errors, rest;
  parse_flags(args, s, errors, &rest);
  for (const auto& r : rest) errors.push_back("unknown argument '" + r + "'");
  if (errors.empty()) finalize(s, nullptr, errors);
  std::vector<HandlerSpec> specs = parse_handlers(s.event_handlers, errors);
  if (!errors.empty()) {
    for (const auto& e : errors) std::fprintf(stderr, "herd agent: %s\n", e.c_str());
    agent_usage();
    return 1;
  }

  signal(SIGPIPE, SIG_IGN);
  boost::asio::io_context io(1);
  boost::asio::signal_set signals(io, SIGTERM, SIGINT, SIGHUP);
  signals.add(SIGUSR1);
  signals.add(SIGUSR2);
  signals.add(SIGCHLD);

  std::unique_ptr<RpcServer> rpc;
  std::unique_ptr<Agent> agent;
  // A query handler's output is the query's response (sent on the io thread).
  Handlers handlers(std::move(specs), [&io, &agent](const InvocationResult& r) {
    if (!r.is_query) return;
    boost::asio::post(io, [&agent, id = r.query_id, out = r.output] {
      if (agent) agent->respond_query(id, out);
    });
  });
  bool leaving = false;
  pid_t child = -1;
  int exit_code = 0;
  bool child_done = false;

  auto finish = [&] {
    if (child > 0 && !child_done) return;  // wait for SIGCHLD
    if (agent) agent->stop();
    if (rpc) rpc->close();
    io.stop();
  };
  auto leave_then = [&](int sig_to_child) {
    if (leaving) return;
    leaving = true;
    agent->graceful_leave([&, sig_to_child] {
      if (child > 0 && !child_done && sig_to_child) kill(child, sig_to_child);
      finish();
    });
  };

  Agent::Hooks hooks;
  hooks.events = [&](const std::vector<MemberEvent>& evs) {
    const MemberInfo self = agent->self_info();
    for (const auto& ev : evs) {
      if (!handlers.empty()) handlers.dispatch(ev, self);
      if (rpc) rpc->publish(ev);
    }
  };
  hooks.log = [&](const std::string& line) {
    LogSink::stderr_line("NOTICE", line);
    if (rpc) rpc->log(line);
  };
  hooks.left = [&] { leave_then(SIGTERM); };
  // A lost name conflict shut the gossip member down: a serf agent quits
  // then ("Serf shutdown detected, quitting", status 0), and so does this
  // one (its child, if any, is stopped first).
  hooks.shutdown = [&] {
    LogSink::stderr_line("NOTICE", "agent: gossip member shut down, quitting");
    leaving = true;
    if (child > 0 && !child_done) kill(child, SIGTERM);
    finish();
  };
  const std::string rpc_ip = s.rpc_ip;
  const uint16_t rpc_port = s.rpc_port;
  const bool rpc_on = s.rpc_enabled;
  RpcServer::Options ro;
  ro.auth_key = s.rpc_auth;
  agent = std::make_unique<Agent>(io, std::move(s), std::move(hooks));
  if (rpc_on) {
    rpc = std::make_unique<RpcServer>(io, *agent, ro);
    std::string err = rpc->listen(rpc_ip, rpc_port);
    if (!err.empty()) {
      std::fprintf(stderr, "herd agent: %s\n", err.c_str());
      return 1;
    }
  }
  std::string err = agent->start();
  if (!err.empty()) {
    std::fprintf(stderr, "herd agent: %s\n", err.c_str());
    return 1;
  }

  if (!cmd.empty()) {
    std::vector<char*> cargv;
    for (auto& c : cmd) cargv.push_back(c.data());
    cargv.push_back(nullptr);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t none;
    sigemptyset(&none);
    posix_spawnattr_setsigmask(&attr, &none);
    sigset_t def;
    sigemptyset(&def);
    for (int sg : {SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGUSR2, SIGCHLD, SIGPIPE})
      sigaddset(&def, sg);
    posix_spawnattr_setsigdefault(&attr, &def);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    // The child gets stdin/stdout/stderr only: not the gossip and RPC
    // sockets, which would otherwise stay bound after the agent exits.
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addclosefrom_np(&fa, 3);
    int rc = posix_spawnp(&child, cargv[0], &fa, &attr, cargv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    if (rc != 0) {
      std::fprintf(stderr, "herd agent: cannot start '%s': %s\n", cmd[0].c_str(),
                   std::strerror(rc));
      child = -1;
      exit_code = 127;
      leave_then(0);
    } else {
      LogSink::stderr_line("NOTICE",
                           "agent: started '" + cmd[0] + "' as pid " + std::to_string(child));
    }
  }

  std::function<void()> wait_signal = [&] {
    signals.async_wait([&](boost::system::error_code ec, int sig) {
      if (ec) return;
      if (sig == SIGCHLD) {
        if (child > 0 && !child_done) {
          int st = 0;
          if (waitpid(child, &st, WNOHANG) == child) {
            child_done = true;
            exit_code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
            LogSink::stderr_line("NOTICE",
                                 "agent: child exited with status " + std::to_string(exit_code));
            if (leaving)
              finish();  // already left (or leaving: finish runs when done)
            else
              leave_then(0);
          }
        }
      } else if (sig == SIGTERM || sig == SIGINT) {
        if (!leaving) {
          leave_then(sig);
        } else {
          // Second signal: stop now.
          if (child > 0 && !child_done) kill(child, SIGKILL);
          child_done = true;
          finish();
        }
      } else if (child > 0 && !child_done) {
        kill(child, sig);  // SIGHUP, SIGUSR1, SIGUSR2: forwarded
      }
      wait_signal();
    });
  };
  wait_signal();
  io.run();
  if (child > 0 && !child_done) {
    int st = 0;
    if (waitpid(child, &st, 0) == child)
      exit_code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  }
  agent.reset();
  rpc.reset();
  return exit_code;
}

// ---- herd members ----------------------------------------------------------------

int members_main(int argc, char** argv) {
  using namespace herd::membership;
  namespace asio = boost::asio;
  std::string addr = "127.0.0.1:7373", auth;
  if (const char* e = std::getenv("SERF_RPC_ADDR")) addr = e;
  if (const char* e = std::getenv("SERF_RPC_AUTH")) auth = e;
  rpc::MembersFilteredRequest filt;
  bool detailed = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    while (a.size() > 2 && a[0] == '-' && a[1] == '-') a.erase(0, 1);
    std::string val;
    bool has_val = false;
    if (auto eq = a.find('='); eq != std::string::npos && a[0] == '-') {
      val = a.substr(eq + 1);
      a = a.substr(0, eq);
      has_val = true;
    }
    auto need = [&]() -> std::string {
      if (has_val) return val;
      if (i + 1 >= argc) {
        std::fprintf(stderr, "herd members: %s needs a value\n", a.c_str());
        std::exit(1);
      }
      return argv[++i];
    };
    if (a == "-rpc-addr")
      addr = need();
    else if (a == "-rpc-auth")
      auth = need();
    else if (a == "-status")
      filt.status = need();
    else if (a == "-name")
      filt.name = need();
    else if (a == "-tag") {
      std::string kv = need();
      auto eq = kv.find('=');
      if (eq == std::string::npos) {
        std::fprintf(stderr, "herd members: -tag expects key=value\n");
        return 1;
      }
      filt.tags[kv.substr(0, eq)] = kv.substr(eq + 1);
    } else if (a == "-detailed")
      detailed = true;
    else {
      std::fprintf(stderr,
                   "Usage: herd members [-rpc-addr ip:port] [-rpc-auth key] [-status re] "
                   "[-name re] [-tag k=re]... [-detailed]\n");
      return 1;
    }
  }
  std::string host;
  uint16_t port = 7373;
  if (!split_host_port(addr, 7373, host, port)) {
    std::fprintf(stderr, "herd members: bad -rpc-addr '%s'\n", addr.c_str());
    return 1;
  }
  try {
    asio::io_context io;
    asio::ip::tcp::resolver res(io);
    asio::ip::tcp::socket sock(io);
    asio::connect(sock, res.resolve(host, std::to_string(port)));
    rpc::StreamDecoder dec;
    uint64_t seq = 0;
    auto next_obj = [&]() -> Bytes {
      for (;;) {
        auto o = dec.next();
        if (o) {
          if (!*o) throw std::runtime_error("malformed RPC reply");
          return o->value();
        }
        std::array<uint8_t, 8192> buf{};
        std::size_t n = sock.read_some(asio::buffer(buf));
        dec.feed(ByteView(buf.data(), n));
      }
    };
    auto request = [&](std::string_view cmd, const Bytes* body) {
      Bytes out = rpc::encode(rpc::RequestHeader{std::string(cmd), seq++});
      if (body) out.insert(out.end(), body->begin(), body->end());
      asio::write(sock, asio::buffer(out));
      auto h = rpc::decode<rpc::ResponseHeader>(next_obj());
      if (!h) throw std::runtime_error("malformed RPC reply header");
      if (!h->error.empty()) throw std::runtime_error(h->error);
    };
    Bytes hs = rpc::encode(rpc::HandshakeRequest{rpc::kIpcVersion});
    request(rpc::kHandshake, &hs);
    if (!auth.empty()) {
      Bytes ab = rpc::encode(rpc::AuthRequest{auth});
      request(rpc::kAuth, &ab);
    }
    Bytes fb = rpc::encode(filt);
    request(rpc::kMembersFiltered, &fb);
    auto mr = rpc::decode<rpc::MembersResponse>(next_obj());
    if (!mr) throw std::runtime_error("malformed members reply");
    std::vector<std::vector<std::string>> rows;
    for (const auto& m : mr->members) {
      std::string ip;
      if (m.addr.size() == 4) {
        asio::ip::address_v4::bytes_type b;
        std::copy(m.addr.begin(), m.addr.end(), b.begin());
        ip = asio::ip::address_v4(b).to_string();
      } else if (m.addr.size() == 16) {
        asio::ip::address_v6::bytes_type b;
        std::copy(m.addr.begin(), m.addr.end(), b.begin());
        ip = "[" + asio::ip::address_v6(b).to_string() + "]";
      }
      std::string tags;
      for (const auto& [k, v] : m.tags) tags += (tags.empty() ? "" : ",") + k + "=" + v;
      std::vector<std::string> row{m.name, ip + ":" + std::to_string(m.port), m.status, tags};
      if (detailed)
        row.push_back("protocol " + std::to_string(m.delegate_cur) + " [" +
                      std::to_string(m.delegate_min) + ", " + std::to_string(m.delegate_max) + "]");
      rows.push_back(std::move(row));
    }
    std::vector<std::size_t> w;
    for (const auto& r : rows)
      for (std::size_t c = 0; c < r.size(); ++c) {
        if (w.size() <= c) w.push_back(0);
        w[c] = std::max(w[c], r[c].size());
      }
    for (const auto& r : rows) {
      std::string line;
      for (std::size_t c = 0; c < r.size(); ++c) {
        line += r[c];
        if (c + 1 < r.size()) line += std::string(w[c] - r[c].size() + 2, ' ');
      }
      while (!line.empty() && line.back() == ' ') line.pop_back();
      std::cout << line << "\n";
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "Error connecting to Serf agent: %s\n", e.what());
    return 1;
  }
  return 0;
}

}  // namespace herd::app
