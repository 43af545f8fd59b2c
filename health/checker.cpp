// health/checker.cpp — HealthChecker: timers, TCP/HTTP check attempts on
// the control io_context, and the publication of results (see checker.h).
#include "health/checker.h"

#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <cstring>
#include <functional>
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <vector>

#include "balancing/conn_source.h"
#include "health/check_request.h"
#include "health/mysql_check.h"
#include "tls/conn.h"
#include "tls/context.h"

namespace herd::health {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using balancing::OpState;
using balancing::Server;
using Outcome = CheckResult::Outcome;

namespace {

constexpr size_t kMaxResponse = 16384;  // HAProxy's check buffer (tune.bufsize)

CheckResult make_result(Outcome o, CheckStatus st, std::string info = {}) {
  CheckResult r;
  r.outcome = o;
  r.status = st;
  r.info = std::move(info);
  return r;
}

// One check attempt: connect, (send, read), verdict. Lives as long as one
// of its handlers holds it.
class Attempt : public std::enable_shared_from_this<Attempt> {
 public:
  explicit Attempt(asio::io_context& io) : sock_(io), deadline_(io) {}

  const config::HttpCheck* http = nullptr;  // nullptr: plain TCP check
  const config::TcpCheck* tcpchk = nullptr;  // `option tcp-check`: its rules
  const config::MysqlCheck* mysql = nullptr;  // `option mysql-check` (mysql_check.h)
  // `check-ssl` (or `ssl` without check port/addr): the check speaks TLS
  // (tls::ClientContext); a TCP check then passes at the handshake (L6OK).
  std::shared_ptr<const void> tls_ctx;
  int64_t check_timeout_ms = 0;             // `timeout check`, 0 when unset
  // `source` of the server or backend: checks bind to its address (no
  // `usesrc`: a check has no client), as haproxy's.
  const config::ConnSource* source = nullptr;
  // `socks4` with `check-via-socks4`: the proxy the checks go through.
  std::optional<tcp::endpoint> socks4;
  std::string state_header;                 // `http-check send-state`'s value, "" when off
  std::function<void(CheckResult)> on_done;

  // `first_deadline_ms`: the time allowed before the connection is up (and
  // for the whole check when `timeout check` is unset).
  void run(const tcp::endpoint& ep, int64_t first_deadline_ms) {
    start_ = Clock::now();
    if (http) request_ = build_check_request(*http, state_header);
    deadline_.expires_at(start_ + std::chrono::milliseconds(first_deadline_ms));
    arm_deadline();
    if (tcpchk) {
      ep_ = ep;
      // HAProxy runs an implicit connect first unless the first rule (past
      // comments) is a connect; it is step 0, "the initial connection step".
      const auto& rules = tcpchk->rules;
      auto first = std::find_if(rules.begin(), rules.end(), [](const config::TcpCheckRule& r) {
        return r.kind != config::TcpCheckRule::Kind::Comment;
      });
      if (first == rules.end() || first->kind != config::TcpCheckRule::Kind::Connect)
        steps_.push_back({nullptr, 0});
      for (size_t i = 0; i < rules.size(); ++i) steps_.push_back({&rules[i], int(i) + 1});
      return next_step();
    }
    auto self = shared_from_this();
    const tcp::endpoint target = socks4 ? *socks4 : ep;
    if (auto bec = bind_source(target))
      return finish(make_result(Outcome::Fail, CheckStatus::L4Con, bec.message()));
    sock_.async_connect(target, [self, ep](const boost::system::error_code& ec) {
      if (self->done_) return;
      if (ec) return self->finish(make_result(Outcome::Fail, CheckStatus::L4Con, ec.message()));
      if (!self->socks4) return self->on_connected();
      self->socks4_then(ep, [self](const boost::system::error_code& sec) {
        if (sec)  // haproxy: a failed SOCKS4 handshake is a socket error
          return self->finish(make_result(Outcome::Fail, CheckStatus::SockErr, sec.message()));
        self->on_connected();
      });
    });
  }

  void cancel() {
    done_ = true;
    on_done = nullptr;
    deadline_.cancel();
    boost::system::error_code ec;
    sock_.close(ec);
  }

 private:
  void arm_deadline() {
    auto self = shared_from_this();
    deadline_.async_wait([self](const boost::system::error_code& ec) {
      if (ec || self->done_) return;
      const std::string info = self->tcpchk ? self->step_text() : std::string();
      if (!self->connected_)
        return self->finish(make_result(Outcome::Fail, CheckStatus::L4Tout, info));
      if (self->tls_ && !self->tls_->handshake_done())
        return self->finish(make_result(Outcome::Fail, CheckStatus::L6Tout, info));
      self->finish(make_result(Outcome::Fail, CheckStatus::L7Tout, info));
    });
  }

  // Observed on 2.6: once connected, `timeout check` may only extend the
  // deadline set for the connection, never shorten it.
  void extend_for_check() {
    if (check_timeout_ms <= 0) return;
    auto later = Clock::now() + std::chrono::milliseconds(check_timeout_ms);
    if (later > deadline_.expiry()) {
      deadline_.expires_at(later);
      arm_deadline();
    }
  }

