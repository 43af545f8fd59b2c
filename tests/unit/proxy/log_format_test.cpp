// Unit tests of the log line formats (proxy/engine.h): haproxy's tcplog and
// httplog layouts from one LogRecord.
#include "config/log_format.h"

#include <gtest/gtest.h>

#include "proxy/engine.h"

namespace herd::proxy {
namespace {

LogRecord record() {
  LogRecord r;
  r.client = "127.0.0.1:40000";
  r.accept_date = "06/Dec/2026:20:00:00.123";
  r.frontend = "fe";
  r.backend = "be";
  r.server = "s1";
  r.tr = 1;
  r.tw = 0;
  r.tc = 2;
  r.tres = 3;
  r.ta = 40;
  r.status = 200;
  r.bytes_out = 14;
  r.actconn = 1;
  r.feconn = 1;
  r.request_line = "GET / HTTP/1.1";
  return r;
}

TEST(LogFormat, TcplogHasQueueConnectTotalBytesAndTwoLetters) {
  LogRecord r = record();
  r.term[0] = 'C';
  r.term[1] = 'D';
  EXPECT_EQ(format_tcplog(r),
            "127.0.0.1:40000 [06/Dec/2026:20:00:00.123] fe be/s1 0/2/40 14 CD 1/1/0/0/0 0/0");
}

TEST(LogFormat, HttplogKeepsItsLayout) {
  EXPECT_EQ(format_httplog(record()),
            "127.0.0.1:40000 [06/Dec/2026:20:00:00.123] fe be/s1 1/0/2/3/40 200 14 - - ---- "
            "1/1/0/0/0 0/0 \"GET / HTTP/1.1\"");
}

config::LogFormat parsed(const std::string& s, bool http = true, bool merge = true) {
  config::LogFormat f;
  std::string err;
  EXPECT_TRUE(config::parse_log_format(s, http, merge, &f, &err)) << err;
  return f;
}

TEST(LogFormat, HttplogFormatGivesTheHttplogLine) {
  LogRecord r = record();
  config::Proxy fe;
  fe.req_captures = {10, 10};
  EXPECT_EQ(format_log(parsed(config::httplog_format()), r, &fe), format_httplog(r, &fe));
  EXPECT_EQ(format_log(parsed(config::httplog_format()), r, nullptr), format_httplog(r));
}

TEST(LogFormat, TcplogFormatGivesTheTcplogLine) {
  LogRecord r = record();
  r.http = false;
  r.term[0] = 'C';
  r.term[1] = 'D';
  EXPECT_EQ(format_log(parsed(config::tcplog_format(), false), r, nullptr), format_tcplog(r));
}

TEST(LogFormat, SeparatorsMergeAndEmptyValuesShowAsDash) {
  LogRecord r = record();
  // Spaces merge; nothing after a variable that printed nothing (%hr with
  // no capture); %% and quoting.
  EXPECT_EQ(format_log(parsed("%f   %hr %hs %b %%  x %{+Q}ID %ID %{+Q}o %s %{-Q}s"), r, nullptr),
            "fe be % x \"\" - \"s1\" s1");
  EXPECT_EQ(format_log(parsed("%{+X}ci:%{+X}cp %ci"), r, nullptr), "7F000001:9C40 127.0.0.1");
  EXPECT_EQ(format_log(parsed("%HM|%HU|%HP|%HQ|%HV|%{+Q}r"), r, nullptr),
            "GET|/|/||HTTP/1.1|\"GET / HTTP/1.1\"");
  r.request_line = "GET /a\"b?x=1 HTTP/1.1";
  EXPECT_EQ(format_log(parsed("%r %HP %HQ %{+E,+Q}HU"), r, nullptr),
            "GET /a#22b?x=1 HTTP/1.1 /a#22b ?x=1 \"/a#22b?x=1\"");
}

TEST(LogFormat, ParseErrorsAreHaproxys) {
  config::LogFormat f;
  std::string err;
  EXPECT_FALSE(config::parse_log_format("%Z", true, true, &f, &err));
  EXPECT_EQ(err,
            "no such format variable 'Z'. If you wanted to emit the '%' character verbatim, you "
            "need to use '%%'");
  EXPECT_FALSE(config::parse_log_format("%ci %r", false, true, &f, &err));
  EXPECT_EQ(err, "format variable 'r' is reserved for HTTP mode");
  EXPECT_FALSE(config::parse_log_format("%{+Q", true, true, &f, &err));
  EXPECT_EQ(err, "truncated line after '+Q'");
  EXPECT_FALSE(config::parse_log_format("%[src", true, true, &f, &err));
  EXPECT_EQ(err, "missing ']' after 'src'");
}

TEST(LogFormat, UniqueIdFormatEncodesSamplesAndShowsNothingForEmptyValues) {
  LogRecord r = record();
  r.samples = {std::string("a\nb")};
  EXPECT_EQ(format_log(parsed("%ci  %{+Q}[src] %ID %{+Q}b"), r, nullptr, false),
            "127.0.0.1 a%0Ab  \"be\"");
}

}  // namespace
}  // namespace herd::proxy
