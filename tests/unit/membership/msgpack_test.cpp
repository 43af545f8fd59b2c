// Unit tests for membership/msgpack.h: flavours, integer widths, strictness.
#include "membership/msgpack.h"

#include <gtest/gtest.h>

namespace herd::membership::msgpack {
namespace {

TEST(MsgpackWriter, GossipRawStringsNeverStr8OrBin) {
  Writer w(Flavor::kGossip);
  w.str(std::string(40, 'x'));
  w.bin(Bytes(3, 0x7f));
  const Bytes& b = w.bytes();
  EXPECT_EQ(b[0], 0xda);
  EXPECT_EQ(b[1], 0x00);
  EXPECT_EQ(b[2], 40);
  EXPECT_EQ(b[43], 0xa3);
}
}  // namespace
}  // namespace herd::membership::msgpack
