// tests/unit/membership/rpc_server_test.cpp — the Serf RPC server against
// the stock `serf` CLI (skipped when /usr/bin/serf is absent) and a raw
// client for stream/stop, handshake and auth rules. A fake RpcBackend stands
// in for the member.
#include "membership/rpc_server.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <cstdio>
#include <future>
#include <mutex>
#include <thread>

namespace herd::membership {
namespace {

namespace asio = boost::asio;

class FakeBackend : public RpcBackend {
 public:
  std::mutex mu;
  std::vector<MemberInfo> list;
  std::vector<std::string> calls;

  FakeBackend() {
    list.push_back(mk("ha", "127.0.0.1", {{"role", "balancer"}}, MemberInfo::Status::Alive));
    list.push_back(mk("backend1", "127.0.0.12", {{"role", "backend"}, {"dc", "lab"}},
                      MemberInfo::Status::Alive));
    list.push_back(mk("backend2", "127.0.0.13", {{"role", "backend"}}, MemberInfo::Status::Failed));
    list.push_back(mk("old", "10.0.0.9", {}, MemberInfo::Status::Left));
  }
  static MemberInfo mk(std::string n, std::string ip, std::map<std::string, std::string> tags,
                       MemberInfo::Status st) {
    MemberInfo m;
    m.name = std::move(n);
    m.addr = std::move(ip);
    m.port = 7946;
    m.tags = std::move(tags);
    m.status = st;
    m.protocol_min = 1;
    m.protocol_max = 5;
    m.protocol_cur = 2;
    m.delegate_min = 2;
    m.delegate_max = 5;
    m.delegate_cur = 4;
    return m;
  }
  void record(std::string s) {
    std::lock_guard lk(mu);
    calls.push_back(std::move(s));
  }
  std::vector<MemberInfo> members() override {
    std::lock_guard lk(mu);
    return list;
  }
  void join(const std::vector<std::string>& addrs, bool replay,
            std::function<void(int32_t, std::string)> done) override {
    std::string s = "join";
    for (auto& a : addrs) s += " " + a;
    record(s + (replay ? " replay" : ""));
    if (addrs.size() == 1 && addrs[0] == "nowhere") return done(0, "no route to nowhere");
    done(static_cast<int32_t>(addrs.size()), "");
  }
  void leave(std::function<void(std::string)> done) override {
    record("leave");
    done("");
  }
  std::string force_leave(const std::string& node, bool prune) override {
    record("force-leave " + node + (prune ? " prune" : ""));
    return node == "ghost" ? "node not found" : "";
  }
  std::string user_event(const std::string& name, const std::string& payload,
                         bool coalesce) override {
    record("event " + name + " " + payload + (coalesce ? " coalesce" : ""));
    return "";
  }
  std::string update_tags(const std::map<std::string, std::string>& set,
                          const std::vector<std::string>& remove) override {
    std::string s = "tags";
    for (auto& [k, v] : set) s += " " + k + "=" + v;
    for (auto& k : remove) s += " -" + k;
    record(s);
    return "";
  }
  // Queries and keys: answered on the io thread, as the agent does.
  asio::io_context* io = nullptr;
  std::string query(const rpc::QueryRequest& req, QueryStream s) override {
    record("query " + req.name + (req.request_ack ? " ack" : ""));
    if (req.name.starts_with("_serf_") && req.name != "_serf_ping") return "refused";
    auto timer = std::make_shared<asio::steady_timer>(*io, std::chrono::milliseconds(200));
    asio::post(*io, [s, timer, ack = req.request_ack] {
      if (ack) s.ack("ha");
      if (ack) s.ack("backend1");
      s.response("backend1", Bytes{'p', 'o', 'n', 'g'});
      timer->async_wait([s, timer](boost::system::error_code) { s.done(); });
    });
    return "";
  }
  std::string respond(uint64_t id, const Bytes& payload) override {
    record("respond " + std::to_string(id) + " " + std::string(payload.begin(), payload.end()));
    return id == 7 ? "" : "response already sent";
  }
  void keys(std::string_view cmd, const std::string& key,
            std::function<void(std::string, rpc::KeyResponse)> done) override {
    record(std::string(cmd) + " " + key);
    rpc::KeyResponse r;
    r.num_nodes = 2;
    r.num_resp = 2;
    std::string err;
    if (cmd == rpc::kListKeys) {
      r.keys = {{"a2V5MQ==", 2}};
    } else if (key != "good") {
      r.num_err = 1;
      r.messages = {{"backend1", "Requested key is not in the keyring"}};
      err = "1/2 nodes reported failure";
    }
    asio::post(*io, [done, err, r] { done(err, r); });
  }
  std::optional<rpc::RpcCoordinate> coordinate(const std::string& node) override {
    if (node != "ha" && node != "backend1") return std::nullopt;
    rpc::RpcCoordinate c;
    c.vec.assign(8, 0.0);
    c.vec[0] = node == "ha" ? 0.001 : 0.003;  // 2 ms apart
    c.height = 10.0e-6;
    return c;
  }
  rpc::StatsResponse stats() override {
    rpc::StatsResponse r;
    r.sections.push_back({"agent", {{"name", "ha"}}});
    r.sections.push_back({"serf", {{"members", "4"}, {"failed", "1"}, {"left", "1"}}});
    r.sections.push_back({"tags", {{"role", "balancer"}}});
    return r;
  }
};

struct RpcFixture : ::testing::Test {
  asio::io_context io;
  FakeBackend backend;
  std::unique_ptr<RpcServer> server;
  std::thread thread;
  std::string addr;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;

