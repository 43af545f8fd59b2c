// config/model.h — the parsed form of an haproxy.cfg, as herd understands it.
//
// The parser (config/parser.h) fills these plain structs; nothing here does
// I/O. Every other module reads a Config after start-up; none writes it.
// Values already carry HAProxy's defaults and `defaults`-section inheritance
// applied, so consumers never re-derive them. Times are milliseconds
// (HAProxy's unit), 0 meaning "not set" exactly as in HAProxy.
//
// Thread rules: a Config is built on the main thread before any worker
// starts and is immutable afterwards; share it by const reference.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace herd::config {

// A compiled regular expression (config/regex.h); shared, immutable.
struct Regex;

// Where a directive came from, for messages such as "[haproxy.cfg:12]".
struct Location {
  std::string file;  // exactly as given on the command line
  int line = 0;
};

// A resolved network address. `host` is the text from the config after
// ${VAR} expansion; `ip` is the numeric form the name resolved to at load
// time (HAProxy resolves at start-up, too). An empty host means 0.0.0.0,
// which is what HAProxy does with an unset ${VAR} in an address.
struct Address {
  std::string host;
  std::string ip;  // "127.0.0.1" or "::1"; "0.0.0.0" for `*` / empty
  uint16_t port = 0;
  bool operator==(const Address&) const = default;
};

// One `bind` line. Only TCP binds are supported for traffic.
// TLS settings shared by `bind ... ssl` and `server ... ssl` (and by the
// `ssl-default-*-options` of `global`). Versions are the wire numbers
// (0x0301 TLSv1.0 ... 0x0304 TLSv1.3), 0: not set. Certificates are loaded
// after parsing by tls/ (tls::prepare), which keeps OpenSSL out of config/.
struct TlsOptions {
  int min_ver = 0, max_ver = 0;
  // `no-sslv3`, `no-tlsv10` ... `no-tlsv13`: bit v - 0x0300 set for version v
  unsigned no_versions = 0;
  bool no_tickets = false;             // `no-tls-tickets`
  bool prefer_client_ciphers = false;  // `prefer-client-ciphers`
};

// `bind ... ssl crt ... crt-list ... alpn ... verify ...` (keywords_proxy.cpp).
struct BindTls {
  bool enabled = false;  // `ssl`
  struct Source {
    bool is_list = false;  // crt-list
    std::string path;      // crt-base applied
  };
  std::vector<Source> certs;                  // in order: the first certificate is the default one
  std::vector<std::string> alpn;              // as offered ("h2" dropped with a notice)
  std::string ciphers, ciphersuites, curves;  // "" = global default, else OpenSSL's
  bool ciphers_set = false, ciphersuites_set = false;
  TlsOptions opts;
  bool opts_set_min = false, opts_set_max = false;
  std::string ca_file;  // ca-base applied
  enum class Verify { None, Optional, Required } verify = Verify::None;
  bool strict_sni = false;
  std::string bind_text;  // the bind line's address argument, for messages
};

struct Bind {
  Address addr;
  BindTls tls;
  // Built by tls::prepare() from `tls` (null for plain binds); opaque here.
  std::shared_ptr<const void> tls_ctx;
  std::vector<std::string> options;  // accepted options kept verbatim (e.g. "name foo")
  Location where;
};

// `log <target> [len <n>] [format <fmt>] <facility> [max [min]]`, or `log global`.
struct LogTarget {
  enum class Kind { Udp, Stdout, Stderr };
  Kind kind = Kind::Udp;
  Address addr;              // Udp only; default port 514
  std::string format = "rfc3164";  // rfc3164 | raw | rfc5424 | short
  int facility = 16;         // local0; syslog numeric facility
  int max_level = 7;         // messages with severity <= max_level are sent
  int min_level = 0;
  int max_len = 1024;        // `len <n>`: longest line sent, in bytes
  std::string unix_path;     // non-empty: a Unix datagram socket (`/dev/log`); kind stays Udp
  Location where;
};

