// config/parser_internal.h — the parser's shared state and helpers, used by
// parser.cpp and the keywords_*.cpp files. Not for use outside config/.
//
// Thread rules: a Parser is used by one thread from construction to finish().
#pragma once

#include <deque>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "config/model.h"
#include "config/parser.h"

namespace herd::config::detail {

using Words = std::vector<std::string>;

// State the model does not carry but parsing needs, per proxy or defaults.
struct ProxyExtra {
  Server default_server;          // `default-server` settings
  bool has_http_check_rules = false;
  bool has_tcp_check_rules = false;  // own `tcp-check` lines (not the defaults')
  bool named_defaults = false;
  // Servers whose host name must be resolved after parsing.
  struct PendingName {
    size_t server = 0;  // index in Proxy::servers
    std::string host;
    int family = 0;
  };
  std::vector<PendingName> unresolved;
  bool last_rule_final_uncond = false;  // for the "action is final" warning
  bool last_response_rule_final_uncond = false;  // the same, for http-response
  bool connect_set_here = false;  // `timeout connect` in the section itself (tarpit's default)
};

struct DefaultsEntry {
  Proxy proxy;
  ProxyExtra extra;
};

class Parser {
 public:
  explicit Parser(const ParseOptions& opts) : opts_(opts) {}

  void parse_file(std::string_view text, const std::string& filename);
  ParseResult finish();

  // ---- diagnostics (public for the keyword files) ----
  // "parsing [file:line] : msg"
  void alert(const std::string& msg);
  // An ALERT that does not fail the parse (HAProxy's ERR_ALERT without
  // ERR_FATAL: "user/uid already specified. Continuing.").
  void alert_continue(const std::string& msg);
  void warn(const std::string& msg);
  void notice(const std::string& msg);
  // Without the "parsing [file:line] : " prefix.
  void alert_raw(const std::string& text);
  // Makes the next alerts fatal to the whole parse, as HAProxy's ERR_ABORT:
  // parsing stops after the current line and no "Fatal errors" line follows.
  void set_abort_on_alert(bool on) { abort_on_alert_ = on; }
  void warn_raw(const std::string& text);
  std::string where() const;  // "[file:line]"
  bool aborted() const { return aborted_; }
  Location loc() const { return Location{file_, line_}; }

  // ---- current section ----
  Proxy* cur = nullptr;
  ProxyExtra* cur_extra = nullptr;
  bool in_defaults() const { return in_defaults_; }
  // "frontend", "backend", "proxy" (listen) or "defaults".
  static const char* kind_name(const Proxy& p);
  const ParseOptions& opts() const { return opts_; }
  Config& config() { return res_.config; }
  const std::string& file() const { return file_; }
  // A file the config names (errorfile), relative to `default-path`: as
  // is under `default-path current` (the default), else under its directory.
  std::string config_relative(const std::string& path) const;
  int line() const { return line_; }

  // ---- keyword families (keywords_*.cpp) ----
  void global_keyword(const Words& w);
  void proxy_keyword(const Words& w);
  void server_line(const Words& w);          // server / default-server / server-template
  void condition_keyword(const Words& w);    // acl, use_backend, http-request, http-response
  void http_rule(const Words& w, bool response);  // http-request / http-response
  // `stats http-request <action> ...` (`w` from the action's `http-request`
  // on): parsed as an http-request rule, kept in the proxy's stats settings.
  void stats_http_rule(const Words& w);
  void tcp_request_rule(const Words& w);
  void redirect_rule(const Words& w);  // the `redirect` keyword
  size_t parse_redirect(const Words& w, size_t i, const std::string& ctx, HttpRequestRule* rule);
  bool parse_log(const Words& w, size_t first, std::vector<LogTarget>* out);
  // Parses `if|unless <terms>` starting at w[i]. `what` is the message context
  // ("switching rule", "an 'http-request set-header' condition"...).
  // `phase_rule` ("frontend http-response header rule"), when not empty,
  // names the rule in HAProxy's warnings for ACLs that cannot match in its
  // phase (`response`: the rule runs on responses).
  bool parse_condition(const Words& w, size_t i, const std::string& what, Condition* out,
                       const std::string& phase_rule = "", bool response = false);
  // `userlist` sections (keywords_userlist.cpp).
  void start_userlist(const Words& w);
  void userlist_keyword(const Words& w);
  // Binds an `http_auth(<userlist>)`/`http_auth_group(<userlist>)` ACL to its
  // userlist (declared now or later); checked by check_userlists().
  void bind_userlist(Acl* acl, const std::string& acl_name);
  // Server options from w[i] on into `s`. `label` is "'server b/s1' : " or "".
  bool parse_server_options(const Words& w, size_t i, Server* s, const std::string& label,
                            bool is_default);