  void start(RpcServer::Options opts = {}) {
    backend.io = &io;
    server = std::make_unique<RpcServer>(io, backend, opts);
    ASSERT_EQ(server->listen("127.0.0.1", 0), "");
    addr = "127.0.0.1:" + std::to_string(server->port());
    work.emplace(io.get_executor());
    thread = std::thread([this] { io.run(); });
  }
  void TearDown() override {
    if (server) {
      std::promise<void> p;
      asio::post(io, [&] {
        server.reset();
        p.set_value();
      });
      p.get_future().wait();
    }
    work.reset();
    io.stop();
    if (thread.joinable()) thread.join();
  }
  // Runs the serf CLI; returns stdout+stderr and sets rc.
  std::string serf(const std::string& args, int* rc = nullptr) {
    std::string cmd = "/usr/bin/serf " + args + " 2>&1";
    FILE* f = popen(cmd.c_str(), "r");
    std::string out;
    std::array<char, 4096> buf{};
    while (std::size_t n = fread(buf.data(), 1, buf.size(), f)) out.append(buf.data(), n);
    int st = pclose(f);
    if (rc) *rc = WEXITSTATUS(st);
    return out;
  }
  void need_serf() {
    if (access("/usr/bin/serf", X_OK) != 0) GTEST_SKIP() << "serf CLI not installed";
  }
  void post_sync(std::function<void()> fn) {
    std::promise<void> p;
    asio::post(io, [&] {
      fn();
      p.set_value();
    });
    p.get_future().wait();
  }
};

TEST(RpcMember, EncodesAddrBytesAndStatus) {
  auto m =
      to_rpc_member(FakeBackend::mk("x", "127.0.0.12", {{"a", "b"}}, MemberInfo::Status::Leaving));
  EXPECT_EQ(m.addr, (Bytes{127, 0, 0, 12}));
  EXPECT_EQ(m.status, "leaving");
  EXPECT_EQ(m.protocol_max, 5);
  EXPECT_EQ(m.delegate_cur, 4);
  EXPECT_EQ(to_rpc_member(FakeBackend::mk("y", "::1", {}, MemberInfo::Status::Alive)).addr.size(),
            16u);
}

TEST_F(RpcFixture, SerfMembersCli) {
  need_serf();
  start();
  int rc = -1;
  std::string out = serf("members -rpc-addr=" + addr, &rc);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("backend1"), std::string::npos) << out;
  EXPECT_NE(out.find("127.0.0.12:7946"), std::string::npos) << out;
  // serf prints tags in Go map order, which varies from run to run.
  EXPECT_TRUE(out.find("dc=lab,role=backend") != std::string::npos ||
              out.find("role=backend,dc=lab") != std::string::npos)
      << out;
  EXPECT_NE(out.find("failed"), std::string::npos) << out;
  EXPECT_NE(out.find("left"), std::string::npos) << out;