// `stats socket <path|ipv4@addr:port> [mode <octal>] [level user|operator|admin]`.
struct StatsSocket {
  enum class Level { User = 0, Operator = 1, Admin = 2 };
  bool is_unix = true;
  std::string path;  // unix path
  Address addr;      // ipv4@ / ipv6@ / host:port
  uint32_t mode = 0;  // file mode for unix sockets, 0 = leave umask's
  int64_t uid = -1, gid = -1;  // owner of unix sockets (`user`/`uid`, `group`/`gid`); -1: unchanged
  Level level = Level::Operator;
  bool expose_fd_listeners = false;  // `expose-fd listeners`: `_getsocks` hands them over
  Location where;
};

struct Global {
  int maxconn = 0;   // 0: derive from ulimit -n as HAProxy does
  int nbthread = 0;  // 0: number of usable CPUs
  bool daemon = false;
  std::string pidfile;
  std::vector<StatsSocket> stats_sockets;
  int64_t stats_timeout_ms = 10000;
  std::vector<LogTarget> logs;
  std::string node;  // `node` keyword; defaults to the host name
  int64_t hard_stop_after_ms = 0;  // `hard-stop-after`: bound on a soft stop; 0: none
  // `user`/`uid`, `group`/`gid` (0: unchanged, as HAProxy) and `chroot`:
  // applied once every listener and socket is bound (app/main.cpp).
  uint32_t uid = 0;
  uint32_t gid = 0;
  std::string chroot;
  // `close-spread-time <time>|infinite`: the window over which a soft stop
  // closes the old process's keep-alive connections (0: not set).
  int64_t close_spread_time_ms = 0;
  // `ulimit-n <n>`: the file descriptor limit herd sets at start-up (0: its
  // own need, 2 per connection of `maxconn` plus a reserve, raised only).
  // `strict-limits` (haproxy 2.6's default): failing to set it is fatal;
  // `no strict-limits` makes it a warning.
  int ulimit_n = 0;
  bool strict_limits = true;
  bool zero_warning = false;           // `zero-warning`: any config warning is fatal
  bool master_worker = false;          // `master-worker` (app/master.h)
  bool master_exit_on_failure = true;  // not `master-worker no-exit-on-failure`
  bool close_spread_infinite = false;  // `infinite`: no active close at all
  // `server-state-file` / `server-state-base`: the server states read at
  // start-up by the backends with `load-server-state-from-file global|local`
  // (stats/server_state_file.h).
  std::string server_state_file;
  std::string server_state_base;
  // `maxpipes <n>`: pipes kept for splicing, process-wide (0: maxconn / 4,
  // haproxy's default). `tune.pipesize <bytes>`: each pipe's size (0: the
  // kernel's, 64 KiB).
  int maxpipes = 0;
  int pipesize = 0;
  // `tune.maxaccept <n>`: connections a listener accepts per wake-up before
  // it lets the other work of its thread run (0: herd's default, 64 as
  // haproxy's; -1: unlimited).
  int maxaccept = 0;
  bool maxaccept_set = false;
  // TLS: `crt-base`, `ca-base`, `ssl-default-bind-*`, `ssl-default-server-*`.
  std::string crt_base, ca_base;
  std::string bind_ciphers, bind_ciphersuites, server_ciphers, server_ciphersuites;
  bool bind_ciphers_set = false, bind_ciphersuites_set = false;
  bool server_ciphers_set = false, server_ciphersuites_set = false;
  TlsOptions bind_options, server_options;
  Location where;
};

// A `userlist` section: users with their passwords (a crypt(3) hash, or
// clear text with `insecure-password`) and the groups each belongs to, the
// `group ... users` and `user ... groups` lines merged (config/keywords_userlist.cpp).
struct Userlist {
  std::string name;
  struct User {
    std::string name;
    std::string password;
    bool has_password = false;        // `user <name>` alone: nobody can log in as it
    bool insecure = false;            // `insecure-password` (kept once given, as haproxy)
    std::vector<std::string> groups;  // resolved, no duplicates
    Location where;
  };
  std::vector<User> users;
  std::vector<std::string> groups;  // declared group names
  // Unresolved `group <g> users a,b` and `user <u> groups a,b` lists, for
  // the end-of-parse check (haproxy's userlist_postinit()).
  std::vector<std::pair<std::string, std::string>> group_users, user_groups;
  bool defined = false;  // false: only referenced so far (an ACL names it)
  Location where;
  const User* find(std::string_view user) const {
    for (const auto& u : users)
      if (u.name == user) return &u;
    return nullptr;
  }
};