 private:
  void start_section(const Words& w);
  void start_resolvers(const Words& w);    // keywords_resolvers.cpp
  void resolvers_keyword(const Words& w);  // inside a `resolvers` section
  void start_proxy(const Words& w, Proxy::Kind kind);
  void post_checks();
  void tcp_mode_checks(Proxy& p);
  void parse_formats(Proxy& p, const std::function<void(const std::string&)>& post_alert);
  void resolve_servers();
  void check_userlists();  // the groups and users lists, the ACLs' references

  ParseOptions opts_;
  ParseResult res_;
  std::string file_;
  std::string default_path_;  // `default-path`: "" = the current directory; reset per file
  int line_ = 0;
  enum class Section {
    None,
    Global,
    Defaults,
    Proxy,
    Resolvers,
    Userlist,
    Unsupported
  } section_ = Section::None;
  std::string section_kw_ = "";   // "global", "defaults", "frontend", ...
  std::string section_name_;      // for ${.SECTION}
  bool in_defaults_ = false;
  bool file_has_error_ = false;
  bool parse_error_ = false;
  bool abort_on_alert_ = false;
  bool aborted_ = false;
  std::deque<DefaultsEntry> defaults_;  // every defaults section so far
  DefaultsEntry* last_defaults_ = nullptr;
  DefaultsEntry builtin_;
  std::deque<ProxyExtra> extras_;  // parallel to config.proxies
  int next_proxy_id_ = 2;
  // Every userlist declared or referenced, by name; the current one.
  std::map<std::string, std::shared_ptr<Userlist>> userlists_;
  Userlist* cur_userlist_ = nullptr;
  struct UserlistRef {  // an ACL naming a userlist
    std::shared_ptr<Userlist> list;
    std::string fetch, acl_name, proxy;
    std::vector<std::string> groups;  // http_auth_group's patterns
    bool group = false;
    Location where;
  };
  std::vector<UserlistRef> userlist_refs_;
};

// ---- helpers shared by the keyword files ----

// HAProxy-like typo suggestion: the closest candidate, or "" if none is close.
std::string suggest(std::string_view word, const std::vector<std::string_view>& candidates);
// atoi() semantics (HAProxy is lax with many integers).
int lax_int(const std::string& s);

// A TLS version option shared by bind, server and `ssl-default-*-options`
// at w[i] (`ssl-min-ver X`, `ssl-max-ver X`, `no-sslv3`, `no-tlsv1x`,
// `no-tls-tickets`, `prefer-client-ciphers`): words taken, 0 when w[i] is
// none of them, -1 with haproxy's message in `err`.
int parse_tls_option(const std::vector<std::string>& w, size_t i, TlsOptions& o, std::string* err);
// True when w[i] exists and is not empty (HAProxy treats "" as absent).
inline bool has(const Words& w, size_t i) { return i < w.size() && !w[i].empty(); }
inline const std::string& arg(const Words& w, size_t i) {
  static const std::string kEmpty;
  return i < w.size() ? w[i] : kEmpty;
}

// Address text split: "[ipv4@|ipv6@]host[:port]". On error returns false and
// fills `err` with HAProxy's text ("invalid port '99999'", ...).
struct HostPort {
  std::string host;
  std::string port_text;
  bool has_port = false;
  int family = 0;  // 0 any, 4 or 6 (from ipv4@ / ipv6@)
};
bool split_host_port(const std::string& text, HostPort* out, std::string* err);
bool parse_port(const std::string& port_text, const std::string& whole, uint16_t* out,
                std::string* err);
// Numeric form of `host` ("" or "*" -> 0.0.0.0). Names go through getaddrinfo
// (IPv4 preferred) when `allow_names`. Returns false when it cannot resolve.
bool resolve_host(const std::string& host, int family, bool allow_names, std::string* ip);
// `source`/`usesrc` address "<addr>[:<port>]" (names resolved, as haproxy)
// into `ip`/`port`. On error returns false with haproxy's text after
// "'<kw> <text>' : " in `err`. `range_ok`: a "<port>-<port>" range is
// haproxy's (server `source`), which herd refuses with its own text.
bool parse_source_addr(const std::string& text, bool range_ok, std::string* ip, uint16_t* port,
                       std::string* err);
// `usesrc <text>` into `src`: "client", "clientip" or an address. On error
// returns false with the alert's text (haproxy's; herd's for hdr_ip()).
bool parse_usesrc(const std::string& text, ConnSource* src, std::string* err);
// Valid IPv4/IPv6 address or network ("10.0.0.0/8").
bool valid_network(const std::string& s);

// True for HAProxy's predefined ACL names (TRUE, LOCALHOST, METH_GET, ...).
bool is_predefined_acl(const std::string& name);

}  // namespace herd::config::detail