  void on_connected() {
    connected_ = true;
    if (tls_ctx && !tls_) {
      const tls::ClientContext& cc = *tls::client_context(tls_ctx);
      tls_ = std::make_unique<tls::Conn>(cc, cc.check_sni);
      extend_for_check();
      return tls_step([](Attempt& a) {
        if (!a.http) return a.finish(make_result(Outcome::Pass, CheckStatus::L6Ok));
        a.on_connected();
      });
    }
    if (mysql) {
      extend_for_check();
      return mysql_read();
    }
    if (!http) {
      // HAProxy closes a pure TCP check with a reset (no TIME_WAIT).
      boost::system::error_code ec;
      sock_.set_option(asio::socket_base::linger(true, 0), ec);
      return finish(make_result(Outcome::Pass, CheckStatus::L4Ok));
    }
    extend_for_check();
    auto self = shared_from_this();
    if (tls_) {
      size_t used = 0;
      tls_->write(request_.data(), request_.size(), &used);
      return tls_flush([](Attempt& a) { a.read_more(); });
    }
    asio::async_write(
        sock_, asio::buffer(request_), [self](const boost::system::error_code& ec, size_t) {
          if (self->done_) return;
          if (ec)
            return self->finish(make_result(Outcome::Fail, CheckStatus::SockErr, ec.message()));
          self->read_more();
        });
  }

  // ---- TLS (tls/conn.h over this socket) ----
  // Sends what the engine has for the server, then `k`.
  void tls_flush(void (*k)(Attempt&)) {
    if (tls_->out_size() == 0) return k(*this);
    tls_->take_out(wout_);
    auto self = shared_from_this();
    asio::async_write(
        sock_, asio::buffer(wout_), [self, k](const boost::system::error_code& ec, size_t) {
          if (self->done_) return;
          if (ec)
            return self->finish(make_result(Outcome::Fail, CheckStatus::SockErr, ec.message()));
          self->tls_flush(k);
        });
  }
  // Runs the handshake, then `k`; a failure is L6RSP.
  void tls_step(void (*k)(Attempt&)) {
    auto r = tls_->handshake();
    if (r == tls::Conn::Result::Failed) {
      hs_failed_ = true;
      return tls_flush([](Attempt& a) {
        a.finish(make_result(Outcome::Fail, CheckStatus::L6Rsp, "SSL handshake failure"));
      });
    }
    if (r == tls::Conn::Result::Ok) return tls_flush(k);
    hs_k_ = k;
    tls_flush([](Attempt& a) {
      auto self = a.shared_from_this();
      a.sock_.async_read_some(
          asio::buffer(a.buf_), [self](const boost::system::error_code& ec, size_t n) {
            if (self->done_) return;
            if (ec)
              return self->finish(make_result(Outcome::Fail, CheckStatus::L6Rsp,
                                              "SSL handshake failure (" + ec.message() + ")"));
            self->tls_->feed(self->buf_.data(), n);
            self->tls_step(self->hs_k_);
          });
    });
  }
  // Plaintext from the server into response_, as read_more's socket read.
  void tls_read() {
    char plain[4096];
    size_t n = 0;
    auto r = tls_->read(plain, sizeof plain, &n);
    if (r == tls::Conn::Result::Ok) {
      response_.append(plain, n);
      if (response_.size() >= kMaxResponse || response_complete(*http, response_))
        return finish(evaluate_response(*http, response_));
      return tls_read();
    }
    if (r != tls::Conn::Result::WantRead) return finish(evaluate_response(*http, response_));
    tls_flush([](Attempt& a) {
      auto self = a.shared_from_this();
      a.sock_.async_read_some(
          asio::buffer(a.buf_), [self](const boost::system::error_code& ec, size_t got) {
            if (self->done_) return;
            if (ec) {
              if (ec != asio::error::eof && self->response_.empty())
                return self->finish(make_result(Outcome::Fail, CheckStatus::SockErr, ec.message()));
              return self->finish(evaluate_response(*self->http, self->response_));
            }
            self->tls_->feed(self->buf_.data(), got);
            self->tls_read();
          });
    });
  }

  // `option mysql-check`: reads the greeting (and the answer to the login).
  void mysql_read() {
    auto self = shared_from_this();
    sock_.async_read_some(
        asio::buffer(buf_), [self](const boost::system::error_code& ec, size_t n) {
          if (self->done_) return;
          self->response_.append(self->buf_.data(), n);
          if (ec && ec != asio::error::eof && self->response_.empty())
            return self->finish(make_result(Outcome::Fail, CheckStatus::SockErr, ec.message()));
          MysqlStep st = mysql_step(*self->mysql, self->response_, ec.failed(), self->login_sent_);
          // haproxy's rule set connects with `linger`: the check ends with a reset.
          boost::system::error_code lec;
          if (st.kind == MysqlStep::Kind::Done) {
            self->sock_.set_option(asio::socket_base::linger(true, 0), lec);
            return self->finish(std::move(st.result));
          }
          if (st.kind == MysqlStep::Kind::Wait) return self->mysql_read();
          self->login_sent_ = true;
          self->request_ = mysql_login_packet(*self->mysql);
          asio::async_write(self->sock_, asio::buffer(self->request_),
                            [self](const boost::system::error_code& wec, size_t) {
                              if (self->done_) return;
                              if (wec)
                                return self->finish(make_result(Outcome::Fail, CheckStatus::SockErr,
                                                                wec.message()));
                              self->mysql_read();
                            });
        });
  }

  void read_more() {
    if (tls_) return tls_read();
    auto self = shared_from_this();
    sock_.async_read_some(asio::buffer(buf_), [self](const boost::system::error_code& ec,
                                                     size_t n) {
      if (self->done_) return;
      self->response_.append(self->buf_.data(), n);
      if (ec) {
        if (ec != asio::error::eof && self->response_.empty())
          return self->finish(make_result(Outcome::Fail, CheckStatus::SockErr, ec.message()));
        return self->finish(evaluate_response(*self->http, self->response_));
      }
      if (self->response_.size() >= kMaxResponse || response_complete(*self->http, self->response_))
        return self->finish(evaluate_response(*self->http, self->response_));
      self->read_more();
    });
  }

