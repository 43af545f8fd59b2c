// tests/unit/dns/message_test.cpp — dns/message.h: queries as herd sends
// them and responses parsed, hostile ones refused without a crash.
#include "dns/message.h"

#include <gtest/gtest.h>

#include <string>

namespace herd::dns {
namespace {

std::string u16(uint16_t v) { return {static_cast<char>(v >> 8), static_cast<char>(v & 0xff)}; }
std::string u32(uint32_t v) { return u16(static_cast<uint16_t>(v >> 16)) + u16(v & 0xffff); }
std::string wire_name(const std::string& n) {
  std::string out;
  size_t b = 0;
  while (b <= n.size()) {
    size_t e = n.find('.', b);
    if (e == std::string::npos) e = n.size();
    out += static_cast<char>(e - b);
    out += n.substr(b, e - b);
    b = e + 1;
  }
  return out + '\0';
}
std::string header(uint16_t id, uint16_t flags, uint16_t qd, uint16_t an) {
  return u16(id) + u16(flags) + u16(qd) + u16(an) + u16(0) + u16(0);
}
std::string question(const std::string& name, RType t) {
  return wire_name(name) + u16(static_cast<uint16_t>(t)) + u16(1);
}
// An answer record whose owner is a pointer to offset 12 (the question name).
std::string rr_ptr(RType t, const std::string& data, uint16_t owner = 12) {
  return u16(static_cast<uint16_t>(0xc000 | owner)) + u16(static_cast<uint16_t>(t)) + u16(1) +
         u32(60) + u16(static_cast<uint16_t>(data.size())) + data;
}
const std::string kV4a = std::string("\x7f\x00\x00\x02", 4);
const std::string kV4b = std::string("\x7f\x00\x00\x03", 4);

TEST(DnsQuery, EncodesNameTypeAndEdns) {
  const std::string opt512 = std::string(1, '\0') + u16(41) + u16(512) + u32(0) + u16(0);
  std::string q = build_query(0x1234, "App.Test.", RType::A, 512);
  EXPECT_EQ(q, header(0x1234, 0x0100, 1, 0).replace(10, 2, u16(1)) +
                   question("app.test", RType::A) + opt512);
  std::string e = build_query(7, "app.test", RType::Aaaa, 4096);
  EXPECT_EQ(e.substr(0, 12), header(7, 0x0100, 1, 0).replace(10, 2, u16(1)));
  EXPECT_EQ(e.substr(e.size() - 11), std::string(1, '\0') + u16(41) + u16(4096) + u32(0) + u16(0));
}

TEST(DnsQuery, RefusesUnencodableNames) {
  EXPECT_TRUE(build_query(1, "", RType::A, 512).empty());
  EXPECT_TRUE(build_query(1, "a..b", RType::A, 512).empty());
  EXPECT_TRUE(build_query(1, std::string(64, 'a') + ".test", RType::A, 512).empty());
  std::string long_name;
  for (int i = 0; i < 51; ++i) long_name += "abcd.";  // 1 + 51 * 5 + 2 > 255
  long_name += "x";
  EXPECT_TRUE(build_query(1, long_name, RType::A, 512).empty());
}

TEST(DnsResponse, ValidAnswersInOrder) {
  std::string p = header(9, 0x8180, 1, 2) + question("app.test", RType::A) +
                  rr_ptr(RType::A, kV4a) + rr_ptr(RType::A, kV4b);
  Response r = parse_response(p, 9, "APP.test", RType::A);
  ASSERT_EQ(r.status, Response::Status::Valid) << r.error;
  ASSERT_EQ(r.addresses.size(), 2u);
  EXPECT_EQ(r.addresses[0].text(), "127.0.0.2");
  EXPECT_EQ(r.addresses[1].text(), "127.0.0.3");
  EXPECT_EQ(r.addresses[0].ttl, 60u);
}

TEST(DnsResponse, Aaaa) {
  std::string v6(16, '\0');
  v6[15] = 1;
  std::string p =
      header(3, 0x8180, 1, 1) + question("app.test", RType::Aaaa) + rr_ptr(RType::Aaaa, v6);
  Response r = parse_response(p, 3, "app.test", RType::Aaaa);
  ASSERT_EQ(r.status, Response::Status::Valid);
  EXPECT_EQ(r.addresses[0].text(), "::1");
  EXPECT_TRUE(r.addresses[0].v6);
}

TEST(DnsResponse, FollowsCnameChain) {
  // app.test CNAME real.test; real.test A 127.0.0.2; other.test A ignored.
  std::string q = header(5, 0x8180, 1, 3) + question("app.test", RType::A);
  std::string cname = rr_ptr(RType::Cname, wire_name("real.test"));
  size_t real_at = q.size() + 12;  // the CNAME target's offset
  std::string a =
      u16(static_cast<uint16_t>(0xc000 | real_at)) + u16(1) + u16(1) + u32(5) + u16(4) + kV4a;
  std::string other = wire_name("other.test") + u16(1) + u16(1) + u32(5) + u16(4) + kV4b;
  Response r = parse_response(q + cname + a + other, 5, "app.test", RType::A);
  ASSERT_EQ(r.status, Response::Status::Valid) << r.error;
  ASSERT_EQ(r.addresses.size(), 1u);
  EXPECT_EQ(r.addresses[0].text(), "127.0.0.2");
}

TEST(DnsResponse, Rcodes) {
  auto with = [](uint16_t flags) {
    return parse_response(header(1, flags, 1, 0) + question("a.test", RType::A), 1, "a.test",
                          RType::A)
        .status;
  };
  EXPECT_EQ(with(0x8183), Response::Status::Nx);
  EXPECT_EQ(with(0x8185), Response::Status::Refused);
  EXPECT_EQ(with(0x8182), Response::Status::Other);
  EXPECT_EQ(with(0x8180), Response::Status::NoRecord);
  EXPECT_EQ(with(0x8380), Response::Status::Truncated);
}

TEST(DnsResponse, OnlyTheAskedTypeAndName) {
  std::string v6(16, '\0');
  std::string p = header(1, 0x8180, 1, 1) + question("a.test", RType::A) + rr_ptr(RType::Aaaa, v6);
  EXPECT_EQ(parse_response(p, 1, "a.test", RType::A).status, Response::Status::NoRecord);
  EXPECT_EQ(parse_response(p, 2, "a.test", RType::A).status, Response::Status::Invalid);
  EXPECT_EQ(parse_response(p, 1, "b.test", RType::A).status, Response::Status::Invalid);
  EXPECT_EQ(parse_response(p, 1, "a.test", RType::Aaaa).status, Response::Status::Invalid);
  std::string query = header(1, 0x0100, 1, 0) + question("a.test", RType::A);
  EXPECT_EQ(parse_response(query, 1, "a.test", RType::A).error, "not a response");
}

TEST(DnsResponse, HostilePacketsAreRefused) {
  const std::string q = header(1, 0x8180, 1, 1) + question("a.test", RType::A);
  // A pointer to itself, forwards, and a loop of two pointers.
  std::string self =
      q + u16(static_cast<uint16_t>(0xc000 | q.size())) + u16(1) + u16(1) + u32(1) + u16(4) + kV4a;
  EXPECT_EQ(parse_response(self, 1, "a.test", RType::A).status, Response::Status::Invalid);
  std::string fwd = q + u16(0xc000 | 0x3fff) + u16(1) + u16(1) + u32(1) + u16(4) + kV4a;
  EXPECT_EQ(parse_response(fwd, 1, "a.test", RType::A).status, Response::Status::Invalid);
  std::string loop = q;
  size_t a = loop.size();
  loop += u16(static_cast<uint16_t>(0xc000 | (a + 2))) + u16(static_cast<uint16_t>(0xc000 | a));
  loop += u16(1) + u16(1) + u32(1) + u16(4) + kV4a;
  EXPECT_EQ(parse_response(loop, 1, "a.test", RType::A).status, Response::Status::Invalid);
  // Record data past the end, a wrong address length, a lying count.
  std::string past = q + u16(0xc00c) + u16(1) + u16(1) + u32(1) + u16(400) + kV4a;
  EXPECT_EQ(parse_response(past, 1, "a.test", RType::A).error, "record data past the end");
  std::string len5 = q + rr_ptr(RType::A, kV4a + "x");
  EXPECT_EQ(parse_response(len5, 1, "a.test", RType::A).error, "bad address length");
  std::string many = header(1, 0x8180, 1, 60000) + question("a.test", RType::A);
  EXPECT_EQ(parse_response(many, 1, "a.test", RType::A).error, "answer count too big");
  // Every prefix of a valid packet is refused or parsed, never read past.
  std::string ok = q + rr_ptr(RType::A, kV4a);
  for (size_t n = 0; n < ok.size(); ++n)
    EXPECT_NE(parse_response(ok.substr(0, n), 1, "a.test", RType::A).status,
              Response::Status::Valid);
  // A CNAME loop.
  std::string cl = header(1, 0x8180, 1, 2) + question("a.test", RType::A);
  std::string c1 = rr_ptr(RType::Cname, wire_name("b.test"));
  size_t b_at = cl.size() + 12;
  std::string c2 =
      u16(static_cast<uint16_t>(0xc000 | b_at)) + u16(5) + u16(1) + u32(1) + u16(2) + u16(0xc00c);
  EXPECT_EQ(parse_response(cl + c1 + c2, 1, "a.test", RType::A).error, "CNAME loop");
}

}  // namespace
}  // namespace herd::dns
