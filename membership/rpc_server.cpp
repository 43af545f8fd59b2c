// membership/rpc_server.cpp — Serf RPC server on Asio (control thread).
#include "membership/rpc_server.h"

#include <arpa/inet.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <boost/asio/write.hpp>
#include <optional>
#include <regex>

#include "membership/handlers.h"

namespace herd::membership {

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

constexpr std::string_view kErrInvalidAuth = "Invalid authentication token";
constexpr std::string_view kErrStreamExists = "Stream with given sequence exists";
constexpr std::string_view kErrMonitorExists = "Monitor already exists";
constexpr std::string_view kErrUnknownLogLevel = "Unknown log level";

Bytes to_bytes(const std::string& s) { return Bytes(s.begin(), s.end()); }

std::optional<Bytes> opt_bytes(const std::string& s) {
  if (s.empty()) return std::nullopt;
  return to_bytes(s);
}

void append(Bytes& out, const Bytes& b) { out.insert(out.end(), b.begin(), b.end()); }

// Serf compiles "^" + expr + "$" (RE2); ECMAScript is close for the
// filters people write (names, alternations, character classes).
std::optional<std::regex> anchored(const std::string& expr) {
  try {
    return std::regex("^" + expr + "$");
  } catch (const std::regex_error&) {
    return std::nullopt;
  }
}

}  // namespace

rpc::Member to_rpc_member(const MemberInfo& m) {
  rpc::Member r;
  in_addr a4{};
  in6_addr a6{};
  if (inet_pton(AF_INET, m.addr.c_str(), &a4) == 1) {
    const auto* p = reinterpret_cast<const uint8_t*>(&a4);
    r.addr.assign(p, p + 4);
  } else if (inet_pton(AF_INET6, m.addr.c_str(), &a6) == 1) {
    const auto* p = reinterpret_cast<const uint8_t*>(&a6);
    r.addr.assign(p, p + 16);
  }
  r.name = m.name;
  r.port = m.port;
  r.tags = m.tags;
  r.status = to_string(m.status);
  r.protocol_min = m.protocol_min;
  r.protocol_max = m.protocol_max;
  r.protocol_cur = m.protocol_cur;
  r.delegate_min = m.delegate_min;
  r.delegate_max = m.delegate_max;
  r.delegate_cur = m.delegate_cur;
  return r;
}

struct RpcServer::State {
  asio::io_context& io;
  RpcBackend& backend;
  Options opts;
  tcp::acceptor acceptor;
  std::map<Conn*, std::shared_ptr<Conn>> conns;
  std::deque<std::string> log_ring;
  bool closed = false;
  State(asio::io_context& c, RpcBackend& b, Options o)
      : io(c), backend(b), opts(std::move(o)), acceptor(c) {}
  static void accept(const std::shared_ptr<State>& st);
};

class RpcServer::Conn : public std::enable_shared_from_this<Conn> {
 public:
  Conn(std::shared_ptr<State> st, tcp::socket sock) : st_(std::move(st)), sock_(std::move(sock)) {}

  void start() { read(); }

  void close() {
    if (closed_) return;
    closed_ = true;
    boost::system::error_code ec;
    sock_.shutdown(tcp::socket::shutdown_both, ec);
    sock_.close(ec);
    streams_.clear();
    monitors_.clear();
    st_->conns.erase(this);  // may drop the last owner: keep `self` alive in callers
  }

