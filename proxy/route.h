// proxy/route.h — the exchange's route phase: the backend a frontend sends a
// request (HTTP) or a connection (TCP, layer-4 samples only) to: the first
// `use_backend` rule whose condition holds, else `default_backend`.
//
// Thread rules: a pure function over the immutable FrontendRt; any thread.
#pragma once

#include "proxy/io_engine.h"
#include "proxy/rules.h"

namespace herd::proxy {

// An index into PoolSnapshot::backends (Shared::backend_cfg), -1: none.
int route_backend(const FrontendRt& fe, const RequestView& rv);

}  // namespace herd::proxy
