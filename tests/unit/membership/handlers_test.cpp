// tests/unit/membership/handlers_test.cpp — Serf-compatible event handlers:
// filter syntax, the exact stdin/env serf 0.8.2 gives a script (recorded
// from a real `serf agent -event-handler`, and compared live when the serf
// binary is installed), and running scripts off the calling thread.
#include "membership/handlers.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

namespace herd::membership {
namespace {

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

MemberInfo self_a1() {
  MemberInfo self;
  self.name = "a1";
  self.addr = "127.0.0.5";
  self.tags = {{"role", "balancer"}, {"dc", "lab"}};
  return self;
}

TEST(Handlers, ParseSerfSyntax) {
  auto h = parse_handler("/path/all.sh");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->script, "/path/all.sh");
  ASSERT_EQ(h->filters.size(), 1u);
  EXPECT_EQ(h->filters[0].event, "*");

  h = parse_handler("member-join,member-leave=/x.sh arg");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->script, "/x.sh arg");
  EXPECT_EQ(h->filters, (std::vector<EventFilter>{{"member-join", ""}, {"member-leave", ""}}));

  h = parse_handler("user:deploy=/d.sh");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->filters, (std::vector<EventFilter>{{"user", "deploy"}}));
  MemberEvent deploy{MemberEvent::Type::User, {}, "deploy", "", 1, false, 0};
  MemberEvent other{MemberEvent::Type::User, {}, "other", "", 1, false, 0};
  EXPECT_TRUE(h->matches(deploy));
  EXPECT_FALSE(h->matches(other));
  EXPECT_TRUE(parse_handler("query:q=/q.sh")
                  ->matches({MemberEvent::Type::Query, {}, "q", "", 1, false, 0}));
  EXPECT_TRUE(parse_handler("user=/u.sh")->matches(other));
  EXPECT_FALSE(parse_handler("member-join=/j.sh")->matches(other));

  std::string err;
  EXPECT_FALSE(parse_handler("member-joined=/x", &err));
  EXPECT_NE(err.find("invalid event filter 'member-joined'"), std::string::npos);
  EXPECT_FALSE(parse_handler("member-join=", &err));
  EXPECT_FALSE(parse_handler("", &err));
}

TEST(Handlers, TagEnvNames) {
  EXPECT_EQ(tag_env_name("role"), "SERF_TAG_ROLE");
  EXPECT_EQ(tag_env_name("my-tag.x"), "SERF_TAG_MY_TAG_X");
  EXPECT_EQ(tag_env_name("a_1"), "SERF_TAG_A_1");
  EXPECT_EQ(tag_env_name("caf\xc3\xa9"), "SERF_TAG_CAF_");
}

// Recorded from serf 0.8.2: `serf agent -node a1 -tag role=balancer -tag
// dc=lab -event-handler dump.sh`, then b1 (-tag role=backend -tag port=3000)
// joined, `serf event deploy "hello world"`, `serf query q1 qpayload`.
TEST(Handlers, MemberJoinMatchesRecordedSerf) {
  MemberInfo b1;
  b1.name = "b1";
  b1.addr = "127.0.0.6";
  b1.tags = {{"role", "backend"}, {"port", "3000"}};
  MemberEvent ev{MemberEvent::Type::Join, {b1}, "", "", 0, false, 0};
  Invocation inv = build_invocation("/h.sh", self_a1(), ev);
  // serf writes tags in Go map order; herd sorts them.
  EXPECT_EQ(inv.stdin_data, "b1\t127.0.0.6\tbackend\tport=3000,role=backend\n");
  auto env = inv.env_extra;
  std::sort(env.begin(), env.end());
  EXPECT_EQ(env, (std::vector<std::string>{"SERF_EVENT=member-join", "SERF_SELF_NAME=a1",
                                           "SERF_SELF_ROLE=balancer", "SERF_TAG_DC=lab",
                                           "SERF_TAG_ROLE=balancer"}));
  // No role tag: empty role column; tabs/newlines escaped as serf's eventClean.
  MemberInfo odd;
  odd.name = "x\ty";
  odd.addr = "fd00::1";
  odd.tags = {{"k", "a\nb"}};
  EXPECT_EQ(member_event_stdin({odd, b1}),
            "x\\ty\tfd00::1\t\tk=a\\nb\nb1\t127.0.0.6\tbackend\tport=3000,role=backend\n");
}

