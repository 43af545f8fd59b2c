// Unit tests of app/master_cli.h: `show proc` in HAProxy 2.6's layout (the
// integration test test_master_cli.py compares it with the real binary's),
// command splitting and `@` prefix routing.
#include "app/master_cli.h"

#include <gtest/gtest.h>

namespace herd::app {
namespace {

TEST(MasterCli, UptimeText) {
  EXPECT_EQ(uptime_text(0), "0d00h00m00s");
  EXPECT_EQ(uptime_text(6), "0d00h00m06s");
  EXPECT_EQ(uptime_text(86400 * 3 + 3600 * 4 + 60 * 5 + 9), "3d04h05m09s");
  EXPECT_EQ(uptime_text(-2), "0d00h00m00s");
}

TEST(MasterCli, ShowProcLayout) {
  ProcTable t;
  t.version = "2.6.12-1+deb12u4";
  t.master = {8423, 2, 6};
  t.workers = {{8568, 0, 1}};
  EXPECT_EQ(show_proc(t),
            "#<PID>          <type>          <reloads>       <uptime>        <version>      \n"
            "8423            master          2 [failed: 0]   0d00h00m06s     2.6.12-1+deb12u4\n"
            "# workers\n"
            "8568            worker          0               0d00h00m01s     2.6.12-1+deb12u4\n"
            "# programs\n"
            "\n");
  t.old_workers = {{8435, 1, 5}};
  t.failed_reloads = 1;
  t.version = "0.1";
  std::string out = show_proc(t);
  EXPECT_NE(out.find("8423            master          2 [failed: 1]   0d00h00m06s     0.1" +
                     std::string(12, ' ') + "\n"),  // %-15s
            std::string::npos)
      << out;
  EXPECT_NE(out.find("# workers\n8568 "), std::string::npos);
  EXPECT_NE(out.find("# old workers\n8435            worker          1               "),
            std::string::npos)
      << out;
}

TEST(MasterCli, SplitCommands) {
  EXPECT_EQ(split_commands("show proc"), std::vector<std::string>{"show proc"});
  EXPECT_EQ(split_commands(" @1 show info ; show proc;;\r"),
            (std::vector<std::string>{"@1 show info", "show proc"}));
  EXPECT_EQ(split_commands("@1 set var a\\;b"), std::vector<std::string>{"@1 set var a;b"});
  EXPECT_TRUE(split_commands("  ;  ").empty());
}

TEST(MasterCli, RouteCommand) {
  using K = CliTarget::Kind;
  std::set<pid_t> olds{90};
  auto t = route_command("show proc", 100, olds);
  EXPECT_EQ(t.kind, K::Master);
  EXPECT_EQ(t.command, "show proc");
  t = route_command("@master show version", 100, olds);
  EXPECT_EQ(t.kind, K::Master);
  EXPECT_EQ(t.command, "show version");
  t = route_command("@1 show info", 100, olds);
  EXPECT_EQ(t.kind, K::Worker);
  EXPECT_EQ(t.pid, 100);
  EXPECT_EQ(t.command, "show info");
  t = route_command("@!100   show stat", 100, olds);
  EXPECT_EQ(t.kind, K::Worker);
  EXPECT_EQ(t.command, "show stat");
  t = route_command("@!99999 show info", 100, olds);
  EXPECT_EQ(t.kind, K::Error);
  EXPECT_EQ(t.error, "Can't find the target PID matching the prefix '@!99999'\n");
  EXPECT_EQ(route_command("@2 show info", 100, olds).error,
            "Can't find the target PID matching the prefix '@2'\n");
  EXPECT_EQ(route_command("@x show info", 100, olds).kind, K::Error);
  EXPECT_EQ(route_command("@!-5 show info", 100, olds).kind, K::Error);
  EXPECT_EQ(route_command("@1 show info", -1, olds).kind, K::Error);  // no worker now
  t = route_command("@!90 show info", 100, olds);  // an old worker, still finishing
  EXPECT_EQ(t.kind, K::Worker);
  EXPECT_EQ(t.pid, 90);
  EXPECT_EQ(worker_cli_path("/tmp/m.sock", 90), "/tmp/m.sock.90");
  t = route_command("@1", 100, olds);  // HAProxy's interactive mode: not in herd
  EXPECT_EQ(t.kind, K::Error);
  EXPECT_EQ(route_command("@0 show proc", 100, olds).kind, K::Master);
}

}  // namespace
}  // namespace herd::app