// An ACL criterion: `acl <name> <fetch> [-i] [-m <m>] <values...>` or an
// anonymous one inside `{ }` in a condition.
struct Acl {
  std::string name;
  std::string fetch;  // "path_beg", "path", "path_end", "hdr(host)", "hdr_beg(host)", "src", "method", ...
  bool ignore_case = false;  // -i
  // `-m <method>`: "" when absent (the fetch's own matching); only with
  // env() (str, beg, end, sub, reg, len, found) and var() (str, int, beg,
  // end, sub, found: haproxy's var has no default).
  std::string match;
  std::vector<std::string> values;
  // The values compiled, for the regex fetches (`hdr_reg`, `path_reg`, ...).
  std::vector<std::shared_ptr<const Regex>> regexes;
  // `http_auth(<userlist>)`, `http_auth_group(<userlist>)`: the userlist,
  // resolved once the whole configuration is read.
  std::shared_ptr<const Userlist> userlist;
  Location where;
};

// `if|unless <term> [<term> ...] [or <term> ...]`. Terms of one group are
// ANDed, groups are ORed; a term may be negated with `!`.
struct Condition {
  struct Term {
    bool negate = false;
    std::string acl;  // a named ACL, or "" when `inline_acl` is used
    std::optional<Acl> inline_acl;
  };
  bool unless = false;
  std::vector<std::vector<Term>> any_of;  // OR of ANDs
  bool empty() const { return any_of.empty(); }
};

// A log-format string such as "%[src]" or "foo-%[dst_port]" split into
// literal and sample-fetch parts.
struct FormatString {
  struct Part {
    bool is_fetch = false;
    std::string text;  // literal text, or the fetch expression ("src", "dst_port", "req.hdr(host)")
  };
  std::vector<Part> parts;
  std::string raw;
};

// A `log-format` / `unique-id-format` string as haproxy compiles it:
// literal text, separators (unescaped spaces, merged: one space at most is
// emitted, and none right after another separator or an empty variable),
// `%<var>` log variables with their `%{+Q,+X,+E}` flags, and `%[<fetch>]`
// sample expressions (parse_log_format in config/log_format.cpp).
struct LogFormat {
  enum class Kind { Text, Separator, Var, Expr };
  struct Node {
    Kind kind = Kind::Text;
    std::string text;  // Text: the literal; Var: the name ("ci", "Tt"); Expr: the fetch
    bool quote = false, hex = false, escape = false;  // Q, X, E flags
  };
  std::vector<Node> nodes;
  std::string raw;  // as written (after the tokenizer)
  Location where;   // the keyword's line
  bool empty() const { return nodes.empty(); }
};

