// config/model.cpp — small helpers over the config model (see model.h).
#include "config/model.h"

namespace herd::config {

const char* to_string(BalanceAlgo a) {
  switch (a) {
    case BalanceAlgo::RoundRobin: return "roundrobin";
    case BalanceAlgo::StaticRR: return "static-rr";
    case BalanceAlgo::LeastConn: return "leastconn";
    case BalanceAlgo::First: return "first";
    case BalanceAlgo::Source: return "source";
    case BalanceAlgo::Random: return "random";
    case BalanceAlgo::Uri: return "uri";
    case BalanceAlgo::UrlParam:
      return "url_param";
    case BalanceAlgo::Hdr:
      return "hdr";
  }
  return "?";
}

}  // namespace herd::config
