// Unit tests of stats/server_state_file.h's parser (the loading itself is
// compared with haproxy 2.6 by tests/integration/test_server_state_file.py).
#include "stats/server_state_file.h"

#include <gtest/gtest.h>

namespace herd::stats {
namespace {

const char* kHeader =
    "# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight "
    "srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health "
    "srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord "
    "srv_use_ssl srv_check_port srv_check_addr srv_agent_addr srv_agent_port\n";

TEST(ServerStateFile, ParsesFormatOne) {
  std::vector<ServerStateLine> lines;
  std::string text = std::string("1\n") + kHeader +
                     "3 b 1 s1 127.0.0.1 0 1 7 7 0 1 0 0 0 0 0 0 - 39432 - 0 0 - - 0\n"
                     "\n"
                     "3 b 3 s3 127.0.0.9 2 8 3 5 1 1 0 2 2 0 0 0 - 4444 - 0 5555 10.0.0.1 - 0\n";
  ASSERT_EQ(parse_server_state_file(text, &lines), "");
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0].backend, "b");
  EXPECT_EQ(lines[0].server, "s1");
  EXPECT_EQ(lines[0].op, 0);
  EXPECT_EQ(lines[0].admin, 1);
  EXPECT_EQ(lines[0].uweight, 7);
  EXPECT_EQ(lines[0].port, 39432);
  EXPECT_EQ(lines[0].check_addr, "-");
  EXPECT_EQ(lines[1].addr, "127.0.0.9");
  EXPECT_EQ(lines[1].iweight, 5);
  EXPECT_EQ(lines[1].check_state, 2);
  EXPECT_EQ(lines[1].check_port, 5555);
  EXPECT_EQ(lines[1].check_addr, "10.0.0.1");
}

TEST(ServerStateFile, RejectsWholeFiles) {
  std::vector<ServerStateLine> lines;
  EXPECT_EQ(parse_server_state_file("", &lines), "version");
  EXPECT_EQ(parse_server_state_file("2\n", &lines), "version");
  EXPECT_EQ(parse_server_state_file("x\n", &lines), "version");
  // Lines are numbered from the one after the version, as HAProxy does.
  EXPECT_EQ(parse_server_state_file(std::string("1\n") + kHeader +
                                        "3 b 1 s1 127.0.0.1 0 1 7 7 0 1 0 0 0 0 0 0 - 1 - 0 0 "
                                        "- - 0\n3 b 1 s1 garbage\n",
                                    &lines),
            "line 3");
  EXPECT_TRUE(lines.empty());
  EXPECT_EQ(
      parse_server_state_file("1\n3 b 1 s1 127.0.0.1 x 1 7 7 0 1 0 0 0 0 0 0 - 1 - 0 0\n", &lines),
      "line 1");
  EXPECT_EQ(parse_server_state_file("1\n3 b 1 s1 127.0.0.1 2 0 999 7 0 1 0 0 0 0 0 0 - 1 - 0 0\n",
                                    &lines),
            "line 1");
}

}  // namespace
}  // namespace herd::stats