// `http-request set-header|add-header|del-header|deny|allow ...` and
// `http-response set-header|add-header|del-header|replace-header|
// replace-value|set-status|deny|allow ...` (the same struct serves both).
struct HttpRequestRule {
  enum class Action {
    SetHeader,
    AddHeader,
    DelHeader,
    Deny,
    Allow,
    ReplaceHeader,
    ReplaceValue,
    SetStatus,
    Redirect,  // `http-request redirect ...` and the `redirect` keyword
    SetVar,    // `set-var(<scope>.<name>) <expr>` (`expr`), `set-var-fmt(...) <fmt>` (`value`)
    UnsetVar,  // `unset-var(<scope>.<name>)`
    Auth,      // `http-request auth [realm <realm>]`: 401 with WWW-Authenticate
    Tarpit     // `http-request tarpit [deny_status <code>]`: wait `timeout tarpit`, then status
  };
  Action action = Action::SetHeader;
  std::string name;  // header name as written; SetVar/UnsetVar: the variable ("txn.x")
  std::string
      expr;  // SetVar: the sample expression ("str(a)", "src", "req.hdr(host)"); "": `value`
  FormatString value;  // set/add; replace-header/replace-value: the replacement
  std::shared_ptr<const Regex> regex;  // replace-header/replace-value: the match
  int status = 0;                      // deny (deny_status), set-status
  std::string reason;                  // set-status `reason`; empty: the status's standard reason
  std::string realm;                   // auth: `realm`; empty: the proxy's name
  // Redirect: `location <fmt>`, `prefix <fmt>` or `scheme <fmt>` (in
  // `value`), `code` (in `status`, 302 by default), `drop-query`,
  // `append-slash`.
  enum class RedirectType { Location, Prefix, Scheme };
  RedirectType redirect_type = RedirectType::Location;
  bool drop_query = false;
  bool append_slash = false;
  std::optional<Condition> cond;
  Location where;
};

// `tcp-request connection|content accept|reject [if|unless <cond>]`.
// Connection rules run at accept (layer-4 samples); content rules run on
// what the client sent first (TCP frontends: within `tcp-request
// inspect-delay`; HTTP: on each request).
struct TcpRequestRule {
  bool content = false;
  bool accept = true;  // accept or reject
  std::optional<Condition> cond;
  Location where;
};

struct UseBackend {
  std::string backend;
  Condition cond;
  Location where;
};

enum class Mode { Tcp, Http };
enum class HttpConnMode { KeepAlive, ServerClose, Close };

enum class BalanceAlgo {
  RoundRobin,
  StaticRR,
  LeastConn,
  First,
  Source,
  Random,
  Uri,
  UrlParam,
  Hdr
};
const char* to_string(BalanceAlgo a);  // "roundrobin", "static-rr", ... (model.cpp)

struct Balance {
  BalanceAlgo algo = BalanceAlgo::RoundRobin;
  int random_draws = 2;  // random(<n>)
  // `url_param <param>`: the parameter's name; `hdr(<name>)`: the header's
  // name (as written; matched case-insensitively).
  std::string arg;
  bool use_domain_only = false;  // `hdr(<name>) use_domain_only`
};

// `hash-type map-based|consistent [sdbm|djb2|wt6|crc32] [avalanche]`: how the
// hashing algorithms (source, uri, url_param, hdr) turn a key into a server.
// haproxy 2.6's defaults: map-based sdbm; consistent alone is sdbm avalanche.
enum class HashFunction { Sdbm, Djb2, Wt6, Crc32 };
struct HashType {
  bool consistent = false;
  HashFunction function = HashFunction::Sdbm;
  bool avalanche = false;
};

// `option forwardfor [except <net>] [header <name>] [if-none]`
struct ForwardFor {
  bool enabled = false;
  std::string except_net;  // "127.0.0.0/8", empty when not set
  std::string header = "x-forwarded-for";
  bool if_none = false;
};

// `cookie <name> [rewrite|insert|prefix] [indirect] [nocache] [postonly] [preserve] [httponly] [secure] [domain d] [maxidle] [maxlife] [dynamic]`
struct Cookie {
  bool enabled = false;
  std::string name;
  bool insert = false, rewrite = false, prefix = false;
  bool indirect = false, nocache = false, postonly = false, preserve = false;
  bool httponly = false, secure = false;
  std::vector<std::string> domains;
};