  // ---- `option tcp-check`: the rules, one step at a time ----
  struct StepRef {
    const config::TcpCheckRule* rule;  // nullptr: the implicit first connect
    int id;                            // HAProxy's step number (0: implicit connect)
  };
  using Rule = config::TcpCheckRule;

  const Rule* rule_at(size_t i) const { return steps_[i].rule; }
  bool is(size_t i, Rule::Kind k) const {
    return rule_at(i) ? rule_at(i)->kind == k : k == Rule::Kind::Connect;
  }

  // " at step 2 of tcp-check (expect string '+PONG')": how HAProxy names
  // the step a connection error or a timeout happened at.
  std::string step_text() const {
    if (cur_ >= steps_.size() || steps_[cur_].id == 0)
      return " at initial connection step of tcp-check";
    const Rule& r = *rule_at(cur_);
    std::string m = " at step " + std::to_string(steps_[cur_].id) + " of tcp-check";
    switch (r.kind) {
      case Rule::Kind::Connect:
        m += r.port ? " (connect port " + std::to_string(r.port) + ")" : " (connect)";
        break;
      case Rule::Kind::Send:
        m += " (send)";
        break;
      case Rule::Kind::Expect:
        if (r.match == Rule::Match::String) {
          m += " (expect string '" + r.data + "')";
        } else if (r.match == Rule::Match::Binary) {
          static const char* kHex = "0123456789ABCDEF";
          m += " (expect binary '";
          for (unsigned char c : r.data) {
            m += kHex[c >> 4];
            m += kHex[c & 15];
          }
          m += "')";
        } else {
          m += " (expect regex)";
        }
        break;
      case Rule::Kind::Comment:
        break;
    }
    if (!r.comment.empty()) m += " comment: '" + r.comment + "'";
    return m;
  }

  void next_step() {
    while (!done_) {
      if (cur_ >= steps_.size()) return pass();
      const Rule* r = rule_at(cur_);
      if (r && r->kind == Rule::Kind::Comment) {
        ++cur_;
        continue;
      }
      last_ = cur_;
      if (is(cur_, Rule::Kind::Connect)) return step_connect(r ? r->port : 0);
      if (r->kind == Rule::Kind::Send) return step_send(*r);
      return step_expect();
    }
  }

  void pass() {
    // The last rule run decides: a connect is a Layer4 pass ("(tcp-check)"
    // unless it was the implicit one), anything else a Layer7 one.
    boost::system::error_code ec;
    sock_.set_option(asio::socket_base::linger(true, 0), ec);
    if (is(last_, Rule::Kind::Connect)) {  // over TLS: a Layer6 pass, as haproxy
      CheckResult r = make_result(Outcome::Pass, tls_ ? CheckStatus::L6Ok : CheckStatus::L4Ok,
                                  rule_at(last_) ? "(tcp-check)" : "");
      r.report_info = true;
      return finish(std::move(r));
    }
    CheckResult r = make_result(Outcome::Pass, CheckStatus::L7Ok, "(tcp-check)");
    r.report_info = true;
    finish(std::move(r));
  }

  void step_connect(uint16_t port) {
    if (sock_.is_open()) {
      boost::system::error_code ignored;
      sock_.set_option(asio::socket_base::linger(true, 0), ignored);
      sock_.close(ignored);
    }
    connected_ = false;
    tls_.reset();
    in_.clear();
    read_since_reset_ = false;
    auto self = shared_from_this();
    tcp::endpoint ep(ep_.address(), port ? port : ep_.port());
    // Only the implicit connect follows `check-via-socks4` (haproxy's
    // default connect); a `tcp-check connect` rule goes straight.
    const bool via_socks = socks4 && !rule_at(cur_);
    const auto bec = bind_source(via_socks ? *socks4 : ep);
    auto on_connect = [self](const boost::system::error_code& ec) {
      if (self->done_) return;
      if (ec) {
        std::string msg = ec.message();
        if (!msg.empty())
          msg[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(msg[0])));
        return self->finish(
            make_result(Outcome::Fail, CheckStatus::L4Con, msg + self->step_text()));
      }
      if (!self->connected_once_) self->extend_for_check();
      self->connected_ = self->connected_once_ = true;
      if (self->tls_ctx) {  // check-ssl: the rules run over TLS from here
        self->tls_ =
            std::make_unique<tls::Conn>(*tls::client_context(self->tls_ctx), std::string_view());
        return self->tls_step([](Attempt& a) {
          ++a.cur_;
          a.next_step();
        });
      }
      ++self->cur_;
      self->next_step();
    };
    if (bec) return on_connect(bec);
    if (!via_socks) return sock_.async_connect(ep, std::move(on_connect));
    sock_.async_connect(*socks4, [self, ep, on_connect](const boost::system::error_code& ec) {
      if (self->done_) return;
      if (ec) return on_connect(ec);
      self->socks4_then(ep, [self, on_connect](const boost::system::error_code& sec) {
        if (sec)  // haproxy: a failed SOCKS4 handshake is a socket error
          return self->finish(
              make_result(Outcome::Fail, CheckStatus::SockErr, sec.message() + self->step_text()));
        on_connect(sec);
      });
    });
  }

