// Replays every block of haproxy-captures/config-check-messages.txt through
// the parser: same diagnostics (text and order) and the same exit code.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "config/parser.h"
#include "test_data.h"

namespace herd::config {
namespace {

struct Block {
  std::string name;
  std::string config;
  std::vector<std::string> stderr_lines;
  int exit_code = -1;
};

std::vector<Block> load_blocks() {
  std::istringstream in(herd::testing::read_data("haproxy-captures/config-check-messages.txt"));
  std::vector<Block> out;
  std::string line;
  enum { None, Config, Stdout, Stderr } where = None;
  while (std::getline(in, line)) {
    if (line.rfind("=================== ", 0) == 0) {
      out.push_back(Block{line.substr(20), "", {}, -1});
      where = Config;
    } else if (out.empty()) {
      continue;
    } else if (line == "--- stdout:") {
      where = Stdout;
    } else if (line == "--- stderr:") {
      where = Stderr;
    } else if (line.rfind("--- exit code: ", 0) == 0) {
      out.back().exit_code = std::stoi(line.substr(15));
      where = None;
    } else if (where == Config) {
      size_t tab = line.find('\t');
      out.back().config += (tab == std::string::npos ? "" : line.substr(tab + 1)) + "\n";
    } else if (where == Stderr) {
      out.back().stderr_lines.push_back(line);
    }
  }
  return out;
}

ParseOptions no_env() {
  ParseOptions o;
  o.env = [](const std::string&) -> std::optional<std::string> { return std::nullopt; };
  return o;
}

TEST(Captures, EveryConfigCheckBlockMatches) {
  auto blocks = load_blocks();
  ASSERT_GE(blocks.size(), 10u);
  int checked = 0;
  for (const auto& b : blocks) {
    if (b.name == "nonexistent file" || b.name.find(" with -q") != std::string::npos) continue;
    SCOPED_TRACE(b.name);
    ParseResult r = parse_text(b.config, b.name, no_env());
    EXPECT_EQ(check_exit_code(r), b.exit_code);
    // Expected: every non-NOTICE stderr line, with the capture's pid.
    std::string expected, pid_text;
    for (const auto& l : b.stderr_lines) {
      if (l.rfind("[NOTICE]", 0) == 0) continue;
      expected += l + "\n";
      if (pid_text.empty() && l[0] == '[') pid_text = l.substr(l.find('(') + 1);
    }
    int pid = pid_text.empty() ? 0 : std::stoi(pid_text);
    std::string got;
    for (const auto& d : r.diags) got += format_diagnostic(d, pid) + "\n";
    EXPECT_EQ(got, expected);
    ++checked;
  }
  EXPECT_EQ(checked, 11);
}

TEST(Captures, NonexistentFile) {
  ParseResult r = parse_paths({"/nonexistent.cfg"});
  EXPECT_EQ(check_exit_code(r), 1);
  ASSERT_EQ(r.diags.size(), 1u);
  EXPECT_EQ(format_diagnostic(r.diags[0], 27862),
            "[ALERT]    (27862) : config : Cannot open configuration file/directory "
            "/nonexistent.cfg : No such file or directory");
}

TEST(Captures, CheckReportOutput) {
  auto blocks = load_blocks();
  for (const auto& b : blocks) {
    if (b.name != "warn_timeouts.cfg" && b.name != "empty.cfg" && b.name != "good.cfg") continue;
    ParseResult r = parse_text(b.config, b.name, no_env());
    std::ostringstream out, err;
    int rc = write_check_report(r, 1, false, out, err);
    EXPECT_EQ(rc, b.exit_code);
    std::string want = b.name == "warn_timeouts.cfg"
                           ? "Warnings were found.\nConfiguration file is valid\n"
                       : b.name == "good.cfg"
                           ? "Configuration file is valid\n"
                           : "Configuration file has no error but will not start (no listener) "
                             "=> exit(2).\n";
    EXPECT_EQ(out.str(), want);
    std::ostringstream q_out, q_err;
    write_check_report(r, 1, true, q_out, q_err);
    if (b.name == "good.cfg") {
      EXPECT_EQ(q_out.str(), "");
    }
  }
}

}  // namespace
}  // namespace herd::config