// `option httpchk [<method> <uri> [<version>]]` plus `http-check send|expect`.
struct HttpCheck {
  bool enabled = false;  // option httpchk present
  std::string method = "OPTIONS";
  std::string uri = "/";
  std::string version = "HTTP/1.0";
  std::vector<std::pair<std::string, std::string>> headers;  // from legacy version string or http-check send hdr
  std::string body;
  // http-check expect
  enum class Expect { Default, Status, RStatus, String, RString };
  Expect expect = Expect::Default;
  bool expect_negate = false;
  std::string expect_value;
  bool disable_on_404 = false;
  // `http-check send-state`: each check carries an x-haproxy-server-state
  // header (the server's state, weight and load, as haproxy builds it).
  bool send_state = false;
  // `http-check connect [default] [port <n>] [addr <ip>] [linger]
  // [comment <text>]`: where the check connects (0/"": the server's check
  // port and address, as without the rule).
  bool connect_rule = false;
  uint16_t connect_port = 0;
  std::string connect_addr;
};

// `option tcp-check` and its `tcp-check connect|send|send-binary|expect|
// comment` rules (HAProxy 2.6). Rules of a defaults section that says
// `option tcp-check` are used by a proxy that declares none of its own;
// `option httpchk` and `option tcp-check` replace each other (the last wins).
struct TcpCheckRule {
  enum class Kind { Connect, Send, Expect, Comment };
  Kind kind = Kind::Connect;
  std::string comment;  // `comment <text>` or the preceding `tcp-check comment`
  uint16_t port = 0;    // connect: `port`, 0 = the server's (or its check port)
  std::string data;     // send: the bytes; expect: the pattern (bytes for binary)
  enum class Match { String, RString, Binary };
  Match match = Match::String;
  bool negate = false;  // expect `!`
};
// `option mysql-check [user <name> [post-41]]`: the MySQL handshake check
// (health/mysql_check.h). The last of httpchk / tcp-check / mysql-check wins.
struct MysqlCheck {
  bool enabled = false;
  std::string user;     // empty: the server's greeting is checked alone
  bool post41 = false;  // the 4.1 client authentication packet
};

struct TcpCheck {
  bool enabled = false;  // option tcp-check present
  std::vector<TcpCheckRule> rules;
  bool inherited = false;  // rules came from the defaults section
};

// One `server` line (or a server made by server-template / default-server).
// `source <addr>[:<port>] [usesrc <addr>[:<port>] | client | clientip]`
// of a backend or a server (the server's wins): the address the connection
// to the server is bound to before connect (port 0: any, with
// IP_BIND_ADDRESS_NO_PORT), and with `usesrc` the foreign address it
// carries instead (IP_TRANSPARENT): a fixed one, the client's address and
// port (`client`) or address only (`clientip`). Health checks bind to the
// `source` address only, as haproxy's.
struct ConnSource {
  enum class Usesrc { None, Addr, Client, ClientIp };
  bool set = false;
  std::string host;  // numeric IPv4/IPv6
  uint16_t port = 0;
  Usesrc usesrc = Usesrc::None;
  std::string usesrc_host;  // Usesrc::Addr
  uint16_t usesrc_port = 0;
};

