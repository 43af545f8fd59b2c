// tests/fuzz/fuzz_rpc.cpp — membership/rpc_msgs.h: the RPC codec and the
// connection's StreamDecoder. Input: one selector byte, then the bytes of a
// client or agent stream. The selector picks which of the 27 RPC types the
// bytes are decoded as (decode<T> of the whole rest) and seeds how the rest is
// cut into pieces for the StreamDecoder.
//
// Invariants: a decoded value re-encodes to bytes that decode to an equal
// value (re-encoding stable for the types holding doubles); the
// StreamDecoder yields the same objects (and the same error) whether the
// stream arrives whole or in pieces, each object one complete msgpack value.
#include <cstdint>
#include <optional>
#include <tuple>
#include <vector>

#include "membership/rpc_msgs.h"
#include "tests/fuzz/fuzz_support.h"

namespace rpc = herd::membership::rpc;
namespace mp = herd::membership::msgpack;
using herd::membership::Bytes;
using herd::membership::ByteView;

namespace {

using Types =
    std::tuple<rpc::RequestHeader, rpc::ResponseHeader, rpc::HandshakeRequest, rpc::AuthRequest,
               rpc::MembersFilteredRequest, rpc::Member, rpc::MembersResponse, rpc::JoinRequest,
               rpc::JoinResponse, rpc::ForceLeaveRequest, rpc::EventRequest, rpc::TagsRequest,
               rpc::StreamRequest, rpc::MonitorRequest, rpc::StopRequest, rpc::QueryRequest,
               rpc::QueryRecord, rpc::RespondRequest, rpc::KeyRequest, rpc::KeyResponse,
               rpc::StatsResponse, rpc::CoordinateRequest, rpc::CoordinateResponse,
               rpc::MemberEventRecord, rpc::UserEventRecord, rpc::QueryEventRecord, rpc::LogRecord>;

template <class T>
void check_type(ByteView in) {
  auto v = rpc::decode<T>(in);
  if (!v) return;
  Bytes e = rpc::encode(*v);
  auto back = rpc::decode<T>(e);
  FUZZ_CHECK(back.ok());
  if constexpr (std::is_same_v<T, rpc::CoordinateResponse>)
    FUZZ_CHECK(rpc::encode(*back) == e);  // doubles: NaN != NaN
  else
    FUZZ_CHECK(*back == *v);
}

template <size_t... I>
void check_selected(size_t sel, ByteView in, std::index_sequence<I...>) {
  ((sel == I ? check_type<std::tuple_element_t<I, Types>>(in) : void()), ...);
}

struct Drained {
  std::vector<Bytes> objects;
  bool error = false;
};

Drained drain(ByteView in, const std::vector<size_t>& pieces) {
  rpc::StreamDecoder d;
  Drained out;
  size_t off = 0;
  for (size_t n : pieces) {
    d.feed(in.subspan(off, n));
    off += n;
    while (auto obj = d.next()) {
      if (!obj->ok()) {
        out.error = true;
        return out;
      }
      mp::Reader r(obj->value());
      FUZZ_CHECK(r.skip() && r.at_end());
      out.objects.push_back(std::move(obj->value()));
    }
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  ByteView in(data + 1, size - 1);
  constexpr size_t kTypes = std::tuple_size_v<Types>;
  check_selected(data[0] % kTypes, in, std::make_index_sequence<kTypes>{});

  Drained whole = drain(in, in.empty() ? std::vector<size_t>{} : std::vector<size_t>{in.size()});
  Drained split = drain(in, herd::fuzz::split_points(data[0], in.size()));
  FUZZ_CHECK(whole.error == split.error);
  FUZZ_CHECK(whole.objects == split.objects);
  // Requests decode as the server does: a header, then the body its command has.
  for (size_t i = 0; i < whole.objects.size(); ++i) {
    auto h = rpc::decode<rpc::RequestHeader>(whole.objects[i]);
    if (!h) continue;
    (void)rpc::request_has_body(h->command);
    (void)rpc::response_body(h->command);
  }
  return 0;
}