  out = serf("members -rpc-addr=" + addr + " -status=alive -tag role=backend", &rc);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("backend1"), std::string::npos) << out;
  EXPECT_EQ(out.find("backend2"), std::string::npos) << out;
  EXPECT_EQ(out.find("ha "), std::string::npos) << out;

  out = serf("members -rpc-addr=" + addr + " -name='backend.*' -format=json", &rc);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("\"name\": \"backend2\""), std::string::npos) << out;
  EXPECT_NE(out.find("\"status\": \"failed\""), std::string::npos) << out;
  EXPECT_EQ(out.find("\"name\": \"ha\""), std::string::npos) << out;

  out = serf("members -rpc-addr=" + addr + " -detailed -name=ha", &rc);
  EXPECT_EQ(rc, 0) << out;
  // The CLI's "Protocol" of -detailed is the delegate triple.
  EXPECT_NE(out.find("Protocol Version: 4"), std::string::npos) << out;
  EXPECT_NE(out.find("Available Protocol Range: [2, 5]"), std::string::npos) << out;
}

TEST_F(RpcFixture, SerfQueryKeysReachabilityAndRttCli) {
  need_serf();
  start();
  int rc = -1;
  std::string out = serf("query -rpc-addr=" + addr + " ping", &rc);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("Ack from 'ha'"), std::string::npos) << out;
  EXPECT_NE(out.find("Response from 'backend1': pong"), std::string::npos) << out;
  EXPECT_NE(out.find("Total Acks: 2"), std::string::npos) << out;
  EXPECT_NE(out.find("Total Responses: 1"), std::string::npos) << out;
  out = serf("query -rpc-addr=" + addr + " _serf_list-keys", &rc);
  EXPECT_NE(rc, 0) << out;
  EXPECT_NE(out.find("refused"), std::string::npos) << out;

  out = serf("keys -list -rpc-addr=" + addr, &rc);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("a2V5MQ=="), std::string::npos) << out;
  out = serf("keys -use bad -rpc-addr=" + addr, &rc);
  EXPECT_EQ(rc, 1) << out;
  EXPECT_NE(out.find("1/2 nodes reported failure"), std::string::npos) << out;
  EXPECT_NE(out.find("Requested key is not in the keyring"), std::string::npos) << out;
  out = serf("keys -install good -rpc-addr=" + addr, &rc);
  EXPECT_EQ(rc, 0) << out;

  // Reachability: acks from every alive member (ha, backend1).
  out = serf("reachability -rpc-addr=" + addr, &rc);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("Successfully contacted all live nodes"), std::string::npos) << out;

  out = serf("rtt -rpc-addr=" + addr + " ha backend1", &rc);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("Estimated ha <-> backend1 rtt: 2.020 ms"), std::string::npos) << out;
  out = serf("rtt -rpc-addr=" + addr + " ha old", &rc);
  EXPECT_NE(rc, 0) << out;
  std::lock_guard lk(backend.mu);
  EXPECT_NE(std::find(backend.calls.begin(), backend.calls.end(), "query _serf_ping ack"),
            backend.calls.end());
}

TEST_F(RpcFixture, SerfJoinLeaveForceLeaveEventTagsInfoCli) {
  need_serf();
  start();
  int rc = -1;
  std::string out = serf("join -rpc-addr=" + addr + " s1:7946 s2", &rc);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("Successfully joined cluster by contacting 2 nodes."), std::string::npos)
      << out;
  out = serf("join -rpc-addr=" + addr + " -replay nowhere", &rc);
  EXPECT_NE(rc, 0) << out;
  EXPECT_NE(out.find("no route to nowhere"), std::string::npos) << out;

  out = serf("force-leave -rpc-addr=" + addr + " backend2", &rc);
  EXPECT_EQ(rc, 0) << out;
  out = serf("force-leave -rpc-addr=" + addr + " ghost", &rc);
  EXPECT_NE(rc, 0) << out;
  EXPECT_NE(out.find("node not found"), std::string::npos) << out;

  out = serf("event -rpc-addr=" + addr + " deploy v42", &rc);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("Event 'deploy' dispatched"), std::string::npos) << out;

  out = serf("tags -rpc-addr=" + addr + " -set zone=b -delete dc", &rc);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("Successfully updated agent tags"), std::string::npos) << out;

  out = serf("info -rpc-addr=" + addr, &rc);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("members = 4"), std::string::npos) << out;
  EXPECT_NE(out.find("role = balancer"), std::string::npos) << out;

  out = serf("leave -rpc-addr=" + addr, &rc);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("Graceful leave complete"), std::string::npos) << out;

  std::lock_guard lk(backend.mu);
  EXPECT_EQ(backend.calls,
            (std::vector<std::string>{"join s1:7946 s2", "join nowhere replay",
                                      "force-leave backend2", "force-leave ghost",
                                      "event deploy v42 coalesce", "tags zone=b -dc", "leave"}));
}