struct Server {
  std::string name;
  int id = 0;  // sid, from 1 within the backend, declaration order
  Address addr;
  int weight = 1;
  bool backup = false;
  bool disabled = false;
  int maxconn = 0;   // 0 = unlimited
  int maxqueue = 0;  // 0 = unlimited
  // `minconn`: with the backend's `fullconn`, the dynamic limit
  // max(minconn, maxconn * backend connections / fullconn) (haproxy's
  // srv_dynamic_maxconn()); 0: maxconn alone.
  int minconn = 0;
  // `on-marked-down shutdown-sessions`: the server's connections are cut
  // when it goes DOWN; `on-marked-up shutdown-backup-sessions`: the
  // backups' connections are cut when it comes UP.
  bool shutdown_on_down = false;
  bool shutdown_backup_on_up = false;
  bool check = false;
  int64_t inter_ms = 2000;
  int64_t fastinter_ms = 0;  // 0: same as inter
  int64_t downinter_ms = 0;  // 0: same as inter
  int rise = 2;
  int fall = 3;
  uint16_t check_port = 0;  // 0: server port
  std::string check_addr;   // empty: server address
  std::string cookie;       // `cookie <value>`
  // `resolvers <name>`: the address follows that section's DNS answers for
  // `addr.host` when it is a name (dns/resolver.h); `resolve-prefer`
  // (haproxy's default: ipv6); `init-addr` methods in order ("last",
  // "libc", "none" or a literal IP; empty: haproxy's default last,libc).
  std::string resolvers;
  bool resolve_prefer_ipv4 = false;
  std::vector<std::string> init_addr;
  // Set after parsing: the address is a name that no init-addr method gave
  // an address for (`none`); the server starts in MAINT (resolution).
  bool no_initial_addr = false;
  ConnSource source;  // server `source` (unset: the backend's)
  // `socks4 <addr>:<port>`: connections go through this SOCKS4 proxy
  // (CONNECT, then the traffic); `check-via-socks4`: the checks too.
  std::string socks4_host;
  uint16_t socks4_port = 0;
  bool check_via_socks4 = false;
  int send_proxy = 0;       // `send-proxy`: 1, `send-proxy-v2`: 2 (PROXY protocol to the server)
  // `slowstart <time>` (ms, 0: none): after the server comes UP its
  // effective weight (dynamic algorithms) and its maxconn ramp up over this
  // time, as haproxy 2.6 does (balancing/pool.h).
  int64_t slowstart_ms = 0;
  // `hash-key id|addr|addr-port` (haproxy 3.0's keyword, not 2.6's): what
  // the server's `hash-type consistent` ring positions derive from.
  enum class HashKey { Id, Addr, AddrPort } hash_key = HashKey::Id;
  // passive health (observe/error-limit/on-error)
  std::string observe;      // "", "layer4", "layer7"
  int error_limit = 10;
  std::string on_error = "fail-check";
  // `ssl`, `verify none|required`, `ca-file`, `sni <expr>`, `alpn`, `crt`,
  // `check-ssl`, `check-sni` (keywords_server.cpp); the context is built by tls::prepare().
  struct Tls {
    bool enabled = false;    // `ssl` (`no-ssl` clears it)
    bool check_ssl = false;  // `check-ssl`: health checks over TLS
    enum class Verify { Default, None, Required } verify = Verify::Default;
    std::string ca_file;  // ca-base applied
    // `sni`: str(<text>), req.hdr(<name>) / hdr(<name>), ssl_fc_sni.
    enum class Sni { None, Literal, Header, ClientSni } sni = Sni::None;
    std::string sni_arg;
    std::vector<std::string> alpn;
    std::string crt;  // `crt <file>`: the client certificate shown to the server (crt-base applied)
    std::string check_sni;  // `check-sni <name>`: the SNI of health checks over TLS
  } tls;
  std::shared_ptr<const void> tls_ctx;  // tls::ClientContext, opaque here
  Location where;
};

// `resolvers <name>` section (dns/resolver.h). Times in ms; defaults are
// haproxy 2.6's.
struct Resolvers {
  std::string name;
  struct Nameserver {
    std::string id;
    Address addr;  // UDP
    Location where;
  };
  std::vector<Nameserver> nameservers;
  int accepted_payload_size = 512;
  int resolve_retries = 3;
  int64_t timeout_resolve = 1000, timeout_retry = 1000;
  int64_t hold_valid = 10000, hold_nx = 30000, hold_other = 30000, hold_refused = 30000,
          hold_timeout = 30000, hold_obsolete = 0;
  Location where;
};

struct Timeouts {
  int64_t connect = 0, client = 0, server = 0, http_request = 0, http_keep_alive = 0, queue = 0,
          check = 0, tunnel = 0;
  // Half-closed tunnels: the inactivity timeout once the other side's FIN
  // was passed on to the client (client_fin) or the server (server_fin).
  int64_t client_fin = 0, server_fin = 0;
  // `timeout tarpit`; when not set, the proxy's `timeout connect` (a
  // frontend has one only when its own section sets it), as haproxy.
  int64_t tarpit = 0;
};

