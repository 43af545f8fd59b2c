// Unit tests for membership/msgpack.h, lzw.h, crc32.h and keyring.h beyond
// the captured vectors: flavours, integer widths, strictness, round trips.
#include "membership/msgpack.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <limits>
#include <random>

#include "membership/crc32.h"
#include "membership/keyring.h"
#include "membership/lzw.h"
#include "membership/serf_msgs.h"
#include "tests/unit/membership/vector_support.h"

namespace herd::membership {
namespace {

using msgpack::Errc;
using msgpack::Flavor;
using msgpack::Reader;
using msgpack::Writer;
using testing::from_hex;
using testing::to_hex;

TEST(MsgpackWriter, GossipRawStringsNeverStr8OrBin) {
  Writer w(Flavor::kGossip);
  w.str(std::string(40, 'x'));
  w.bin(Bytes(3, 0x7f));
  w.bin(Bytes(300, 1));
  const Bytes& b = w.bytes();
  EXPECT_EQ(to_hex(ByteView(b).first(3)), "da0028");
  EXPECT_EQ(b[43], 0xa3);
  EXPECT_EQ(to_hex(ByteView(b).subspan(47, 3)), "da012c");
}

TEST(MsgpackWriter, RpcUsesStr8AndBin) {
  Writer w(Flavor::kRpc);
  w.str(std::string(40, 'x'));
  w.bin(Bytes{127, 0, 0, 12});
  EXPECT_EQ(to_hex(ByteView(w.bytes()).first(2)), "d928");
  EXPECT_EQ(to_hex(ByteView(w.bytes()).subspan(42)), "c4047f00000c");
}

TEST(MsgpackWriter, SmallestIntegers) {
  Writer w;
  w.uint(0);
  w.uint(127);
  w.uint(128);
  w.uint(17946);
  w.uint(2000000000);
  w.uint(1ull << 40);
  w.sint(-1);
  w.sint(-33);
  w.sint(-40000);
  EXPECT_EQ(to_hex(w.bytes()),
            "00"
            "7f"
            "cc80"
            "cd461a"
            "ce77359400"
            "cf0000010000000000"
            "ff"
            "d0df"
            "d2ffff63c0");
}

TEST(MsgpackWriter, StructFieldsComeOutSorted) {
  Writer w;
  {
    msgpack::StructWriter s(w);
    s.field("SourcePort").uint(1);
    s.field("Node").str("a");
    s.field("SeqNo").uint(2);
  }
  EXPECT_EQ(to_hex(w.bytes()), "83a44e6f6465a161a55365714e6f02aa536f75726365506f727401");
}

TEST(MsgpackReader, AcceptsAnyIntegerWidthWithOverflowCheck) {
  for (const char* h : {"05", "cc05", "cd0005", "ce00000005", "cf0000000000000005", "d005",
                        "d10005", "d200000005", "d30000000000000005"}) {
    const Bytes b = from_hex(h);
    Reader r(b);
    uint16_t v = 0;
    EXPECT_TRUE(r.read_uint_as(v)) << h;
    EXPECT_EQ(v, 5) << h;
  }
  const Bytes big = from_hex("ce00010000");
  Reader r(big);
  uint16_t v = 0;
  EXPECT_FALSE(r.read_uint_as(v));
  EXPECT_EQ(r.error().code, Errc::kOverflow);
  const Bytes neg = from_hex("ff");
  Reader rn(neg);
  uint64_t u = 0;
  EXPECT_FALSE(rn.read_uint(u));
  EXPECT_EQ(rn.error().code, Errc::kOverflow);
  const Bytes huge = from_hex("cfffffffffffffffff");
  Reader rh(huge);
  int64_t i = 0;
  EXPECT_FALSE(rh.read_int(i));
  EXPECT_EQ(rh.error().code, Errc::kOverflow);
}

TEST(MsgpackReader, AcceptsStr8BinAndNilForStringsAndBytes) {
  const Bytes b = from_hex("d903616263c40378797ac0a0");
  Reader r(b);
  std::string s;
  Bytes by;
  std::optional<Bytes> nb;
  EXPECT_TRUE(r.read_str(s));
  EXPECT_EQ(s, "abc");
  EXPECT_TRUE(r.read_bytes(by));
  EXPECT_EQ(by, (Bytes{'x', 'y', 'z'}));
  EXPECT_TRUE(r.read_nilable_bytes(nb));
  EXPECT_FALSE(nb.has_value());
  EXPECT_TRUE(r.read_nilable_bytes(nb));
  ASSERT_TRUE(nb.has_value());
  EXPECT_TRUE(nb->empty());
  EXPECT_TRUE(r.at_end());
}

TEST(MsgpackReader, ErrorsAreStickyAndTyped) {
  const Bytes b = from_hex("a5616263");  // 5-byte string, 3 bytes present
  Reader r(b);
  std::string s;
  EXPECT_FALSE(r.read_str(s));
  EXPECT_EQ(r.error().code, Errc::kTruncated);
  bool x = false;
  EXPECT_FALSE(r.read_bool(x));
  EXPECT_EQ(r.error().code, Errc::kTruncated);  // first error kept
  const Bytes m = from_hex("81a14101");
  Reader rm(m);
  EXPECT_FALSE(rm.read_str(s));
  EXPECT_EQ(rm.error().code, Errc::kUnexpectedType);
  const Bytes c1 = from_hex("c1");
  Reader ri(c1);
  EXPECT_FALSE(ri.skip());
  EXPECT_EQ(ri.error().code, Errc::kInvalid);
}

TEST(MsgpackReader, StructSkipsUnknownKeysAndAcceptsAnyOrder) {
  // {Zzz: [1, {a: 2}], SeqNo: 9, Node: "n"}
  const Bytes b = from_hex("83a35a7a7a920181a16102a55365714e6f09a44e6f6465a16e");
  Reader r(b);
  uint32_t seq = 0;
  std::string node;
  EXPECT_TRUE(r.read_struct([&](std::string_view k) {
    if (k == "SeqNo") return r.read_uint_as(seq);
    if (k == "Node") return r.read_str(node);
    return false;
  }));
  EXPECT_EQ(seq, 9u);
  EXPECT_EQ(node, "n");
}

TEST(MsgpackValue, RoundTripKeepsMapOrderAndTypes) {
  const Bytes b = from_hex("84a17a01a161c2a162cb3ff8000000000000a163c4020102");
  Reader r(b);
  msgpack::Value v;
  ASSERT_TRUE(msgpack::read_value(r, v));
  Writer w(Flavor::kRpc);
  msgpack::write_value(w, v);
  EXPECT_EQ(to_hex(w.bytes()), to_hex(b));
}

// Found by tests/fuzz/fuzz_msgpack: skip() counted an ext value's level
// twice, so an ext at the depth limit was "too deep" for skip() (and so for
// an unknown struct field) but fine for read_value().
TEST(MsgpackReader, SkipAndReadValueAgreeOnExtAtTheDepthLimit) {
  for (unsigned arrays : {Reader::kDefaultMaxDepth - 1, Reader::kDefaultMaxDepth}) {
    Bytes b(arrays, 0x91);                                // [[[...]]], one element each
    for (uint8_t x : {0xd4, 0x01, 0x02}) b.push_back(x);  // fixext1 type 1
    Reader r(b);
    Reader s(b);
    msgpack::Value v;
    const bool read = msgpack::read_value(r, v);
    EXPECT_EQ(read, arrays < Reader::kDefaultMaxDepth) << arrays;
    EXPECT_EQ(s.skip(), read) << arrays;
    if (read) {
      EXPECT_EQ(s.offset(), b.size());
    }
  }
}

TEST(Crc32, KnownValues) {
  EXPECT_EQ(crc32_ieee(as_bytes("123456789")), 0xcbf43926u);
  EXPECT_EQ(crc32_ieee({}), 0u);
}

TEST(Lzw, RoundTripsAcrossTableResets) {
  std::mt19937 rng(7);
  for (std::size_t n : {0u, 1u, 2u, 3u, 100u, 5000u, 70000u, 300000u}) {
    Bytes in(n);
    // Mix of compressible and random runs to exercise every width.
    for (std::size_t i = 0; i < n; ++i) {
      in[i] = (i / 1000) % 2 ? static_cast<uint8_t>(rng()) : static_cast<uint8_t>(i % 7);
    }
    const Bytes packed = lzw_compress(in);
    auto out = lzw_decompress(packed, n + 1);
    ASSERT_TRUE(out.has_value()) << n;
    EXPECT_EQ(*out, in) << n;
  }
}

TEST(Lzw, RejectsMissingEndCodeAndUndefinedCodes) {
  Bytes packed = lzw_compress(as_bytes("hello hello hello"));
  packed.pop_back();
  EXPECT_FALSE(lzw_decompress(packed, 1000).has_value());
  // Clear code then code 300 (undefined): 9-bit codes 256, 300.
  EXPECT_FALSE(lzw_decompress(from_hex("005802"), 1000).has_value());
}

TEST(Base64, RoundTripAndStrictness) {
  const std::string key = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
  auto d = base64_decode(key);
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(std::string(as_chars(*d)), "0123456789abcdef0123456789abcdef");
  EXPECT_EQ(base64_encode(*d), key);
  EXPECT_EQ(base64_encode(as_bytes("a")), "YQ==");
  EXPECT_EQ(base64_encode(as_bytes("ab")), "YWI=");
  EXPECT_FALSE(base64_decode("YQ=").has_value());
  EXPECT_FALSE(base64_decode("Y=Q=").has_value());
  EXPECT_FALSE(base64_decode("YQ!=").has_value());
}

TEST(KeyringTest, EncryptDecryptAllKeySizesAndRotation) {
  for (std::size_t size : {16u, 24u, 32u}) {
    auto kr = Keyring::create({Bytes(size, 0x11)});
    ASSERT_TRUE(kr.ok());
    const Bytes plain = from_hex("00aabbcc");
    const Bytes udp = kr->encrypt_packet(plain);
    EXPECT_EQ(udp.size(), plain.size() + kEncryptOverhead);
    EXPECT_EQ(udp[0], kEncryptionVersion1);
    EXPECT_EQ(*kr->decrypt_packet(udp), plain);
    const Bytes tcp = kr->encrypt_stream(plain);
    EXPECT_EQ(tcp.size(), plain.size() + kEncryptOverhead + kStreamHeaderSize);
    EXPECT_EQ(*kr->decrypt_stream(tcp), plain);
    // A UDP blob is not a valid stream body and vice versa (AAD differs).
    Bytes as_stream = udp;
    const Bytes header{10, 0, 0, 0, static_cast<uint8_t>(udp.size())};
    as_stream.insert(as_stream.begin(), header.begin(), header.end());
    EXPECT_FALSE(kr->decrypt_stream(as_stream).ok());
  }
  auto old_only = Keyring::create({Bytes(32, 1)});
  auto both = Keyring::create({Bytes(32, 2), Bytes(32, 1)});
  ASSERT_TRUE(old_only.ok() && both.ok());
  const Bytes msg = old_only->encrypt_packet(from_hex("0102"));
  EXPECT_TRUE(both->decrypt_packet(msg).ok());  // tries every key
  auto other = Keyring::create({Bytes(32, 3)});
  EXPECT_EQ(other->decrypt_packet(msg).error().code, WireErrc::kDecrypt);
  EXPECT_FALSE(both->use_key(Bytes(32, 9)) == std::nullopt);
  EXPECT_EQ(both->use_key(Bytes(32, 1)), std::nullopt);
  EXPECT_EQ(both->primary(), Bytes(32, 1));
  EXPECT_NE(both->remove_key(Bytes(32, 1)), std::nullopt);  // primary
  EXPECT_EQ(both->remove_key(Bytes(32, 2)), std::nullopt);
  EXPECT_EQ(both->keys().size(), 1u);
  EXPECT_FALSE(Keyring::create({Bytes(15, 0)}).ok());
  EXPECT_FALSE(Keyring::create({}).ok());
}

// Encryption version 0 (memberlist protocol 1): PKCS#7-padded plaintext. We
// never send it; build one with OpenSSL directly and check we can read it.
TEST(KeyringTest, DecryptsVersionZero) {
  const Bytes key(16, 0x42);
  const Bytes nonce(kNonceSize, 0x24);
  Bytes plain = from_hex("0081a5536571456f07");  // 9 bytes -> 7 bytes of padding 07
  Bytes padded = plain;
  padded.insert(padded.end(), 7, 7);
  Bytes sealed(padded.size() + kTagSize);
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  int len = 0;
  ASSERT_EQ(EVP_EncryptInit_ex(ctx, EVP_aes_128_gcm(), nullptr, key.data(), nonce.data()), 1);
  ASSERT_EQ(
      EVP_EncryptUpdate(ctx, sealed.data(), &len, padded.data(), static_cast<int>(padded.size())),
      1);
  ASSERT_EQ(EVP_EncryptFinal_ex(ctx, sealed.data() + len, &len), 1);
  ASSERT_EQ(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, static_cast<int>(kTagSize),
                                sealed.data() + padded.size()),
            1);
  EVP_CIPHER_CTX_free(ctx);
  Bytes packet{kEncryptionVersion0};
  packet.insert(packet.end(), nonce.begin(), nonce.end());
  packet.insert(packet.end(), sealed.begin(), sealed.end());
  auto kr = Keyring::create({key});
  ASSERT_TRUE(kr.ok());
  auto out = kr->decrypt_packet(packet);
  ASSERT_TRUE(out.ok()) << out.error().detail;
  EXPECT_EQ(*out, plain);
  packet[0] = 2;  // unknown version
  EXPECT_FALSE(kr->decrypt_packet(packet).ok());
}

TEST(KeyringTest, StreamLengthLimits) {
  EXPECT_EQ(Keyring::stream_length(from_hex("0a00000109")).value(), 265u);
  EXPECT_EQ(Keyring::stream_length(from_hex("0601")).error().code, WireErrc::kTruncated);
  EXPECT_EQ(Keyring::stream_length(from_hex("0600000000")).error().code, WireErrc::kPlaintext);
  EXPECT_EQ(Keyring::stream_length(from_hex("0a7fffffff")).error().code, WireErrc::kTooLarge);
}

TEST(SerfTags, LegacyRoleAndMagic) {
  EXPECT_EQ(*serf::decode_tags(as_bytes("web")), (serf::Tags{{"role", "web"}}));
  EXPECT_EQ(*serf::decode_tags({}), (serf::Tags{{"role", ""}}));
  EXPECT_EQ(to_hex(serf::encode_tags({})), "ff80");
  EXPECT_FALSE(serf::decode_tags(from_hex("ff81a1")).ok());
}

TEST(SerfFilters, RoundTrip) {
  const serf::Filter nodes = serf::NodeFilter{{"a", "b"}};
  auto n = serf::decode_filter(serf::encode_filter(nodes));
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(std::get<serf::NodeFilter>(*n).nodes, (std::vector<std::string>{"a", "b"}));
  auto t = serf::decode_filter(serf::encode_filter(serf::TagFilter{"role", "web.*"}));
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(std::get<serf::TagFilter>(*t).expr, "web.*");
}

}  // namespace
}  // namespace herd::membership