  void publish(const MemberEvent& ev) {
    for (const auto& [seq, filters] : streams_) {
      bool match = false;
      for (const auto& f : filters) match = match || f.matches(ev);
      if (!match) continue;
      Bytes out = rpc::encode(rpc::ResponseHeader{"", seq});
      if (ev.is_member_event()) {
        rpc::MemberEventRecord rec;
        rec.event = to_string(ev.type);
        for (const auto& m : ev.members) rec.members.push_back(to_rpc_member(m));
        append(out, rpc::encode(rec));
      } else if (ev.type == MemberEvent::Type::User) {
        rpc::UserEventRecord rec;
        rec.coalesce = ev.coalesce;
        rec.ltime = ev.ltime;
        rec.name = ev.user_name;
        rec.payload = opt_bytes(ev.payload);
        append(out, rpc::encode(rec));
      } else {
        rpc::QueryEventRecord rec;
        rec.id = ev.query_id;
        rec.ltime = ev.ltime;
        rec.name = ev.user_name;
        rec.payload = opt_bytes(ev.payload);
        append(out, rpc::encode(rec));
      }
      send(std::move(out));
    }
  }

  void log(const std::string& line) {
    for (uint64_t seq : monitors_) {
      Bytes out = rpc::encode(rpc::ResponseHeader{"", seq});
      append(out, rpc::encode(rpc::LogRecord{line}));
      send(std::move(out));
    }
  }

 private:
  void read() {
    if (closed_) return;
    auto self = shared_from_this();
    sock_.async_read_some(asio::buffer(buf_),
                          [self](const boost::system::error_code& ec, std::size_t n) {
                            if (self->closed_) return;
                            if (ec) {
                              self->close();
                              return;
                            }
                            self->in_.feed(ByteView(self->buf_.data(), n));
                            self->process();
                            self->read();
                          });
  }

  // Handles every complete request, in order, unless one is in progress.
  void process() {
    auto self = shared_from_this();
    while (!closed_ && !waiting_ && !closing_) {
      auto obj = in_.next();
      if (!obj) return;
      if (!obj->ok()) {
        spdlog::debug("membership: rpc: malformed request: {}", obj->error().detail);
        close();
        return;
      }
      if (!pending_) {
        auto hdr = rpc::decode<rpc::RequestHeader>(**obj);
        if (!hdr) {
          close();
          return;
        }
        if (rpc::request_has_body(hdr->command) &&
            (handshaken_ || hdr->command == rpc::kHandshake)) {
          pending_ = std::move(*hdr);
          continue;
        }
        // Before the handshake serf never reads a body: it answers and closes.
        handle(*hdr, {});
      } else {
        rpc::RequestHeader hdr = std::move(*pending_);
        pending_.reset();
        handle(hdr, **obj);
      }
    }
  }

  void reply(uint64_t seq, std::string_view error) {
    send(rpc::encode(rpc::ResponseHeader{std::string(error), seq}));
  }
  template <class Body>
  void reply(uint64_t seq, std::string_view error, const Body& body) {
    Bytes out = rpc::encode(rpc::ResponseHeader{std::string(error), seq});
    append(out, rpc::encode(body));
    send(std::move(out));
  }
  void reply_and_close(uint64_t seq, std::string_view error) {
    reply(seq, error);
    closing_ = true;
    if (!writing_) close();
  }

  template <class T>
  std::optional<T> body_as(const Bytes& raw) {
    auto r = rpc::decode<T>(raw);
    if (!r) {
      spdlog::debug("membership: rpc: bad request body: {}", r.error().detail);
      close();
      return std::nullopt;
    }
    return std::move(*r);
  }

