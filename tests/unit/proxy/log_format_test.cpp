// Unit tests of the log line formats (proxy/engine.h): haproxy's tcplog and
// httplog layouts from one LogRecord.
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

}  // namespace
}  // namespace herd::proxy