  // `check-via-socks4`: the SOCKS4 CONNECT to `dest` on the socket connected
  // to the proxy (proxy/source_connect.h has the bytes), then `k(error)`.
  void socks4_then(const tcp::endpoint& dest,
                   std::function<void(const boost::system::error_code&)> k) {
    namespace errc = boost::system::errc;
    if (!dest.address().is_v4())
      return k(errc::make_error_code(errc::address_family_not_supported));
    socks_.assign(16, '\0');
    socks_[0] = 4;
    socks_[1] = 1;
    socks_[2] = static_cast<char>(dest.port() >> 8);
    socks_[3] = static_cast<char>(dest.port() & 0xff);
    const auto ip = dest.address().to_v4().to_bytes();
    std::memcpy(&socks_[4], ip.data(), 4);
    std::memcpy(&socks_[8], "HAProxy", 8);
    auto self = shared_from_this();
    asio::async_write(
        sock_, asio::buffer(socks_), [self, k](const boost::system::error_code& ec, size_t) {
          if (self->done_) return;
          if (ec) return k(ec);
          asio::async_read(self->sock_, asio::buffer(self->socks_.data(), 8),
                           [self, k](const boost::system::error_code& rec, size_t) {
                             if (self->done_) return;
                             if (!rec && self->socks_[1] != 0x5A)
                               return k(errc::make_error_code(errc::connection_refused));
                             k(rec);
                           });
        });
  }

  // Opens and binds the socket for `ep` under `source` (nothing without).
  boost::system::error_code bind_source(const tcp::endpoint& ep) {
    boost::system::error_code ec;
    if (!source) return ec;
    sock_.open(ep.protocol(), ec);
    if (ec) return ec;
    const int err =
        balancing::bind_source(sock_.native_handle(), ep.protocol().family(), *source, nullptr);
    if (err != 0) ec.assign(err, boost::system::system_category());
    return ec;
  }

  void step_send(const Rule& r) {
    in_.clear();  // HAProxy empties its input buffer before sending
    read_since_reset_ = false;
    if (tls_) {
      size_t used = 0;
      tls_->write(r.data.data(), r.data.size(), &used);
      return tls_flush([](Attempt& a) {
        ++a.cur_;
        a.next_step();
      });
    }
    auto self = shared_from_this();
    asio::async_write(
        sock_, asio::buffer(r.data), [self](const boost::system::error_code& ec, size_t) {
          if (self->done_) return;
          if (ec)
            return self->finish(
                make_result(Outcome::Fail, CheckStatus::SockErr, ec.message() + self->step_text()));
          ++self->cur_;
          self->next_step();
        });
  }

  // Consecutive expect rules are one group: while the data read so far
  // decides none of them, HAProxy reads more and evaluates the group again.
  void step_expect() {
    if (!read_since_reset_ && !eof_) return read_for_expect();
    size_t head = cur_;
    while (head > 0 && is(head - 1, Rule::Kind::Expect)) --head;
    const bool last_read = eof_ || in_.size() >= kMaxResponse;
    const Rule& r = *rule_at(cur_);
    bool match = false;
    switch (r.match) {
      case Rule::Match::String:
      case Rule::Match::Binary:
        match = in_.find(r.data) != std::string::npos;
        break;
      case Rule::Match::RString:
        match = std::regex_search(in_, std::regex(r.data));
        break;
    }
    if (!match && !last_read) {
      cur_ = head;
      return read_for_expect();
    }
    if (match != r.negate) {
      ++cur_;
      return next_step();
    }
    std::string m = match ? "TCPCHK matched unwanted content" : "TCPCHK did not match content";
    m += r.match == Rule::Match::String   ? " '" + r.data + "'"
         : r.match == Rule::Match::Binary ? std::string(" (binary)")
                                          : std::string(" (regex)");
    m += " at step " + std::to_string(steps_[cur_].id);
    if (!r.comment.empty()) m += " comment: " + r.comment;
    finish(make_result(Outcome::Fail, CheckStatus::L7Rsp, m));
  }

  void read_for_expect() {
    if (tls_) return tls_read_for_expect();
    auto self = shared_from_this();
    sock_.async_read_some(asio::buffer(buf_),
                          [self](const boost::system::error_code& ec, size_t n) {
                            if (self->done_) return;
                            self->in_.append(self->buf_.data(), n);
                            self->read_since_reset_ = true;
                            if (ec) self->eof_ = true;
                            self->step_expect();
                          });
  }

  // read_for_expect through the TLS layer: what is deciphered, or the end.
  void tls_read_for_expect() {
    char plain[4096];
    size_t n = 0;
    auto r = tls_->read(plain, sizeof plain, &n);
    if (r == tls::Conn::Result::Ok) {
      in_.append(plain, n);
      read_since_reset_ = true;
      return step_expect();
    }
    if (r != tls::Conn::Result::WantRead) {
      eof_ = true;
      return step_expect();
    }
    tls_flush([](Attempt& a) {
      auto self = a.shared_from_this();
      a.sock_.async_read_some(asio::buffer(a.buf_),
                              [self](const boost::system::error_code& ec, size_t got) {
                                if (self->done_) return;
                                if (ec) {
                                  self->read_since_reset_ = true;
                                  self->eof_ = true;
                                  return self->step_expect();
                                }
                                self->tls_->feed(self->buf_.data(), got);
                                self->tls_read_for_expect();
                              });
    });
  }

  void finish(CheckResult r) {
    if (done_) return;
    done_ = true;
    deadline_.cancel();
    boost::system::error_code ec;
    sock_.close(ec);
    r.duration_ms = static_cast<int>(
        std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start_).count());
    auto cb = std::move(on_done);
    on_done = nullptr;
    if (cb) cb(std::move(r));
  }

  tcp::socket sock_;
  asio::steady_timer deadline_;
  std::string request_, response_;
  // tcp-check state: the steps, the one running, the last one started (past
  // comments), the data read since the last connect or send.
  tcp::endpoint ep_;
  std::vector<StepRef> steps_;
  size_t cur_ = 0, last_ = 0;
  std::string in_;
  bool read_since_reset_ = false, eof_ = false, connected_once_ = false;
  std::array<char, 4096> buf_{};
  std::unique_ptr<tls::Conn> tls_;
  std::string socks_;                 // the SOCKS4 request, then its answer
  std::string wout_;                  // ciphertext being sent
  void (*hs_k_)(Attempt&) = nullptr;  // what follows the handshake
  bool hs_failed_ = false;
  Clock::time_point start_;
  bool connected_ = false, done_ = false;
  bool login_sent_ = false;  // mysql-check
};