struct StatsConfig {
  bool enabled = false;
  std::string uri = "/haproxy?stats";
  int64_t refresh_ms = 0;
  std::vector<std::pair<std::string, std::string>> auth;  // user, password
  std::string realm = "HAProxy Statistics";
  bool hide_version = false;
  std::optional<Condition> admin;  // `stats admin if <cond>`
  bool show_legends = false;
  bool show_node = false;
  bool realm_set = false;  // `stats realm` was written (it excludes `stats http-request`)
  // `stats scope <proxy>`: the page lists only these proxies ("." is the
  // proxy serving the page); empty: all of them.
  std::vector<std::string> scope;
  // `stats http-request allow|deny|auth [...] [if|unless <cond>]`: run on
  // requests for the page, first match wins (auth without `realm` asks for
  // "HAProxy Statistics", haproxy's default stats realm).
  std::vector<HttpRequestRule> http_request;
};

// frontend, backend, listen or defaults section.
struct Proxy {
  enum class Kind { Defaults, Frontend, Backend, Listen };
  Kind kind = Kind::Frontend;
  std::string name;
  int id = 0;  // iid; the first proxy in the file gets 2
  Mode mode = Mode::Tcp;
  bool has_frontend() const { return kind == Kind::Frontend || kind == Kind::Listen; }
  bool has_backend() const { return kind == Kind::Backend || kind == Kind::Listen; }

  // frontend side
  std::vector<Bind> binds;
  std::string default_backend;
  std::vector<UseBackend> use_backends;
  std::map<std::string, std::vector<Acl>> acls;  // several lines may share a name (ORed)
  std::vector<HttpRequestRule> http_request;
  std::vector<HttpRequestRule> http_response;  // applied backend first, then frontend
  std::vector<HttpRequestRule> redirects;      // `redirect` rules: after http-request ones
  std::vector<TcpRequestRule> tcp_request;
  int64_t inspect_delay = 0;  // `tcp-request inspect-delay`, ms (0: none)
  int maxconn = 0;
  // `declare capture request|response len <n>`: the capture slots (their
  // lengths). Nothing in herd fills them (`http-request capture` is refused),
  // so they show empty in the httplog line ("{|}"), as haproxy shows them.
  std::vector<int> req_captures, res_captures;
  bool httplog = false;
  // `option tcplog`: one line per connection in haproxy's TCP format; also
  // what `option httplog` falls back to on a TCP frontend (as haproxy).
  bool tcplog = false;
  Location log_option_where;  // the last httplog/tcplog line, for warnings
  bool dontlognull = false;
  // `option http-ignore-probes`: a connection that ends or times out before
  // sending a byte is neither answered (408), counted nor logged.
  bool http_ignore_probes = false;
  // `option clitcpka` (frontend) / `option srvtcpka` (backend), both set by
  // `option tcpka`: SO_KEEPALIVE on the client / server sockets.
  bool clitcpka = false;
  // `option tcp-smart-accept` (frontend): -1 unset (on in `mode http`, off
  // in `mode tcp`, haproxy's default), 0 `no option`, 1 `option`. On, the
  // listening sockets get TCP_QUICKACK 0 (the kernel may delay the ACK of
  // the request, sending it with the response); off, TCP_QUICKACK 1.
  int tcp_smart_accept = -1;
  bool srvtcpka = false;
  // `log-format <fmt>` (a frontend's own or its defaults'): replaces the
  // httplog/tcplog layout; `option httplog|tcplog` after it replaces it.
  std::optional<LogFormat> log_format;
  // `unique-id-format <fmt>` and `unique-id-header <name>`: each request's
  // unique ID (%ID, the `unique-id` fetch), sent to the server in <name>.
  std::optional<LogFormat> unique_id_format;
  std::string unique_id_header;
  // `option log-health-checks` (a backend's): every health-check result
  // change is logged, not only the state changes.
  bool log_health_checks = false;
  bool log_global = false;
  // `option contstats` (frontend): byte counters grow while a transfer goes
  // on (response bodies, tunnels), not only when it ends.
  bool contstats = false;
  std::vector<LogTarget> logs;  // proxy-local targets (with log_global, the global ones too)
  std::map<int, std::string> errorfiles;  // status -> file contents (loaded at parse time)
  // `monitor-uri <uri>` (empty: none) and `monitor fail if|unless <cond>`:
  // a request for exactly that target gets 200 "Service ready", or 503 when
  // a condition holds; it reaches no backend and is not logged (haproxy 2.6).
  std::string monitor_uri;
  std::vector<Condition> monitor_fail;

