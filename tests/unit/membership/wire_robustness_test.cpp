// Hostile input: truncated and bit-flipped versions of every Serf vector
// (wire, plaintext and decompressed forms) go through every decoder. Each
// must reject or decode without crashing (run under ASan/UBSan:
// -DHERD_SANITIZE=address). Where the protocol authenticates (CRC, GCM), a
// flipped bit must be rejected.
#include <gtest/gtest.h>

#include <filesystem>
#include <random>

#include "membership/keyring.h"
#include "membership/lzw.h"
#include "membership/memberlist_msgs.h"
#include "membership/rpc_msgs.h"
#include "membership/serf_msgs.h"
#include "tests/unit/membership/vector_support.h"

namespace herd::membership {
namespace {

const Keyring& keyring() {
  static const Keyring kKeyring =
      std::move(*Keyring::from_base64({"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="}));
  return kKeyring;
}

template <class T>
void try_rpc(ByteView b) {
  (void)rpc::decode<T>(b);
}

// Runs every decoder over b; returns how many accepted it (ignored: the
// point is that nothing crashes or reads out of bounds).
void exercise(ByteView b) {
  memberlist::DecodeLimits limits;
  limits.max_decompressed = 32u << 10;
  if (auto p = memberlist::decode_packet(b, limits); p.ok()) {
    for (const auto& m : p->messages) {
      if (const auto* u = std::get_if<memberlist::UserMsg>(&m)) {
        if (auto s = serf::decode(u->payload); s.ok()) (void)serf::encode(*s);
      }
      if (const auto* a = std::get_if<memberlist::Alive>(&m)) (void)serf::decode_tags(a->meta);
      (void)memberlist::encode(m);
    }
  }
  (void)memberlist::decode(b);
  if (auto s = memberlist::unwrap_stream(b, 32u << 10); s.ok()) {
    if (auto pp = memberlist::decode_push_pull(*s); pp.ok()) {
      (void)serf::decode(pp->user_state);
      (void)memberlist::encode_push_pull(*pp);
    }
  }
  (void)memberlist::decode_push_pull(b);
  (void)memberlist::decode_stream_user(b);
  (void)memberlist::split_compound(b);
  (void)memberlist::unwrap_crc(b);
  (void)serf::decode(b);
  (void)serf::decode_tags(b);
  (void)serf::decode_ping_payload(b);
  (void)serf::decode_filter(b);
  (void)lzw_decompress(b, 32u << 10);
  (void)keyring().decrypt_packet(b);
  (void)keyring().decrypt_stream(b);

  rpc::StreamDecoder dec(64u << 10);
  dec.feed(b);
  while (auto obj = dec.next()) {
    if (!obj->ok()) break;
    const Bytes& o = obj->value();
    try_rpc<rpc::RequestHeader>(o);
    try_rpc<rpc::ResponseHeader>(o);
    try_rpc<rpc::MembersResponse>(o);
    try_rpc<rpc::MembersFilteredRequest>(o);
    try_rpc<rpc::StatsResponse>(o);
    try_rpc<rpc::QueryRequest>(o);
    try_rpc<rpc::MemberEventRecord>(o);
    try_rpc<rpc::UserEventRecord>(o);
    try_rpc<rpc::KeyResponse>(o);
    try_rpc<rpc::CoordinateResponse>(o);
    try_rpc<rpc::TagsRequest>(o);
  }
  msgpack::Reader r(b);
  msgpack::Value v;
  if (msgpack::read_value(r, v)) {
    msgpack::Writer w;
    msgpack::write_value(w, v);
  }
  msgpack::Reader r2(b);
  r2.skip();
}

std::vector<std::string> all_hex_files() {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(testing::vectors_dir())) {
    const std::string n = e.path().filename().string();
    if (n.size() > 4 && n.substr(n.size() - 4) == ".hex") out.push_back(n);
  }
  std::sort(out.begin(), out.end());
  return out;
}

TEST(WireRobustness, TruncatedVectorsNeverCrash) {
  const auto files = all_hex_files();
  ASSERT_GE(files.size(), 77u);
  for (const auto& f : files) {
    SCOPED_TRACE(f);
    const Bytes full = testing::read_vector(f);
    // Every prefix for small inputs; a spread of cut points for large ones.
    const std::size_t step = full.size() > 2048 ? full.size() / 128 : 1;
    for (std::size_t n = 0; n < full.size(); n += step) {
      // Copy so ASan sees the exact end of the buffer.
      const Bytes cut(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(n));
      exercise(cut);
    }
  }
}

TEST(WireRobustness, BitFlippedVectorsNeverCrash) {
  std::mt19937 rng(1234);
  for (const auto& f : all_hex_files()) {
    SCOPED_TRACE(f);
    const Bytes full = testing::read_vector(f);
    if (full.empty()) continue;
    // One flipped bit per byte position (bit chosen at random); large files
    // get 2048 random positions.
    const std::size_t flips = std::min<std::size_t>(full.size(), 2048);
    for (std::size_t i = 0; i < flips; ++i) {
      const std::size_t byte = full.size() <= 2048 ? i : rng() % full.size();
      Bytes m = full;
      m[byte] ^= static_cast<uint8_t>(1u << (rng() % 8));
      exercise(m);
    }
  }
}

TEST(WireRobustness, CrcRejectsEveryFlippedPayloadBit) {
  for (const auto& f : {"a04-udp-compound-alive-x2-crc.hex", "a13-udp-dead-self-left.hex",
                        "a05-udp-compound-compressed-crc.hex"}) {
    const Bytes full = testing::read_vector(f);
    for (std::size_t bit = 8; bit < full.size() * 8; ++bit) {
      Bytes m = full;
      m[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
      auto p = memberlist::decode_packet(m);
      ASSERT_FALSE(p.ok()) << f << " bit " << bit;
      EXPECT_EQ(p.error().code, WireErrc::kBadCrc);
    }
  }
}

TEST(WireRobustness, GcmRejectsEveryFlippedBit) {
  for (const auto& f : {"e01-udp-ping-encrypted.hex", "e04-udp-dead-left-encrypted.hex"}) {
    const Bytes full = testing::read_vector(f);
    for (std::size_t bit = 0; bit < full.size() * 8; ++bit) {
      Bytes m = full;
      m[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
      EXPECT_FALSE(keyring().decrypt_packet(m).ok()) << f << " bit " << bit;
    }
  }
  const Bytes stream = testing::read_vector("t07-tcp-pushpull-join-request-encrypted.hex");
  for (std::size_t bit = 0; bit < stream.size() * 8; bit += 7) {
    Bytes m = stream;
    m[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
    EXPECT_FALSE(keyring().decrypt_stream(m).ok()) << "t07 bit " << bit;
  }
}

TEST(WireRobustness, DeepNestingIsRejected) {
  Bytes deep(100000, 0x91);  // [[[[...]]]]
  deep.push_back(0xc0);
  msgpack::Reader r(deep);
  msgpack::Value v;
  EXPECT_FALSE(msgpack::read_value(r, v));
  EXPECT_EQ(r.error().code, msgpack::Errc::kTooDeep);
  msgpack::Reader r2(deep);
  EXPECT_FALSE(r2.skip());
  EXPECT_EQ(r2.error().code, msgpack::Errc::kTooDeep);
  // Nested compress/compound layers.
  Bytes msg = memberlist::encode(memberlist::NackResp{1});
  for (int i = 0; i < 20; ++i) {
    msg = memberlist::make_compound(std::vector<Bytes>{msg});
  }
  auto p = memberlist::decode_packet(msg);
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.error().code, WireErrc::kTooDeep);
}

TEST(WireRobustness, HugeDeclaredLengthsDoNotAllocate) {
  // Array of 2^32-1 elements, map of 2^32-1 entries, 4 GiB string: all with
  // a few bytes of input.
  for (const Bytes& b :
       {Bytes{0xdd, 0xff, 0xff, 0xff, 0xff, 0xc0}, Bytes{0xdf, 0xff, 0xff, 0xff, 0xff},
        Bytes{0xdb, 0xff, 0xff, 0xff, 0xff, 0x41}, Bytes{0xc6, 0xff, 0xff, 0xff, 0xff}}) {
    msgpack::Reader r(b);
    msgpack::Value v;
    EXPECT_FALSE(msgpack::read_value(r, v));
    EXPECT_EQ(r.error().code, msgpack::Errc::kTruncated);
  }
  // Push/pull announcing 2^31 nodes.
  msgpack::Writer w;
  w.raw(Bytes{6});
  {
    msgpack::StructWriter s(w);
    s.field("Join").boolean(false);
    s.field("Nodes").uint(1u << 31);
    s.field("UserStateLen").uint(0);
  }
  auto pp = memberlist::decode_push_pull(w.bytes());
  ASSERT_FALSE(pp.ok());
  EXPECT_EQ(pp.error().code, WireErrc::kTooLarge);
}

TEST(WireRobustness, LzwBombIsCappedByMaxOut) {
  const Bytes zeros(1u << 20, 0);
  const Bytes packed = lzw_compress(zeros);
  EXPECT_LT(packed.size(), 20000u);
  EXPECT_FALSE(lzw_decompress(packed, (1u << 20) - 1).has_value());
  auto ok = lzw_decompress(packed, 1u << 20);
  ASSERT_TRUE(ok.has_value());
  EXPECT_EQ(*ok, zeros);
}

}  // namespace
}  // namespace herd::membership