TEST_F(RpcFixture, SerfCliWithAuth) {
  need_serf();
  RpcServer::Options o;
  o.auth_key = "s3cret";
  start(o);
  int rc = -1;
  std::string out = serf("members -rpc-addr=" + addr, &rc);
  EXPECT_NE(rc, 0) << out;
  out = serf("members -rpc-addr=" + addr + " -rpc-auth=s3cret", &rc);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("backend1"), std::string::npos) << out;
}

// A minimal blocking client speaking the RPC framing with the wire codec.
struct RawClient {
  asio::io_context cio;
  asio::ip::tcp::socket sock{cio};
  rpc::StreamDecoder dec;
  explicit RawClient(uint16_t port) { sock.connect({asio::ip::make_address("127.0.0.1"), port}); }
  template <class T>
  void send(const std::string& cmd, uint64_t seq, const T* body) {
    Bytes out = rpc::encode(rpc::RequestHeader{cmd, seq});
    Bytes b = rpc::encode(*body);
    out.insert(out.end(), b.begin(), b.end());
    asio::write(sock, asio::buffer(out));
  }
  void send(const std::string& cmd, uint64_t seq) {
    asio::write(sock, asio::buffer(rpc::encode(rpc::RequestHeader{cmd, seq})));
  }
  // Next object, or nullopt when the server closed.
  std::optional<Bytes> next() {
    while (true) {
      if (auto o = dec.next()) {
        if (!o->ok()) return std::nullopt;
        return **o;
      }
      std::array<uint8_t, 4096> buf{};
      boost::system::error_code ec;
      std::size_t n = sock.read_some(asio::buffer(buf), ec);
      if (ec) return std::nullopt;
      dec.feed(ByteView(buf.data(), n));
    }
  }
  rpc::ResponseHeader header() {
    auto o = next();
    EXPECT_TRUE(o);
    if (!o) return {};
    auto h = rpc::decode<rpc::ResponseHeader>(*o);
    EXPECT_TRUE(h.ok());
    return h.ok() ? *h : rpc::ResponseHeader{};
  }
};

TEST_F(RpcFixture, HandshakeRequiredThenClose) {
  start();
  RawClient c(server->port());
  c.send("members", 1);
  auto h = c.header();
  EXPECT_EQ(h.error, rpc::kErrHandshakeRequired);
  EXPECT_EQ(h.seq, 1u);
  EXPECT_FALSE(c.next());  // closed
}

TEST_F(RpcFixture, HandshakeVersionDuplicateAndUnsupported) {
  start();
  RawClient c(server->port());
  rpc::HandshakeRequest bad{2};
  c.send("handshake", 1, &bad);
  EXPECT_EQ(c.header().error, rpc::kErrUnsupportedVersion);
  rpc::HandshakeRequest ok{1};
  c.send("handshake", 2, &ok);
  EXPECT_EQ(c.header().error, "");
  c.send("handshake", 3, &ok);
  EXPECT_EQ(c.header().error, rpc::kErrDuplicateHandshake);
  Bytes raw = rpc::encode(rpc::RequestHeader{"get-coordinate", 4});
  raw.push_back(0x05);  // a body that is not a map: closed
  asio::write(c.sock, asio::buffer(raw));
  EXPECT_FALSE(c.next());
  RawClient d(server->port());
  d.send("handshake", 1, &ok);
  EXPECT_EQ(d.header().error, "");
  d.send("bogus", 2);
  EXPECT_EQ(d.header().error, rpc::kErrUnsupportedCommand);
  EXPECT_FALSE(d.next());
}

