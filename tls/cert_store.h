// tls/cert_store.h — the runtime API's certificate commands, as HAProxy 2.6
// answers them: `show ssl cert [<file>]`, `set ssl cert <file> <<payload`,
// `commit ssl cert <file>`, `abort ssl cert <file>`, `new ssl cert <file>`,
// `del ssl cert <file>`. A committed certificate is served to new TLS
// connections at once (on every bind that loaded that file); connections
// already made keep theirs. One transaction at a time, for a file the
// configuration loaded or `new ssl cert` made (HAProxy's ckch transaction).
// An entry `new ssl cert` made is served by no bind (herd has no `add ssl
// crt-list`); it shows as `Empty` until a commit fills it, then `Unused`,
// and only such entries can be deleted. Each function returns the reply
// text (without the CLI's terminating empty line).
//
// What a commit swaps: each bind context slot holding the file gets a new
// SSL_CTX built with the bind's settings (tls/context.h), carrying the old
// one's session-ticket keys so that sessions resume across the change; the
// old SSL_CTX is freed a minute later (connections hold references of
// their own). The names a bind answers for (SNI) stay those computed at
// start-up.
//
// Thread rules: the control thread only (the runtime API's), after
// tls::prepare(); workers only load the slots' contexts.
#pragma once

#include <string>

namespace herd::tls {

std::string show_ssl_cert(const std::string& name);  // "" name: the list
std::string set_ssl_cert(const std::string& name, const std::string& payload);
std::string commit_ssl_cert(const std::string& name);
std::string abort_ssl_cert(const std::string& name);
// An empty entry `set` + `commit` can fill; no bind serves it.
std::string new_ssl_cert(const std::string& name);
// Deletes an entry no bind uses (one `new_ssl_cert` made).
std::string del_ssl_cert(const std::string& name);

}  // namespace herd::tls
