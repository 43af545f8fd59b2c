// config/log_format.h — haproxy's log-format language: parsing of
// `log-format` and `unique-id-format` strings into LogFormat nodes (see
// config/model.h), and the predefined httplog and tcplog formats.
//
// Thread rules: pure functions; any thread.
#pragma once

#include <string>
#include <string_view>

#include "config/model.h"

namespace herd::config {

// Parses `s` into `out`. `http`: the proxy is in `mode http` (haproxy
// refuses the HTTP-only variables otherwise). `merge_spaces`: unescaped
// spaces are separators (haproxy's LOG_OPT_MERGE_SPACES, which both
// `log-format` and `unique-id-format` use). On failure fills `err` with
// haproxy's text (after "failed to parse log-format : ").
bool parse_log_format(std::string_view s, bool http, bool merge_spaces, LogFormat* out,
                      std::string* err);
// Whether `name` ("txn.x") is a variable name haproxy accepts: a scope
// (proc, sess, txn, req, res) and a name. Fills `err` otherwise.
bool valid_var_name(std::string_view name, std::string* err);
// haproxy 2.6's `option httplog` and `option tcplog` formats.
const char* httplog_format();
const char* tcplog_format();

}  // namespace herd::config