TEST_F(RpcFixture, InvalidFilterRegexClosesWithoutReply) {
  start();
  RawClient c(server->port());
  rpc::HandshakeRequest ok{1};
  c.send("handshake", 1, &ok);
  EXPECT_EQ(c.header().error, "");
  rpc::MembersFilteredRequest f;
  f.name = "(";
  c.send("members-filtered", 2, &f);
  EXPECT_FALSE(c.next());
}

TEST_F(RpcFixture, StreamDeliversFilteredEventsUntilStop) {
  start();
  RawClient c(server->port());
  rpc::HandshakeRequest ok{1};
  c.send("handshake", 1, &ok);
  EXPECT_EQ(c.header().error, "");
  rpc::StreamRequest bad{"member-joined"};
  c.send("stream", 2, &bad);
  EXPECT_EQ(c.header().error, rpc::kErrInvalidFilter);
  rpc::StreamRequest req{"member-join,user:deploy"};
  c.send("stream", 3, &req);
  EXPECT_EQ(c.header().error, "");
  // Wait until the server registered the stream (its reply came first).
  MemberEvent join{MemberEvent::Type::Join, {backend.list[1]}, "", "", 0, false, 0};
  MemberEvent failed{MemberEvent::Type::Failed, {backend.list[2]}, "", "", 0, false, 0};
  MemberEvent other{MemberEvent::Type::User, {}, "other", "x", 3, false, 0};
  MemberEvent deploy{MemberEvent::Type::User, {}, "deploy", "v1", 4, true, 0};
  post_sync([&] {
    server->publish(failed);
    server->publish(join);
    server->publish(other);
    server->publish(deploy);
  });
  auto h = c.header();
  EXPECT_EQ(h.seq, 3u);
  auto rec = rpc::decode<rpc::MemberEventRecord>(*c.next());
  ASSERT_TRUE(rec.ok());
  EXPECT_EQ(rec->event, "member-join");
  ASSERT_EQ(rec->members.size(), 1u);
  EXPECT_EQ(rec->members[0].name, "backend1");
  EXPECT_EQ(rec->members[0].addr, (Bytes{127, 0, 0, 12}));
  h = c.header();
  EXPECT_EQ(h.seq, 3u);
  auto user = rpc::decode<rpc::UserEventRecord>(*c.next());
  ASSERT_TRUE(user.ok());
  EXPECT_EQ(user->name, "deploy");
  EXPECT_EQ(user->ltime, 4u);
  EXPECT_TRUE(user->coalesce);
  EXPECT_EQ(user->payload, (Bytes{'v', '1'}));
  rpc::StopRequest stop{3};
  c.send("stop", 4, &stop);
  h = c.header();
  EXPECT_EQ(h.seq, 4u);
  post_sync([&] { server->publish(join); });
  c.send("members", 5);
  h = c.header();
  EXPECT_EQ(h.seq, 5u);  // nothing streamed after stop
  auto members = rpc::decode<rpc::MembersResponse>(*c.next());
  ASSERT_TRUE(members.ok());
  EXPECT_EQ(members->members.size(), 4u);
}

TEST_F(RpcFixture, MonitorReplaysAndStreamsLogLines) {
  start();
  post_sync([&] { server->log("[INFO] herd: first"); });
  RawClient c(server->port());
  rpc::HandshakeRequest ok{1};
  c.send("handshake", 1, &ok);
  EXPECT_EQ(c.header().error, "");
  rpc::MonitorRequest m{"debug"};
  c.send("monitor", 2, &m);
  EXPECT_EQ(c.header().error, "");
  EXPECT_EQ(c.header().seq, 2u);
  auto line = rpc::decode<rpc::LogRecord>(*c.next());
  ASSERT_TRUE(line.ok());
  EXPECT_EQ(line->log, "[INFO] herd: first");
  post_sync([&] { server->log("[INFO] herd: second"); });
  EXPECT_EQ(c.header().seq, 2u);
  EXPECT_EQ(rpc::decode<rpc::LogRecord>(*c.next())->log, "[INFO] herd: second");
}

TEST_F(RpcFixture, ListenErrorNamesAddress) {
  RpcServer s(io, backend);
  std::string err = s.listen("not-an-ip", 7373);
  EXPECT_NE(err.find("not-an-ip:7373"), std::string::npos) << err;
}

}  // namespace
}  // namespace herd::membership