std::string key_of(std::string_view backend, std::string_view server) {
  std::string k(backend);
  k += '/';
  k += server;
  return k;
}

bool usable_with(const Server& s, OpState op) {
  return !s.in_maint() && !s.draining() && op == OpState::Running && s.weight > 0;
}

}  // namespace

CheckParams CheckParams::from_server(const Server& s) {
  CheckParams p;
  p.timing.inter_ms = s.check_inter_ms > 0 ? s.check_inter_ms : 2000;
  p.timing.fastinter_ms = s.check_fastinter_ms;
  p.timing.downinter_ms = s.check_downinter_ms;
  p.port = s.check_port;
  p.addr = s.check_addr;
  return p;
}

// ---------------------------------------------------------------------------

struct HealthChecker::Core : std::enable_shared_from_this<Core> {
  struct Entry {
    std::string backend, server, key;
    std::shared_ptr<balancing::ServerLive> live;  // identity of the server
    CheckParams params;
    std::unique_ptr<asio::steady_timer> timer;
    std::shared_ptr<Attempt> attempt;
  };
  struct Pending {
    std::string key;
    std::shared_ptr<balancing::ServerLive> live;
    CheckResult result;
  };

  Core(asio::io_context& io_, const config::Config& cfg_, balancing::PoolWriter& writer_,
       LogFn log_)
      : io(io_), cfg(cfg_), writer(writer_), log(std::move(log_)) {}

  asio::io_context& io;
  const config::Config& cfg;
  balancing::PoolWriter& writer;
  LogFn log;
  std::map<std::string, std::shared_ptr<Entry>> entries;
  std::vector<Pending> pending;
  bool flush_posted = false;
  bool running = false;
  int subscription = 0;  // PoolWriter::subscribe id, 0 when none
  std::set<std::string> carried;  // key_of(): carried_over()

  std::shared_ptr<const balancing::PoolSnapshot> snapshot() const {
    return writer.pool().current();
  }
  static const Server* find(const balancing::PoolSnapshot& snap, std::string_view b,
                            std::string_view s) {
    const balancing::BackendSnapshot* be = snap.find(b);
    return be ? be->find(s) : nullptr;
  }

  std::shared_ptr<Entry> track(const balancing::BackendSnapshot& be, const Server& s) {
    auto e = std::make_shared<Entry>();
    e->backend = be.name;
    e->server = s.name;
    e->key = key_of(be.name, s.name);
    e->live = s.live;
    e->params = CheckParams::from_server(s);
    e->timer = std::make_unique<asio::steady_timer>(io);
    if (auto old = entries.find(e->key); old != entries.end()) drop(*old->second);
    entries[e->key] = e;
    if (s.check_enabled && s.live) {
      std::lock_guard<std::mutex> lock(s.live->health_mu);
      if (s.live->health.check_status.empty()) {
        s.live->health.check_status = std::string(status_name(CheckStatus::Init));
        s.live->health.check_desc = std::string(status_desc(CheckStatus::Init));
        s.live->health.health = s.health;
      }
    }
    return e;
  }

  void drop(Entry& e) {
    if (e.attempt) e.attempt->cancel();
    e.attempt.reset();
    if (e.timer) e.timer->cancel();
  }

  void schedule(const std::shared_ptr<Entry>& e, int64_t delay_ms) {
    if (!running) return;
    e->timer->expires_after(std::chrono::milliseconds(std::max<int64_t>(delay_ms, 0)));
    std::weak_ptr<Core> wc = weak_from_this();
    std::weak_ptr<Entry> we = e;
    e->timer->async_wait([wc, we](const boost::system::error_code& ec) {
      if (ec) return;
      auto c = wc.lock();
      auto en = we.lock();
      if (c && en) c->run_check(en);
    });
  }

  void run_check(const std::shared_ptr<Entry>& e) {
    if (!running || e->attempt) return;
    auto snap = snapshot();
    const Server* s = find(*snap, e->backend, e->server);
    if (!s) {
      entries.erase(e->key);
      return;
    }
    e->live = s->live;  // a server re-added under the same name is a new identity
    e->params = CheckParams::from_server(*s);  // `set server ... check-port|check-addr`
    if (!s->check_enabled || s->in_maint()) {
      schedule(e, e->params.timing.inter_ms);
      return;
    }
    const balancing::BackendSnapshot* be = snap->find(e->backend);
    const config::Proxy* px = be ? be->config : nullptr;
    const int64_t inter = e->params.timing.inter_ms;

    auto a = std::make_shared<Attempt>(io);
    if (px && px->httpchk.enabled) a->http = &px->httpchk;
    if (a->http && px->httpchk.send_state) a->state_header = state_header(*be, *s);
    if (px && px->tcpchk.enabled) a->tcpchk = &px->tcpchk;
    if (px && px->mysqlchk.enabled) a->mysql = &px->mysqlchk;
    if (px) a->source = balancing::conn_source(*s, *px);
    if (s->check_via_socks4 && !s->socks4_host.empty()) {
      boost::system::error_code aec;
      auto addr = asio::ip::make_address(s->socks4_host, aec);
      if (!aec) a->socks4 = tcp::endpoint(addr, s->socks4_port);
    }
    if (s->check_ssl && s->tls_ctx) a->tls_ctx = s->tls_ctx;
    int64_t first = inter;
    if (px && px->timeouts.check > 0) {
      a->check_timeout_ms = px->timeouts.check;
      if (px->timeouts.connect > 0) first = std::min(inter, px->timeouts.connect);
    }
    std::string key = e->key;
    std::weak_ptr<Core> wc = weak_from_this();
    auto live = s->live;
    a->on_done = [wc, key, live](CheckResult r) {
      if (auto c = wc.lock()) c->on_result(key, live, std::move(r));
    };
    e->attempt = a;
    if (live) {
      std::lock_guard<std::mutex> lock(live->health_mu);
      live->health.running = true;
      live->health.check_info.clear();  // HAProxy empties last_chk when a check starts
    }

    std::string ip = e->params.addr.empty() ? s->addr.ip : e->params.addr;
    uint16_t port = e->params.port ? e->params.port : s->addr.port;
    if (a->http && px->httpchk.connect_rule) {  // `http-check connect port|addr`
      if (px->httpchk.connect_port) port = px->httpchk.connect_port;
      if (!px->httpchk.connect_addr.empty()) ip = px->httpchk.connect_addr;
    }
    boost::system::error_code ec;
    auto addr = asio::ip::make_address(ip, ec);
    if (ec) {
      // Not a numeric address: report it like a failed connection.
      asio::post(io, [a] {
        auto cb = std::move(a->on_done);
        a->on_done = nullptr;
        if (cb) cb(make_result(Outcome::Fail, CheckStatus::L4Con, "Invalid argument"));
      });
      return;
    }
    a->run(tcp::endpoint(addr, port), first);
  }