  void handle(const rpc::RequestHeader& hdr, const Bytes& body) {
    const std::string& cmd = hdr.command;
    uint64_t seq = hdr.seq;
    RpcBackend& be = st_->backend;
    if (!handshaken_ && cmd != rpc::kHandshake)
      return reply_and_close(seq, rpc::kErrHandshakeRequired);
    if (!st_->opts.auth_key.empty() && !authed_ && cmd != rpc::kHandshake && cmd != rpc::kAuth)
      return reply_and_close(seq, rpc::kErrAuthRequired);

    if (cmd == rpc::kHandshake) {
      auto req = body_as<rpc::HandshakeRequest>(body);
      if (!req) return;
      if (handshaken_) return reply(seq, rpc::kErrDuplicateHandshake);
      if (req->version != rpc::kIpcVersion) return reply(seq, rpc::kErrUnsupportedVersion);
      handshaken_ = true;
      return reply(seq, "");
    }
    if (cmd == rpc::kAuth) {
      auto req = body_as<rpc::AuthRequest>(body);
      if (!req) return;
      if (req->auth_key == st_->opts.auth_key) {
        authed_ = true;
        return reply(seq, "");
      }
      return reply(seq, kErrInvalidAuth);
    }
    if (cmd == rpc::kMembers) {
      rpc::MembersResponse resp;
      for (const auto& m : be.members()) resp.members.push_back(to_rpc_member(m));
      return reply(seq, "", resp);
    }
    if (cmd == rpc::kMembersFiltered) {
      auto req = body_as<rpc::MembersFilteredRequest>(body);
      if (!req) return;
      std::optional<std::regex> name, status;
      std::vector<std::pair<std::string, std::regex>> tags;
      bool bad = false;
      if (!req->name.empty() && !(name = anchored(req->name))) bad = true;
      if (!req->status.empty() && !(status = anchored(req->status))) bad = true;
      for (const auto& [k, expr] : req->tags) {
        auto re = anchored(expr);
        if (!re)
          bad = true;
        else
          tags.emplace_back(k, std::move(*re));
      }
      if (bad) return close();  // serf closes without a reply
      rpc::MembersResponse resp;
      for (const auto& m : be.members()) {
        bool ok = true;
        for (const auto& [k, re] : tags) {
          auto it = m.tags.find(k);
          if (!std::regex_search(it == m.tags.end() ? std::string() : it->second, re)) ok = false;
        }
        if (name && !std::regex_search(m.name, *name)) ok = false;
        if (status && !std::regex_search(std::string(to_string(m.status)), *status)) ok = false;
        if (ok) resp.members.push_back(to_rpc_member(m));
      }
      return reply(seq, "", resp);
    }
    if (cmd == rpc::kJoin) {
      auto req = body_as<rpc::JoinRequest>(body);
      if (!req) return;
      waiting_ = true;
      auto self = shared_from_this();
      be.join(req->existing, req->replay, [self, seq](int32_t num, std::string err) {
        if (self->closed_) return;
        self->reply(seq, err, rpc::JoinResponse{num});
        self->resume();
      });
      return;
    }
    if (cmd == rpc::kLeave) {
      waiting_ = true;
      auto self = shared_from_this();
      be.leave([self, seq](std::string err) {
        if (self->closed_) return;
        self->reply(seq, err);
        self->resume();
      });
      return;
    }
    if (cmd == rpc::kForceLeave) {
      auto req = body_as<rpc::ForceLeaveRequest>(body);
      if (!req) return;
      return reply(seq, be.force_leave(req->node, req->prune));
    }
    if (cmd == rpc::kEvent) {
      auto req = body_as<rpc::EventRequest>(body);
      if (!req) return;
      std::string payload = req->payload ? std::string(as_chars(*req->payload)) : std::string();
      return reply(seq, be.user_event(req->name, payload, req->coalesce));
    }
    if (cmd == rpc::kTags) {
      auto req = body_as<rpc::TagsRequest>(body);
      if (!req) return;
      return reply(
          seq, be.update_tags(req->tags, req->delete_tags.value_or(std::vector<std::string>{})));
    }
    if (cmd == rpc::kStream) {
      auto req = body_as<rpc::StreamRequest>(body);
      if (!req) return;
      auto filters = parse_event_filter(req->type);
      for (const auto& f : filters)
        if (!f.valid()) return reply(seq, rpc::kErrInvalidFilter);
      if (streams_.count(seq)) return reply(seq, kErrStreamExists);
      reply(seq, "");
      streams_[seq] = std::move(filters);
      return;
    }
    if (cmd == rpc::kMonitor) {
      auto req = body_as<rpc::MonitorRequest>(body);
      if (!req) return;
      std::string level = req->log_level;
      std::transform(level.begin(), level.end(), level.begin(),
                     [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
      if (level != "TRACE" && level != "DEBUG" && level != "INFO" && level != "WARN" &&
          level != "ERR")
        return reply(seq, kErrUnknownLogLevel);
      if (monitors_.count(seq)) return reply(seq, kErrMonitorExists);
      reply(seq, "");
      monitors_.insert(seq);
      for (const auto& line : st_->log_ring) {
        Bytes out = rpc::encode(rpc::ResponseHeader{"", seq});
        append(out, rpc::encode(rpc::LogRecord{line}));
        send(std::move(out));
      }
      return;
    }
    if (cmd == rpc::kStop) {
      auto req = body_as<rpc::StopRequest>(body);
      if (!req) return;
      streams_.erase(req->stop);
      monitors_.erase(req->stop);
      return reply(seq, "");
    }
    if (cmd == rpc::kStats) return reply(seq, "", be.stats());
    if (cmd == rpc::kGetCoordinate) {
      auto req = body_as<rpc::CoordinateRequest>(body);
      if (!req) return;
      rpc::CoordinateResponse resp;
      if (auto c = be.coordinate(req->node)) {
        resp.coord = std::move(*c);
        resp.ok = true;
      }
      return reply(seq, "", resp);
    }
    if (cmd == rpc::kQuery) {
      auto req = body_as<rpc::QueryRequest>(body);
      if (!req) return;
      auto self = shared_from_this();
      auto record = [self, seq](rpc::QueryRecord rec) {
        if (self->closed_) return;
        Bytes out = rpc::encode(rpc::ResponseHeader{"", seq});
        append(out, rpc::encode(rec));
        self->send(std::move(out));
      };
      RpcBackend::QueryStream qs;
      qs.ack = [record](const std::string& from) {
        record(rpc::QueryRecord{from, std::nullopt, std::string(rpc::kQueryRecordAck)});
      };
      qs.response = [record](const std::string& from, const Bytes& payload) {
        record(rpc::QueryRecord{from, payload, std::string(rpc::kQueryRecordResponse)});
      };
      qs.done = [record] {
        record(rpc::QueryRecord{"", std::nullopt, std::string(rpc::kQueryRecordDone)});
      };
      return reply(seq, be.query(*req, std::move(qs)));
    }
    if (cmd == rpc::kRespond) {
      auto req = body_as<rpc::RespondRequest>(body);
      if (!req) return;
      return reply(seq, be.respond(req->id, req->payload.value_or(Bytes{})));
    }
    if (cmd == rpc::kInstallKey || cmd == rpc::kUseKey || cmd == rpc::kRemoveKey ||
        cmd == rpc::kListKeys) {
      std::string key;
      if (rpc::request_has_body(cmd)) {
        auto req = body_as<rpc::KeyRequest>(body);
        if (!req) return;
        key = req->key;
      }
      waiting_ = true;
      auto self = shared_from_this();
      be.keys(cmd, key, [self, seq](std::string err, rpc::KeyResponse resp) {
        if (self->closed_) return;
        self->reply(seq, err, resp);
        self->resume();
      });
      return;
    }
    return reply_and_close(seq, rpc::kErrUnsupportedCommand);
  }

  void resume() {
    waiting_ = false;
    process();
  }

  void send(Bytes b) {
    if (closed_) return;
    out_bytes_ += b.size();
    if (out_bytes_ > st_->opts.max_out_bytes) {
      spdlog::warn("membership: rpc client too slow, closing");
      close();
      return;
    }
    out_.push_back(std::move(b));
    if (!writing_) flush();
  }

  void flush() {
    if (closed_) return;
    if (out_.empty()) {
      writing_ = false;
      if (closing_) close();
      return;
    }
    writing_ = true;
    auto self = shared_from_this();
    asio::async_write(sock_, asio::buffer(out_.front()),
                      [self](const boost::system::error_code& ec, std::size_t) {
                        if (self->closed_) return;
                        if (ec) {
                          self->close();
                          return;
                        }
                        self->out_bytes_ -= self->out_.front().size();
                        self->out_.pop_front();
                        self->flush();
                      });
  }

  std::shared_ptr<State> st_;
  tcp::socket sock_;
  std::array<uint8_t, 4096> buf_{};
  rpc::StreamDecoder in_;
  std::optional<rpc::RequestHeader> pending_;
  std::deque<Bytes> out_;
  std::size_t out_bytes_ = 0;
  bool writing_ = false, closing_ = false, closed_ = false;
  bool handshaken_ = false, authed_ = false, waiting_ = false;
  std::map<uint64_t, std::vector<EventFilter>> streams_;
  std::set<uint64_t> monitors_;
};

void RpcServer::State::accept(const std::shared_ptr<State>& st) {
  st->acceptor.async_accept([st](const boost::system::error_code& ec, tcp::socket sock) {
    if (st->closed || !st->acceptor.is_open()) return;
    if (!ec) {
      if (st->conns.size() >= st->opts.max_connections) {
        boost::system::error_code ignore;
        sock.close(ignore);
      } else {
        auto c = std::make_shared<Conn>(st, std::move(sock));
        st->conns[c.get()] = c;
        c->start();
      }
    }
    accept(st);  // transient errors (EMFILE) included
  });
}

RpcServer::RpcServer(asio::io_context& control, RpcBackend& backend)
    : RpcServer(control, backend, Options{}) {}

RpcServer::RpcServer(asio::io_context& control, RpcBackend& backend, Options opts)
    : st_(std::make_shared<State>(control, backend, std::move(opts))) {}

RpcServer::~RpcServer() { close(); }

std::string RpcServer::listen(const std::string& ip, uint16_t port) {
  boost::system::error_code ec;
  auto addr = asio::ip::make_address(ip == "localhost" ? "127.0.0.1" : ip, ec);
  std::string where = ip + ":" + std::to_string(port);
  if (ec) return "rpc address '" + where + "': not a numeric IP address";
  tcp::endpoint ep(addr, port);
  st_->acceptor.open(ep.protocol(), ec);
  if (!ec) st_->acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) st_->acceptor.bind(ep, ec);
  if (!ec) st_->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    boost::system::error_code ignore;
    st_->acceptor.close(ignore);
    return "rpc " + where + ": " + ec.message();
  }
  st_->closed = false;
  accept();
  return "";
}