  // backend side
  Balance balance;
  HashType hash_type;
  // The `default-server` line's `slowstart` (ms, 0: none), which servers
  // added by membership take (balancing::PoolWriter::add_server).
  int64_t default_slowstart_ms = 0;
  std::vector<Server> servers;
  ConnSource source;  // `source ...` of the backend (a server's own wins)
  ForwardFor forwardfor;
  Cookie cookie;
  HttpCheck httpchk;
  TcpCheck tcpchk;
  MysqlCheck mysqlchk;
  int retries = 3;
  // `retry-on`: what makes herd send a request again (within `retries`).
  // Without the keyword: connection failures (HAProxy's default), and once,
  // an idempotent request whose reused idle server connection closed before
  // answering. Responses are retried only for replayable requests.
  struct RetryOn {
    bool set = false;
    bool conn_failure = true;
    bool empty_response = false;
    bool junk_response = false;
    bool response_timeout = false;
    std::vector<int> statuses;  // 401 403 404 408 425 500 501 502 503 504
  } retry_on;
  bool redispatch = false;
  int redispatch_interval = 1;  // option redispatch <n>
  // `option accept-invalid-http-request` (frontend) / `-response` (backend):
  // a '#' or bytes >= 0x80 in a request target, and visible non-token
  // characters in header names, are let through as haproxy does.
  bool accept_invalid_request = false;
  bool accept_invalid_response = false;
  // `option splice-request|splice-response|splice-auto` (frontend or
  // backend, either enables it): bodies no rule inspects go socket to socket
  // through a pipe (splice(2)) instead of through a buffer. -1: not set, herd's
  // default (splice-auto; proxy/splice.h), 0: `no option ...`, 1: set.
  int8_t splice_request = -1;
  int8_t splice_response = -1;
  int8_t splice_auto = -1;
  // `option http-no-delay` (frontend or backend, either sets it): the relay
  // never holds a partial segment back with MSG_MORE (proxy/relay_io.h).
  bool http_no_delay = false;
  bool allbackups = false;
  // `option abortonclose`: a request still waiting for its server (in the
  // queue, connecting, or for the response head) is aborted when the client
  // closes its side (CQ/CC/CH), as haproxy; without it the request goes on.
  bool abortonclose = false;
  // `option prefer-last-server`: accepted, no effect (see configuration.md:
  // haproxy applies it to server connections kept by the client's session,
  // which herd's shared idle connections never are).
  bool prefer_last_server = false;
  int fullconn = 0;
  // `load-server-state-from-file global|local|none` (none when absent) and
  // `server-state-file-name` (empty: the backend's name), as HAProxy 2.6.
  enum class StateLoad { None, Global, Local };
  StateLoad load_server_state = StateLoad::None;
  std::string server_state_file_name;

  // both
  HttpConnMode conn_mode = HttpConnMode::KeepAlive;
  Timeouts timeouts;
  StatsConfig stats;
  Location where;
};

struct Config {
  Global global;
  std::vector<Proxy> proxies;  // frontends, backends and listens in declaration order
  std::vector<Resolvers> resolvers;  // `resolvers` sections in declaration order
  std::vector<std::string> files;  // as given with -f
  std::vector<std::shared_ptr<const Userlist>> userlists;  // in declaration order

  const Resolvers* find_resolvers(const std::string& name) const {
    for (const auto& r : resolvers)
      if (r.name == name) return &r;
    return nullptr;
  }
  const Proxy* find_backend(const std::string& name) const {
    for (const auto& p : proxies)
      if (p.has_backend() && p.name == name) return &p;
    return nullptr;
  }
};

}  // namespace herd::config
