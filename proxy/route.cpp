// proxy/route.cpp — see route.h.
#include "proxy/route.h"

namespace herd::proxy {

int route_backend(const FrontendRt& fe, const RequestView& rv) {
  for (const auto& r : fe.routes)
    if (eval_condition(r.rule->cond, *fe.cfg, rv)) return r.backend;
  return fe.default_backend;
}

}  // namespace herd::proxy