  // x-haproxy-server-state's value for `s` now (check_request.h).
  std::string state_header(const balancing::BackendSnapshot& be, const Server& s) const {
    ServerStateFields f;
    HealthState hs{s.op, s.health};
    if (s.draining() && s.op == OpState::Running) hs.op = OpState::Stopping;  // DRAIN shows NOLB
    f.status = s.check_enabled ? status_text(hs, s.rise, s.fall) : "no check";
    f.addr = s.addr.ip;
    f.port = s.addr.port;
    f.backend = be.name;
    f.server = s.name;
    f.node = cfg.global.node;
    f.weight = s.draining() ? 0 : s.stats_weight();  // eweight: ramped during slowstart
    f.total_weight = be.usable_weight();
    f.scur = s.live ? s.live->inflight.get() : 0;
    f.qcur = s.live ? s.live->queued.get() : 0;
    const int queued = be.live ? be.live->queued.get() : 0;
    f.backend_conns = (be.live ? be.live->inflight.get() : 0) - queued;
    return server_state_header(f);
  }

  void on_result(const std::string& key, const std::shared_ptr<balancing::ServerLive>& live,
                 CheckResult r) {
    auto it = entries.find(key);
    if (it == entries.end() || it->second->live != live) return;
    it->second->attempt.reset();
    pending.push_back(Pending{key, live, std::move(r)});
    if (!flush_posted) {
      flush_posted = true;
      std::weak_ptr<Core> wc = weak_from_this();
      asio::post(io, [wc] {
        if (auto c = wc.lock()) c->flush();
      });
    }
  }

  struct Counts {
    std::map<std::string, std::pair<bool, bool>> servers;  // name -> {backup, usable}
    int act = 0, bck = 0;
    void recount() {
      act = bck = 0;
      for (const auto& [n, v] : servers)
        if (v.second) ++(v.first ? bck : act);
    }
  };

  // Applies every result that arrived together as one publication.
  void flush() {
    flush_posted = false;
    if (!running) {
      pending.clear();
      return;
    }
    std::vector<Pending> batch;
    batch.swap(pending);
    auto snap = snapshot();
    struct Msg {
      const config::Proxy* px;
      int severity;
      std::string text;
    };
    std::vector<Msg> msgs;
    std::map<std::string, Counts> counts;
    auto tx = writer.begin();
    const auto now = Clock::now();
    for (auto& p : batch) {
      auto it = entries.find(p.key);
      if (it == entries.end() || it->second->live != p.live) continue;
      auto& e = it->second;
      const balancing::BackendSnapshot* be = snap->find(e->backend);
      const Server* s = be ? be->find(e->server) : nullptr;
      if (!s || s->live != p.live) continue;
      if (!s->check_enabled || s->in_maint()) {
        // Paused while the check ran: the result is dropped.
        {
          std::lock_guard<std::mutex> lock(s->live->health_mu);
          s->live->health.running = false;
        }
        schedule(e, e->params.timing.inter_ms);
        continue;
      }
      CheckResult r = std::move(p.result);
      const HealthState cur{s->op, s->health};
      if (r.outcome == Outcome::CondPass && cur.op == OpState::Stopped) {
        r.outcome = Outcome::Fail;  // a 404 does not bring a DOWN server back
        r.status = CheckStatus::L7Sts;
      }
      const Step st = step(cur, s->rise, s->fall, r.outcome);
      {
        std::lock_guard<std::mutex> lock(s->live->health_mu);
        auto& v = s->live->health;
        v.check_status = std::string(status_name(r.status));
        v.check_code = r.code;
        v.check_duration_ms = r.duration_ms;
        v.check_desc = std::string(status_desc(r.status));
        v.check_info = r.outcome == Outcome::Fail || r.report_info ? r.info : std::string();
        v.health = st.next.health;
        v.running = false;
        v.last_check = now;
      }
      if (st.count_failed) s->live->counters.add(balancing::Counter::FailedChecks);
      if (st.count_down) s->live->counters.add(balancing::Counter::Downs);
      if (!(st.next == cur)) tx.set_op(e->backend, e->server, st.next.op, st.next.health);
      // `option log-health-checks`: every result that moves the health
      // counter is logged, before the state change it may cause.
      if (be->config && be->config->log_health_checks && st.next.health != cur.health)
        msgs.push_back({be->config, 5, check_message(*be, *s, st, r)});
      if (st.event != Step::Event::None) {
        auto [ci, fresh] = counts.try_emplace(be->name);
        Counts& c = ci->second;
        if (fresh) {
          for (const auto& o : be->servers) c.servers[o->name] = {o->backup, o->usable()};
          c.recount();
        }
        const int before = c.act + c.bck;
        c.servers[s->name] = {s->backup, usable_with(*s, st.next.op)};
        c.recount();
        msgs.push_back({be->config, st.event == Step::Event::WentDown && !st.was_stopping ? 1 : 5,
                        transition_message(*be, *s, st, r, c.act, c.bck)});
        if (before > 0 && c.act + c.bck == 0)
          msgs.push_back({be->config, 0,
                          std::string(be->config && be->config->kind == config::Proxy::Kind::Listen
                                          ? "proxy "
                                          : "backend ") +
                              be->name + " has no server available!"});
      }
      schedule(e, next_interval(st.next, s->rise, s->fall, e->params.timing));
    }
    tx.commit();
    if (log)
      for (const auto& m : msgs) log(m.px, m.severity, m.text);
  }