TEST(Handlers, UserEventAndQueryMatchRecordedSerf) {
  MemberEvent user{MemberEvent::Type::User, {}, "deploy", "hello world", 1, true, 0};
  Invocation inv = build_invocation("/h.sh", self_a1(), user);
  EXPECT_EQ(inv.event, "user");
  EXPECT_EQ(inv.stdin_data, "hello world\n");
  auto env = inv.env_extra;
  std::sort(env.begin(), env.end());
  EXPECT_EQ(
      env, (std::vector<std::string>{
               "SERF_EVENT=user", "SERF_SELF_NAME=a1", "SERF_SELF_ROLE=balancer", "SERF_TAG_DC=lab",
               "SERF_TAG_ROLE=balancer", "SERF_USER_EVENT=deploy", "SERF_USER_LTIME=1"}));
  MemberEvent q{MemberEvent::Type::Query, {}, "q1", "qpayload", 1, false, 42};
  inv = build_invocation("/h.sh", self_a1(), q);
  EXPECT_EQ(inv.stdin_data, "qpayload\n");
  EXPECT_TRUE(inv.is_query);
  EXPECT_EQ(inv.query_id, 42u);
  env = inv.env_extra;
  std::sort(env.begin(), env.end());
  EXPECT_EQ(
      env, (std::vector<std::string>{"SERF_EVENT=query", "SERF_QUERY_LTIME=1", "SERF_QUERY_NAME=q1",
                                     "SERF_SELF_NAME=a1", "SERF_SELF_ROLE=balancer",
                                     "SERF_TAG_DC=lab", "SERF_TAG_ROLE=balancer"}));
  // Payload already ending in a newline, and an empty one, are left alone.
  user.payload = "x\n";
  EXPECT_EQ(build_invocation("/h.sh", self_a1(), user).stdin_data, "x\n");
  user.payload = "";
  EXPECT_EQ(build_invocation("/h.sh", self_a1(), user).stdin_data, "");
}

TEST(Handlers, RunsScriptWithStdinEnvAndOutput) {
  auto dir = std::filesystem::temp_directory_path() / ("herd-handlers-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  std::string out = (dir / "out").string();
  setenv("HERD_TEST_INHERITED", "yes", 1);
  setenv("SERF_EVENT", "stale", 1);  // ours wins, as in Go's exec
  MemberInfo b1;
  b1.name = "b1";
  b1.addr = "10.0.0.2";
  b1.tags = {{"role", "backend"}};
  std::vector<InvocationResult> done;
  std::mutex mu;
  {
    Handlers h({*parse_handler("member-join=cat > " + out +
                               ".stdin; env | grep -E "
                               "'^(SERF_|HERD_TEST)' | sort > " +
                               out + ".env; echo hi; exit 3"),
                *parse_handler("member-leave=/bin/true")},
               [&](const InvocationResult& r) {
                 std::lock_guard lk(mu);
                 done.push_back(r);
               });
    auto t0 = std::chrono::steady_clock::now();
    EXPECT_EQ(h.dispatch({MemberEvent::Type::Join, {b1}, "", "", 0, false, 0}, self_a1()), 1);
    EXPECT_LT(std::chrono::steady_clock::now() - t0,
              std::chrono::milliseconds(50));  // non-blocking
    EXPECT_EQ(h.dispatch({MemberEvent::Type::User, {}, "x", "", 0, false, 0}, self_a1()), 0);
    h.wait_idle();
  }
  unsetenv("SERF_EVENT");
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].exit_code, 3);
  EXPECT_EQ(done[0].output, "hi\n");
  EXPECT_EQ(slurp(out + ".stdin"), "b1\t10.0.0.2\tbackend\trole=backend\n");
  EXPECT_EQ(slurp(out + ".env"),
            "HERD_TEST_INHERITED=yes\nSERF_EVENT=member-join\nSERF_SELF_NAME=a1\n"
            "SERF_SELF_ROLE=balancer\nSERF_TAG_DC=lab\nSERF_TAG_ROLE=balancer\n");
  std::filesystem::remove_all(dir);
}

TEST(Handlers, ScriptIgnoringLargeStdinDoesNotKillUs) {
  Invocation inv;
  inv.script = "exit 0";
  inv.stdin_data.assign(1 << 20, 'x');  // more than a pipe holds
  InvocationResult r = Handlers::run(inv);
  EXPECT_EQ(r.exit_code, 0);
}