std::string RpcServer::adopt(int fd) {
  boost::system::error_code ec;
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
  st_->acceptor.assign(ss.ss_family == AF_INET6 ? tcp::v6() : tcp::v4(), fd, ec);
  if (ec) {
    ::close(fd);
    return "rpc: inherited socket: " + ec.message();
  }
  st_->closed = false;
  accept();
  return "";
}

int RpcServer::native_fd() const {
  return st_->acceptor.is_open() ? st_->acceptor.native_handle() : -1;
}

uint16_t RpcServer::port() const {
  boost::system::error_code ec;
  auto ep = st_->acceptor.local_endpoint(ec);
  return ec ? 0 : ep.port();
}

void RpcServer::accept() { State::accept(st_); }

void RpcServer::close() {
  st_->closed = true;
  boost::system::error_code ec;
  st_->acceptor.close(ec);
  auto conns = st_->conns;
  for (auto& [p, c] : conns) c->close();
  st_->conns.clear();
}

void RpcServer::publish(const MemberEvent& ev) {
  auto conns = st_->conns;
  for (auto& [p, c] : conns) c->publish(ev);
}

void RpcServer::log(std::string_view line) {
  st_->log_ring.emplace_back(line);
  while (st_->log_ring.size() > st_->opts.log_replay) st_->log_ring.pop_front();
  auto conns = st_->conns;
  std::string l(line);
  for (auto& [p, c] : conns) c->log(l);
}

std::size_t RpcServer::connections() const { return st_->conns.size(); }

}  // namespace herd::membership