  // ", reason: <desc>[, code: <n>][, info: "<text>"], check duration: <n>ms".
  static void append_check_status(std::string& m, const CheckResult& r) {
    m += ", reason: ";
    m += status_desc(r.status);
    if (status_has_code(r.status)) m += ", code: " + std::to_string(r.code);
    if ((r.outcome == Outcome::Fail || r.report_info) && !r.info.empty())
      m += ", info: \"" + r.info + "\"";
    m += ", check duration: " + std::to_string(r.duration_ms) + "ms";
  }

  // haproxy's log-health-checks line: "Health check for server b/s
  // succeeded, reason: ..., status: 3/3 UP." (the health after this result).
  static std::string check_message(const balancing::BackendSnapshot& be, const Server& s,
                                   const Step& st, const CheckResult& r) {
    std::string m = "Health check for ";
    m += s.backup ? "backup server " : "server ";
    m += be.name + "/" + s.name;
    m += r.outcome == Outcome::Fail       ? " failed"
         : r.outcome == Outcome::CondPass ? " conditionally succeeded"
                                          : " succeeded";
    append_check_status(m, r);
    const int h = st.next.health;
    const bool up = h >= s.rise;
    m += ", status: " + std::to_string(up ? h - s.rise + 1 : h) + "/" +
         std::to_string(up ? s.fall : s.rise) + (up ? (s.weight ? " UP" : " DRAIN") : " DOWN") +
         ".";
    return m;
  }

  static std::string transition_message(const balancing::BackendSnapshot& be, const Server& s,
                                        const Step& st, const CheckResult& r, int act, int bck) {
    std::string m = s.backup ? "Backup Server " : "Server ";
    m += be.name + "/" + s.name;
    switch (st.event) {
      case Step::Event::WentDown:
        m += " is DOWN";
        break;
      case Step::Event::WentUp:
        m += " is UP";
        break;
      default:
        m += " is stopping";
        break;
    }
    // With log-health-checks the check's details went in its own line.
    if (!(be.config && be.config->log_health_checks)) append_check_status(m, r);
    m += ". ";
    m += std::to_string(act) + " active and " + std::to_string(bck) + " backup servers ";
    const int queued = s.live ? s.live->queued.get() : 0;
    if (st.event == Step::Event::WentDown) {
      const int sessions = s.live ? s.live->inflight.get() : 0;
      m += "left. " + std::to_string(sessions) + " sessions active, 0 requeued, " +
           std::to_string(queued) + " remaining in queue.";
    } else {
      m += "online. 0 sessions requeued, " + std::to_string(queued) + " total in queue.";
    }
    return m;
  }

  // What the pool's writer reports: servers added and removed, admin and
  // check-enabled changes, membership's in-place edits. Results of checks
  // (Operational), weights and addresses need nothing: every check reads
  // the server from the current snapshot.
  void on_changes(const std::vector<balancing::PoolChange>& changes) {
    using Kind = balancing::PoolChange::Kind;
    if (!running) return;
    auto snap = snapshot();
    for (const auto& ch : changes) {
      const balancing::BackendSnapshot* be = snap->find(ch.backend);
      const Server* s = be ? be->find(ch.server) : nullptr;
      auto it = entries.find(key_of(ch.backend, ch.server));
      const bool tracked = it != entries.end() && s && it->second->live == s->live;
      switch (ch.kind) {
        case Kind::Removed:
          if (it != entries.end() && !tracked) {
            drop(*it->second);
            entries.erase(it);
          }
          break;
        case Kind::Added:
        case Kind::CheckEnabled:
        case Kind::Updated:
          if (!s) break;
          if (!s->check_enabled) {
            if (tracked) idle(*it->second);
          } else if (!tracked || (ch.kind != Kind::Updated && !it->second->attempt)) {
            // The first check at once, or after `inter` for a server whose
            // state a reload carried over (carried_over()).
            const bool carried_state =
                ch.kind == Kind::Added && carried.erase(key_of(be->name, s->name)) > 0;
            auto e = track(*be, *s);
            schedule(e, carried_state ? e->params.timing.inter_ms : 0);
          }
          if (ch.kind == Kind::Updated && tracked && s->in_maint()) leave_check(it->second);
          break;
        case Kind::Admin:
          if (tracked && s->in_maint()) leave_check(it->second);
          break;
        case Kind::Operational:
        case Kind::Weight:
        case Kind::Address:
          break;
      }
    }
  }