TEST(Handlers, RunsInEventOrderOneAtATime) {
  auto path = std::filesystem::temp_directory_path() / ("herd-order-" + std::to_string(getpid()));
  std::filesystem::remove(path);
  {
    Handlers h({*parse_handler("sleep 0.05; echo $SERF_USER_EVENT >> " + path.string())});
    for (int i = 0; i < 5; ++i)
      h.dispatch({MemberEvent::Type::User, {}, "e" + std::to_string(i), "", 0, false, 0},
                 self_a1());
    h.wait_idle();
  }
  EXPECT_EQ(slurp(path.string()), "e0\ne1\ne2\ne3\ne4\n");
  std::filesystem::remove(path);
}

// Live comparison with the real serf agent (loopback; skipped without serf).
TEST(Handlers, MatchesLiveSerfAgent) {
  if (access("/usr/bin/serf", X_OK) != 0) GTEST_SKIP() << "serf not installed";
  auto dir = std::filesystem::temp_directory_path() / ("herd-serf-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  std::string d = dir.string();
  std::string dump =
      "f=" + d + "/$SERF_EVENT.$$; cat > $f.stdin; env | grep '^SERF_' | sort > $f.env";
  int port = 20000 + getpid() % 20000;
  auto spawn = [&](std::vector<std::string> args) -> pid_t {
    pid_t pid = fork();
    if (pid == 0) {
      std::string log = d + "/agent" + args[1] + ".log";
      if (!freopen(log.c_str(), "w", stdout) || !freopen(log.c_str(), "a", stderr)) _exit(126);
      std::vector<char*> argv;
      argv.push_back(const_cast<char*>("serf"));
      argv.push_back(const_cast<char*>("agent"));
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv("/usr/bin/serf", argv.data());
      _exit(127);
    }
    return pid;
  };
  std::string a_bind = "127.0.0.5:" + std::to_string(port);
  pid_t a =
      spawn({"-node", "a1", "-bind", a_bind, "-rpc-addr", "127.0.0.5:" + std::to_string(port + 1),
             "-tag", "role=balancer", "-tag", "dc=lab", "-event-handler", "member-join=" + dump});
  std::this_thread::sleep_for(std::chrono::milliseconds(700));
  pid_t b =
      spawn({"-node", "b1", "-bind", "127.0.0.6:" + std::to_string(port), "-rpc-addr",
             "127.0.0.6:" + std::to_string(port + 1), "-tag", "role=backend", "-join", a_bind});
  // serf coalesces member events: b1's line may share a run with a1's.
  std::string stdin_b1, b1_line;
  for (int i = 0; i < 50 && stdin_b1.empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    for (const auto& e : std::filesystem::directory_iterator(dir)) {
      if (e.path().extension() != ".stdin") continue;
      std::istringstream in(slurp(e.path().string()));
      for (std::string line; std::getline(in, line);)
        if (line.starts_with("b1\t")) {
          stdin_b1 = e.path().string();
          b1_line = line + "\n";
        }
    }
  }
  // The script writes .stdin, then .env.
  std::string env_path =
      stdin_b1.empty() ? std::string() : stdin_b1.substr(0, stdin_b1.size() - 6) + ".env";
  for (int i = 0;
       i < 40 && !env_path.empty() && slurp(env_path).find("SERF_TAG_ROLE") == std::string::npos;
       ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  kill(b, SIGKILL);
  kill(a, SIGKILL);
  waitpid(b, nullptr, 0);
  waitpid(a, nullptr, 0);
  if (stdin_b1.empty()) {
    std::filesystem::remove_all(dir);
    GTEST_SKIP() << "serf agents did not join on loopback";
  }
  MemberInfo b1;
  b1.name = "b1";
  b1.addr = "127.0.0.6";
  b1.tags = {{"role", "backend"}};
  Invocation inv =
      build_invocation("x", self_a1(), {MemberEvent::Type::Join, {b1}, "", "", 0, false, 0});
  EXPECT_EQ(b1_line, inv.stdin_data);
  auto env = inv.env_extra;
  std::sort(env.begin(), env.end());
  std::string expect;
  for (auto& e : env) expect += e + "\n";
  EXPECT_EQ(slurp(env_path), expect);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace herd::membership