  // Drops the check in flight (its result would be stale), keeping the timer.
  static void idle(Entry& e) {
    if (e.attempt) e.attempt->cancel();
    e.attempt.reset();
    if (e.live) {
      std::lock_guard<std::mutex> lock(e.live->health_mu);
      e.live->health.running = false;
    }
  }
  // Entering MAINT: the check in flight is dropped; the next one at inter.
  void leave_check(const std::shared_ptr<Entry>& e) {
    if (!e->attempt) return;
    idle(*e);
    schedule(e, e->params.timing.inter_ms);
  }

  void start() {
    if (running) return;
    running = true;
    auto snap = snapshot();
    std::vector<std::pair<std::shared_ptr<Entry>, int64_t>> first;
    for (const auto& be : snap->backends) {
      for (const auto& s : be->servers) {
        if (!s->check_configured && !s->check_enabled) continue;
        auto e = track(*be, *s);
        first.emplace_back(e,
                           next_interval({s->op, s->health}, s->rise, s->fall, e->params.timing));
      }
    }
    if (!first.empty()) {
      int64_t mininter = first.front().second;
      for (const auto& f : first) mininter = std::min(mininter, f.second);
      const int64_t n = static_cast<int64_t>(first.size());
      for (int64_t i = 0; i < n; ++i) schedule(first[i].first, mininter * i / n);
    }
  }

  void stop() {
    running = false;
    for (auto& [k, e] : entries) drop(*e);
    pending.clear();
  }
};

HealthChecker::HealthChecker(asio::io_context& control, const config::Config& cfg,
                             balancing::PoolWriter& writer, LogFn log)
    : core_(std::make_shared<Core>(control, cfg, writer, std::move(log))) {
  std::weak_ptr<Core> wc = core_;
  core_->subscription = writer.subscribe([wc](const std::vector<balancing::PoolChange>& chs) {
    if (auto c = wc.lock()) c->on_changes(chs);
  });
}

HealthChecker::~HealthChecker() {
  core_->stop();
  core_->writer.unsubscribe(core_->subscription);
}

void HealthChecker::start() { core_->start(); }
void HealthChecker::stop() { core_->stop(); }

void HealthChecker::observed_failure(std::string_view backend, std::string_view server) {
  auto& c = *core_;
  auto it = c.entries.find(key_of(backend, server));
  if (it == c.entries.end() || !c.running) return;
  auto e = it->second;
  auto snap = c.snapshot();
  const balancing::BackendSnapshot* be = snap->find(backend);
  const Server* s = be ? be->find(server) : nullptr;
  if (!s || s->live != e->live || !s->check_enabled || s->in_maint()) return;
  const auto& t = e->params.timing;
  const int64_t fast = t.fastinter_ms ? t.fastinter_ms : t.inter_ms;
  const bool l7 = s->observe == Server::Observe::Layer7;
  switch (s->on_error) {
    case Server::OnError::FastInter:
      break;
    case Server::OnError::FailCheck:
      // One failed check, through the same path as a real one.
      c.on_result(e->key, e->live,
                  make_result(Outcome::Fail, l7 ? CheckStatus::L7Rsp : CheckStatus::L4Con,
                              "Health analyze"));
      return;
    case Server::OnError::SuddenDeath:
      // The last UP step: one more failed check marks it DOWN.
      if (s->op != OpState::Stopped && s->health > s->rise) {
        auto tx = c.writer.begin();
        tx.set_op(e->backend, e->server, s->op, s->rise);
        tx.commit();
      }
      break;
    case Server::OnError::MarkDown:
      if (s->op != OpState::Stopped) {
        auto tx = c.writer.begin();
        tx.set_op(e->backend, e->server, OpState::Stopped, 0);
        tx.commit();
        s->live->counters.add(balancing::Counter::Downs);
        int left = std::max(0, be->usable_active() - (s->backup ? 0 : 1));
        int left_bck = std::max(0, be->usable_backup() - (s->backup ? 1 : 0));
        if (c.log)
          c.log(be->config, 1,
                std::string(s->backup ? "Backup Server " : "Server ") + be->name + "/" + s->name +
                    " is DOWN, reason: Health analyze. " + std::to_string(left) + " active and " +
                    std::to_string(left_bck) +
                    " backup servers left. 0 sessions active, 0 requeued, 0 remaining in queue.");
      }
      break;
  }
  if (!e->attempt) c.schedule(e, fast);
}

void HealthChecker::carried_over(std::vector<std::pair<std::string, std::string>> servers) {
  core_->carried.clear();
  for (const auto& [b, s] : servers) core_->carried.insert(key_of(b, s));
}

size_t HealthChecker::tracked() const { return core_->entries.size(); }

bool HealthChecker::in_flight(std::string_view backend, std::string_view server) const {
  auto it = core_->entries.find(key_of(backend, server));
  return it != core_->entries.end() && it->second->attempt != nullptr;
}

std::pair<std::string, std::string> HealthChecker::stderr_form(int syslog_severity,
                                                               const std::string& msg) {
  constexpr std::string_view kSuffix = " has no server available!";
  for (std::string_view prefix : {std::string_view("backend "), std::string_view("proxy ")}) {
    if (syslog_severity == 0 && msg.size() > prefix.size() + kSuffix.size() &&
        msg.compare(0, prefix.size(), prefix) == 0 &&
        msg.compare(msg.size() - kSuffix.size(), kSuffix.size(), kSuffix) == 0) {
      std::string name = msg.substr(prefix.size(), msg.size() - prefix.size() - kSuffix.size());
      return {"ALERT", std::string(prefix) + "'" + name + "' has no server available!"};
    }
  }
  return {syslog_severity == 0 ? "ALERT" : "WARNING", msg};
}

}  // namespace herd::health
