// stats/csv.cpp — rows, CSV/typed/JSON renderings, show info, servers state
// (see csv.h).
#include "stats/csv.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <mutex>

namespace herd::stats {

namespace {

struct ColumnDef {
  const char* name;
  const char* tags[3];  // Frontend, Backend, Server: "KNS:str" or "" (never present)
};

// Generated from haproxy-captures/cli-session-admin.txt (show stat typed): column
// name and the typed tags per object type ("" = never present).
const ColumnDef kColumns[kNumColumns] = {
    {"pxname", {"KNS:str", "KNS:str", "KNS:str"}},
    {"svname", {"KNS:str", "KNS:str", "KNS:str"}},
    {"qcur", {"", "MGP:u32", "MGP:u32"}},
    {"qmax", {"", "MMP:u32", "MMP:u32"}},
    {"scur", {"MGP:u32", "MGP:u32", "MGP:u32"}},
    {"smax", {"MMP:u32", "MMP:u32", "MMP:u32"}},
    {"slim", {"CLP:u32", "CLP:u32", "CLP:u32"}},
    {"stot", {"MCP:u64", "MCP:u64", "MCP:u64"}},
    {"bin", {"MCP:u64", "MCP:u64", "MCP:u64"}},
    {"bout", {"MCP:u64", "MCP:u64", "MCP:u64"}},
    {"dreq", {"MCP:u64", "MCP:u64", ""}},
    {"dresp", {"MCP:u64", "MCP:u64", "MCP:u64"}},
    {"ereq", {"MCP:u64", "", ""}},
    {"econ", {"", "MCP:u64", "MCP:u64"}},
    {"eresp", {"", "MCP:u64", "MCP:u64"}},
    {"wretr", {"", "MCP:u64", "MCP:u64"}},
    {"wredis", {"", "MCP:u64", "MCP:u64"}},
    {"status", {"SGP:str", "SGP:str", "SGP:str"}},
    {"weight", {"", "MaP:u32", "MaP:u32"}},
    {"act", {"", "MGP:u32", "SGP:u32"}},
    {"bck", {"", "MGP:u32", "SGP:u32"}},
    {"chkfail", {"", "", "MCP:u64"}},
    {"chkdown", {"", "MCP:u64", "MCP:u64"}},
    {"lastchg", {"", "MAP:u32", "MAP:u32"}},
    {"downtime", {"", "MCP:u32", "MCP:u32"}},
    {"qlimit", {"", "", "CLP:u32"}},
    {"pid", {"KGP:u32", "KGP:u32", "KGP:u32"}},
    {"iid", {"KGS:u32", "KGS:u32", "KGS:u32"}},
    {"sid", {"KGS:u32", "KGS:u32", "KGS:u32"}},
    {"throttle", {"", "", "MOP:u32"}},
    {"lbtot", {"", "MCP:u64", "MCP:u64"}},
    {"tracked", {"", "", "CGS:str"}},
    {"type", {"CGS:u32", "CGS:u32", "CGS:u32"}},
    {"rate", {"MRP:u32", "MGP:u32", "MRP:u32"}},
    {"rate_lim", {"CLP:u32", "", ""}},
    {"rate_max", {"MMP:u32", "MGP:u32", "MMP:u32"}},
    {"check_status", {"", "", "MOP:str"}},
    {"check_code", {"", "", "MOP:u32"}},
    {"check_duration", {"", "", "MDP:u64"}},
    {"hrsp_1xx", {"MCP:u64", "MCP:u64", "MCP:u64"}},
    {"hrsp_2xx", {"MCP:u64", "MCP:u64", "MCP:u64"}},
    {"hrsp_3xx", {"MCP:u64", "MCP:u64", "MCP:u64"}},
    {"hrsp_4xx", {"MCP:u64", "MCP:u64", "MCP:u64"}},
    {"hrsp_5xx", {"MCP:u64", "MCP:u64", "MCP:u64"}},
    {"hrsp_other", {"MCP:u64", "MCP:u64", "MCP:u64"}},
    {"hanafail", {"", "", ""}},
    {"req_rate", {"MRP:u32", "", ""}},
    {"req_rate_max", {"MMP:u32", "", ""}},
    {"req_tot", {"MCP:u64", "MCP:u64", "MCP:u64"}},
    {"cli_abrt", {"", "MCP:u64", "MCP:u64"}},
    {"srv_abrt", {"", "MCP:u64", "MCP:u64"}},
    {"comp_in", {"MCP:u64", "MCP:u64", ""}},
    {"comp_out", {"MCP:u64", "MCP:u64", ""}},
    {"comp_byp", {"MCP:u64", "MCP:u64", ""}},
    {"comp_rsp", {"MCP:u64", "MCP:u64", ""}},
    {"lastsess", {"", "MAP:s32", "MAP:s32"}},
    {"last_chk", {"", "", "MOP:str"}},
    {"last_agt", {"", "", ""}},
    {"qtime", {"", "MaP:u32", "MaP:u32"}},
    {"ctime", {"", "MaP:u32", "MaP:u32"}},
    {"rtime", {"", "MaP:u32", "MaP:u32"}},
    {"ttime", {"", "MaP:u32", "MaP:u32"}},
    {"agent_status", {"", "", ""}},
    {"agent_code", {"", "", ""}},
    {"agent_duration", {"", "", ""}},
    {"check_desc", {"", "", "MOP:str"}},
    {"agent_desc", {"", "", ""}},
    {"check_rise", {"", "", "CGS:u32"}},
    {"check_fall", {"", "", "CGS:u32"}},
    {"check_health", {"", "", "CGS:u32"}},
    {"agent_rise", {"", "", ""}},
    {"agent_fall", {"", "", ""}},
    {"agent_health", {"", "", ""}},
    {"addr", {"", "", "CGS:str"}},
    {"cookie", {"", "CGS:str", "CGS:str"}},
    {"mode", {"CGS:str", "CGS:str", "CGS:str"}},
    {"algo", {"", "CGS:str", ""}},
    {"conn_rate", {"MRP:u32", "", ""}},
    {"conn_rate_max", {"MMP:u32", "", ""}},
    {"conn_tot", {"MCP:u64", "", ""}},
    {"intercepted", {"MCP:u64", "", ""}},
    {"dcon", {"MCP:u64", "", ""}},
    {"dses", {"MCP:u64", "", ""}},
    {"wrew", {"MCP:u64", "MCP:u64", "MCP:u64"}},
    {"connect", {"", "MCP:u64", "MCP:u64"}},
    {"reuse", {"", "MCP:u64", "MCP:u64"}},
    {"cache_lookups", {"MCP:u64", "MCP:u64", ""}},
    {"cache_hits", {"MCP:u64", "MCP:u64", ""}},
    {"srv_icur", {"", "", "MGP:u32"}},
    {"src_ilim", {"", "", ""}},
    {"qtime_max", {"", "MMP:u32", "MMP:u32"}},
    {"ctime_max", {"", "MMP:u32", "MMP:u32"}},
    {"rtime_max", {"", "MMP:u32", "MMP:u32"}},
    {"ttime_max", {"", "MMP:u32", "MMP:u32"}},
    {"eint", {"MCP:u64", "MCP:u64", "MCP:u64"}},
    {"idle_conn_cur", {"", "", "MGP:u32"}},
    {"safe_conn_cur", {"", "", "MGP:u32"}},
    {"used_conn_cur", {"", "", "MGP:u32"}},
    {"need_conn_est", {"", "", "MGP:u32"}},
    {"uweight", {"", "MaP:u32", "MaP:u32"}},
    {"agg_server_status", {"", "MGP:u32", ""}},
    {"agg_server_check_status", {"", "MGP:u32", ""}},
    {"agg_check_status", {"", "MGP:u32", ""}},
    {"-", {"", "", ""}},
    {"ssl_sess", {"MCP:u64", "MCP:u64", "MCP:u64"}},
    {"ssl_reused_sess", {"MCP:u64", "MCP:u64", "MCP:u64"}},
    {"ssl_failed_handshake", {"MCP:u64", "MCP:u64", "MCP:u64"}},
    {"h2_headers_rcvd", {"MCP:u64", "MCP:u64", ""}},
    {"h2_data_rcvd", {"MCP:u64", "MCP:u64", ""}},
    {"h2_settings_rcvd", {"MCP:u64", "MCP:u64", ""}},
    {"h2_rst_stream_rcvd", {"MCP:u64", "MCP:u64", ""}},
    {"h2_goaway_rcvd", {"MCP:u64", "MCP:u64", ""}},
    {"h2_detected_conn_protocol_errors", {"MCP:u64", "MCP:u64", ""}},
    {"h2_detected_strm_protocol_errors", {"MCP:u64", "MCP:u64", ""}},
    {"h2_rst_stream_resp", {"MCP:u64", "MCP:u64", ""}},
    {"h2_goaway_resp", {"MCP:u64", "MCP:u64", ""}},
    {"h2_open_connections", {"MGP:u64", "MGP:u64", ""}},
    {"h2_backend_open_streams", {"MGP:u64", "MGP:u64", ""}},
    {"h2_total_connections", {"MCP:u64", "MCP:u64", ""}},
    {"h2_backend_total_streams", {"MCP:u64", "MCP:u64", ""}},
    {"h1_open_connections", {"MGP:u64", "MGP:u64", ""}},
    {"h1_open_streams", {"MGP:u64", "MGP:u64", ""}},
    {"h1_total_connections", {"MCP:u64", "MCP:u64", ""}},
    {"h1_total_streams", {"MCP:u64", "MCP:u64", ""}},
    {"h1_bytes_in", {"MCP:u64", "MCP:u64", ""}},
    {"h1_bytes_out", {"MCP:u64", "MCP:u64", ""}},
    {"h1_spliced_bytes_in", {"MCP:u64", "MCP:u64", ""}},
    {"h1_spliced_bytes_out", {"MCP:u64", "MCP:u64", ""}},
};

struct InfoDef {
  int pos;
  const char* name;
  const char* tags;
};

const InfoDef kInfo[] = {
    {0, "Name", "POS:str"},
    {1, "Version", "POS:str"},
    {2, "Release_date", "POS:str"},
    {3, "Nbthread", "CGS:u32"},
    {4, "Nbproc", "CGS:u32"},
    {5, "Process_num", "KGP:u32"},
    {6, "Pid", "SGP:u32"},
    {7, "Uptime", "MDP:str"},
    {8, "Uptime_sec", "MDP:u32"},
    {9, "Memmax_MB", "CLP:u32"},
    {10, "PoolAlloc_MB", "MGP:u32"},
    {11, "PoolUsed_MB", "MGP:u32"},
    {12, "PoolFailed", "MCP:u32"},
    {13, "Ulimit-n", "CLP:u32"},
    {14, "Maxsock", "CLP:u32"},
    {15, "Maxconn", "CLP:u32"},
    {16, "Hard_maxconn", "CLP:u32"},
    {17, "CurrConns", "MGP:u32"},
    {18, "CumConns", "MCP:u32"},
    {19, "CumReq", "MCP:u32"},
    {20, "MaxSslConns", "MMP:u32"},
    {21, "CurrSslConns", "MGP:u32"},
    {22, "CumSslConns", "MCP:u32"},
    {23, "Maxpipes", "CLP:u32"},
    {24, "PipesUsed", "MGP:u32"},
    {25, "PipesFree", "MGP:u32"},
    {26, "ConnRate", "MRP:u32"},
    {27, "ConnRateLimit", "CLP:u32"},
    {28, "MaxConnRate", "MMP:u32"},
    {29, "SessRate", "MRP:u32"},
    {30, "SessRateLimit", "CLP:u32"},
    {31, "MaxSessRate", "MRP:u32"},
    {32, "SslRate", "MRP:u32"},
    {33, "SslRateLimit", "CLP:u32"},
    {34, "MaxSslRate", "MMP:u32"},
    {35, "SslFrontendKeyRate", "MGP:u32"},
    {36, "SslFrontendMaxKeyRate", "MMP:u32"},
    {37, "SslFrontendSessionReuse_pct", "MGP:u32"},
    {38, "SslBackendKeyRate", "MRP:u32"},
    {39, "SslBackendMaxKeyRate", "MMP:u32"},
    {40, "SslCacheLookups", "MCP:u32"},
    {41, "SslCacheMisses", "MCP:u32"},
    {42, "CompressBpsIn", "MRP:u32"},
    {43, "CompressBpsOut", "MRP:u32"},
    {44, "CompressBpsRateLim", "CLP:u32"},
    {47, "Tasks", "MGP:u32"},
    {48, "Run_queue", "MGP:u32"},
    {49, "Idle_pct", "MaP:u32"},
    {50, "node", "COS:str"},
    {52, "Stopping", "MGP:u32"},
    {53, "Jobs", "MGP:u32"},
    {54, "Unstoppable Jobs", "MGP:u32"},
    {55, "Listeners", "MGP:u32"},
    {56, "ActivePeers", "MGP:u32"},
    {57, "ConnectedPeers", "MGP:u32"},
    {58, "DroppedLogs", "MGP:u32"},
    {59, "BusyPolling", "MGP:u32"},
    {60, "FailedResolutions", "MGP:u32"},
    {61, "TotalBytesOut", "MGP:u64"},
    {62, "TotalSplicdedBytesOut", "MGP:u64"},
    {63, "BytesOutRate", "MRP:u64"},
    {64, "DebugCommandsIssued", "MGP:u32"},
    {65, "CumRecvLogs", "MCP:u32"},
    {66, "Build info", "POS:str"},
    {67, "Memmax_bytes", "CLP:u32"},
    {68, "PoolAlloc_bytes", "MGP:u64"},
    {69, "PoolUsed_bytes", "MGP:u64"},
    {70, "Start_time_sec", "MDP:u32"},
    {71, "Tainted", "SGP:str"},
    // herd's own, after HAProxy 2.6's fields (clients read fields by name).
    {72, "Poller", "CGS:str"},
};

constexpr const char* kInfoDesc[] = {
    "Product name",
    "Product version",
    "Date of latest source code update",
    "Number of started threads (global.nbthread)",
    "Number of started worker processes (historical, always 1)",
    "Relative worker process number (1)",
    "This worker process identifier for the system",
    "How long ago this worker process was started (days+hours+minutes+seconds)",
    "How long ago this worker process was started (seconds)",
};

using Clock = std::chrono::steady_clock;
using balancing::Counter;
using balancing::Server;

std::string build_date() {
  // __DATE__ is "Mmm dd yyyy".
  static const char* const kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                        "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  const char* d = __DATE__;
  int month = 1;
  for (int i = 0; i < 12; ++i)
    if (std::strncmp(d, kMonths[i], 3) == 0) month = i + 1;
  int day = std::atoi(d + 4);
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.4s/%02d/%02d", d + 7, month % 100, day % 100);
  return buf;
}

Value::Type type_of(const char* tags) {
  const char* t = std::strchr(tags, ':');
  if (!t) return Value::Type::None;
  ++t;
  if (std::strcmp(t, "str") == 0) return Value::Type::Str;
  if (std::strcmp(t, "u32") == 0) return Value::Type::U32;
  if (std::strcmp(t, "s32") == 0) return Value::Type::S32;
  return Value::Type::U64;
}

const char* type_name(Value::Type t) {
  switch (t) {
    case Value::Type::Str:
      return "str";
    case Value::Type::U32:
      return "u32";
    case Value::Type::S32:
      return "s32";
    case Value::Type::U64:
      return "u64";
    case Value::Type::None:
      break;
  }
  return "";
}

const char* origin_name(char c) {
  switch (c) {
    case 'K':
      return "Key";
    case 'C':
      return "Config";
    case 'P':
      return "Product";
    case 'S':
      return "Status";
    case 'M':
      return "Metric";
  }
  return "Unknown";
}
const char* nature_name(char c) {
  switch (c) {
    case 'N':
      return "Name";
    case 'G':
      return "Gauge";
    case 'L':
      return "Limit";
    case 'A':
      return "Age";
    case 'a':
      return "Avg";
    case 'C':
      return "Counter";
    case 'D':
      return "Duration";
    case 'M':
      return "Max";
    case 'O':
      return "Output";
    case 'R':
      return "Rate";
    case 'T':
      return "Time";
  }
  return "Unknown";
}
const char* scope_name(char c) {
  switch (c) {
    case 'S':
      return "Service";
    case 'P':
      return "Process";
    case 'C':
      return "Cluster";
    case 's':
      return "System";
  }
  return "Unknown";
}

// Typed position: module columns after "-" are numbered without it.
int typed_pos(int col) { return col < kDashColumn ? col : col - 1; }

const char* obj_letter(ObjType t) {
  return t == ObjType::Frontend ? "F" : t == ObjType::Backend ? "B" : "S";
}
const char* obj_name(ObjType t) {
  return t == ObjType::Frontend ? "Frontend" : t == ObjType::Backend ? "Backend" : "Server";
}

// A row with every column HAProxy shows for this object type present and
// zero/empty; the caller then fills values and removes dynamic absences.
Row blank_row(ObjType type) {
  Row r;
  r.type = type;
  const int t = static_cast<int>(type);
  for (int c = 0; c < kNumColumns; ++c) {
    const char* tags = kColumns[c].tags[t];
    if (!*tags) continue;
    // Columns filled only when they apply (added back by the row builders).
    if (type == ObjType::Server &&
        (c == kSLim || c == kQLimit || c == kCookie || c == kThrottle || c == 31))
      continue;
    if (type == ObjType::Backend && c == kCookie) continue;
    r.f[c].type = type_of(tags);
  }
  return r;
}

void set(Row& r, int c, int64_t n) {
  if (r.f[c].type == Value::Type::None)
    r.f[c].type = type_of(kColumns[c].tags[static_cast<int>(r.type)]);
  if (r.f[c].type == Value::Type::None) r.f[c].type = Value::Type::U64;
  r.f[c].num = n;
}
void set(Row& r, int c, std::string s) {
  r.f[c].type = Value::Type::Str;
  r.f[c].str = std::move(s);
}
void clear(Row& r, int c) { r.f[c] = Value{}; }

int64_t sum(const balancing::CounterSet& cs, Counter c) { return static_cast<int64_t>(cs.sum(c)); }

// The time statistics of a server or backend row of `px` (time_stats.h):
// averages over HAProxy's sample count (requests for HTTP, balanced
// connections for TCP), and the maxima.
void fill_times(Row& r, const config::Proxy& px, const balancing::CounterSet& cs,
                const balancing::TimeMaxes& mx) {
  const uint64_t n = cs.sum(px.mode == config::Mode::Http ? Counter::Requests : Counter::LbTotal);
  auto avg = [&](Counter total) {
    return static_cast<int64_t>(balancing::time_average(cs.sum(total), n));
  };
  set(r, kQTime, avg(Counter::QueueTimeMsSum));
  set(r, kCTime, avg(Counter::ConnectTimeMsSum));
  set(r, kRTime, avg(Counter::ResponseTimeMsSum));
  set(r, kTTime, avg(Counter::TotalTimeMsSum));
  auto ld = [](const std::atomic<uint32_t>& a) {
    return static_cast<int64_t>(a.load(std::memory_order_relaxed));
  };
  set(r, kQTimeMax, ld(mx.queue));
  set(r, kCTimeMax, ld(mx.connect));
  set(r, kRTimeMax, ld(mx.response));
  set(r, kTTimeMax, ld(mx.total));
}

int64_t since_ms(int64_t steady_ms) {
  if (steady_ms < 0) return -1;
  int64_t now =
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now().time_since_epoch())
          .count();
  return std::max<int64_t>(0, (now - steady_ms) / 1000);
}

void fill_counters(Row& r, const balancing::CounterSet& cs) {
  set(r, kSTot, sum(cs, Counter::Sessions));
  set(r, kBIn, sum(cs, Counter::BytesIn));
  set(r, kBOut, sum(cs, Counter::BytesOut));
  if (r.f[kDReq].present()) set(r, kDReq, sum(cs, Counter::DeniedReq));
  if (r.f[kEReq].present()) set(r, kEReq, sum(cs, Counter::ErrReq));
  if (r.f[kECon].present()) set(r, kECon, sum(cs, Counter::ErrConn));
  if (r.f[kEResp].present()) set(r, kEResp, sum(cs, Counter::ErrResp));
  if (r.f[kWRetr].present()) set(r, kWRetr, sum(cs, Counter::Retries));
  if (r.f[kWRedis].present()) set(r, kWRedis, sum(cs, Counter::Redispatches));
  set(r, kHrsp1xx, sum(cs, Counter::Http1xx));
  set(r, kHrsp2xx, sum(cs, Counter::Http2xx));
  set(r, kHrsp3xx, sum(cs, Counter::Http3xx));
  set(r, kHrsp4xx, sum(cs, Counter::Http4xx));
  set(r, kHrsp5xx, sum(cs, Counter::Http5xx));
  set(r, kHrspOther, sum(cs, Counter::HttpOther));
  set(r, kReqTot, sum(cs, Counter::Requests));
  if (r.f[kCliAbrt].present()) set(r, kCliAbrt, sum(cs, Counter::CliAborts));
  if (r.f[kSrvAbrt].present()) set(r, kSrvAbrt, sum(cs, Counter::SrvAborts));
  if (r.f[kLbTot].present()) set(r, kLbTot, sum(cs, Counter::LbTotal));
}

int frontend_maxconn(const config::Proxy& px, const ProcessInfo& info) {
  return px.maxconn > 0 ? px.maxconn : info.maxconn;
}

// HAProxy's default fullconn: a tenth (rounded up) of the maxconn of the
// frontends that can route to the backend, at least 1.
int backend_fullconn(const config::Config& cfg, const config::Proxy& be, const ProcessInfo& info) {
  if (be.fullconn > 0) return be.fullconn;
  int64_t total = 0;
  for (const auto& px : cfg.proxies) {
    if (!px.has_frontend()) continue;
    bool routes = (&px == &be) || px.default_backend == be.name;
    for (const auto& ub : px.use_backends) routes = routes || ub.backend == be.name;
    if (routes) total += frontend_maxconn(px, info);
  }
  int v = static_cast<int>((total + 9) / 10);
  return v > 0 ? v : 1;
}

// haproxy leaves the HTTP columns of a TCP proxy's rows empty.
void clear_http_columns(Row& r, const config::Proxy& px) {
  if (px.mode == config::Mode::Http) return;
  for (int c = 0; c < kNumColumns; ++c) {
    std::string_view n = kColumns[c].name;
    if (n.starts_with("hrsp_") || n.starts_with("cache_")) clear(r, c);
  }
  clear(r, r.type == ObjType::Frontend ? kIntercepted : kReqTot);
}

const char* mode_name(const config::Proxy& px) {
  return px.mode == config::Mode::Http ? "http" : "tcp";
}

std::string default_check_desc(const std::string& st) {
  static const std::pair<const char*, const char*> kDesc[] = {
      {"INI", "Initializing"},
      {"SOCKERR", "Socket error"},
      {"L4OK", "Layer4 check passed"},
      {"L4TOUT", "Layer4 timeout"},
      {"L4CON", "Layer4 connection problem"},
      {"L6OK", "Layer6 check passed"},
      {"L6TOUT", "Layer6 timeout"},
      {"L6RSP", "Layer6 invalid response"},
      {"L7TOUT", "Layer7 timeout"},
      {"L7RSP", "Layer7 invalid response"},
      {"L7OK", "Layer7 check passed"},
      {"L7OKC", "Layer7 check conditionally passed"},
      {"L7STS", "Layer7 wrong status"},
      {"UNK", "Unknown"},
  };
  for (const auto& [k, v] : kDesc)
    if (st == k) return v;
  return "";
}

// `show servers state` numeric check status and result.
int check_status_code(const std::string& st) {
  static const std::pair<const char*, int> kCodes[] = {
      {"INI", 1},   {"SOCKERR", 4}, {"L4OK", 6},   {"L4TOUT", 7},  {"L4CON", 8},
      {"L6OK", 9},  {"L6TOUT", 10}, {"L6RSP", 11}, {"L7TOUT", 12}, {"L7RSP", 13},
      {"L7OK", 15}, {"L7OKC", 16},  {"L7STS", 17},
  };
  if (st.empty()) return 1;
  for (const auto& [k, v] : kCodes)
    if (st == k) return v;
  return 0;
}
int check_result_code(const std::string& st) {
  if (st.empty() || st == "INI") return 0;
  if (st == "L7OKC") return 4;
  if (st == "L4OK" || st == "L6OK" || st == "L7OK") return 3;
  return 2;
}

const config::Server* config_server(const balancing::BackendSnapshot& be, const std::string& name) {
  if (!be.config) return nullptr;
  for (const auto& s : be.config->servers)
    if (s.name == name) return &s;
  return nullptr;
}

}  // namespace

const char* const kHerdVersion = "2.6.12-herd-0.1.0";

ProcessInfo::ProcessInfo() : version(kHerdVersion), release_date(build_date()), pid(getpid()) {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
    ulimit_n = static_cast<int>(rl.rlim_cur);
  maxsock = ulimit_n;
  maxconn = ulimit_n > 16 ? ulimit_n - 16 : 1;  // refined by app/ from the config
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) == 0) node = host;
}

const std::string& csv_header() {
  static const std::string h = [] {
    std::string s = "# ";
    for (int c = 0; c < kNumColumns; ++c) {
      s += kColumns[c].name;
      s += ',';
    }
    s += '\n';
    return s;
  }();
  return h;
}

std::string_view column_name(int col) {
  return col >= 0 && col < kNumColumns ? kColumns[col].name : "";
}

std::string Value::text() const {
  switch (type) {
    case Type::None:
      return "";
    case Type::Str:
      return str;
    default:
      return std::to_string(num);
  }
}

int64_t seconds_since(Clock::time_point t) {
  auto d = Clock::now() - t;
  auto s = std::chrono::duration_cast<std::chrono::seconds>(d).count();
  return s < 0 ? 0 : s;
}

std::string human_duration(int64_t secs) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%lldd %lldh%02lldm%02llds", static_cast<long long>(secs / 86400),
                static_cast<long long>(secs % 86400 / 3600),
                static_cast<long long>(secs % 3600 / 60), static_cast<long long>(secs % 60));
  return buf;
}

std::string csv_escape(std::string_view v) {
  if (v.find_first_of(",\"\r\n") == std::string_view::npos) return std::string(v);
  std::string out = "\"";
  for (char ch : v) {
    if (ch == '"') out += '"';
    out += ch;
  }
  out += '"';
  return out;
}

std::string json_escape(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (unsigned char ch : v) {
    switch (ch) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (ch < 0x20) {
          char b[8];
          std::snprintf(b, sizeof b, "\\u%04x", ch);
          out += b;
        } else {
          out += static_cast<char>(ch);
        }
    }
  }
  return out;
}

std::string server_status(const Server& s) {
  if (s.in_maint()) {
    if (s.admin & balancing::kAdminResolveMaint) return "MAINT (resolution)";
    return "MAINT";
  }
  const int full = s.rise + s.fall - 1;
  if (s.op == balancing::OpState::Stopped) {
    if (s.check_enabled && s.health > 0 && s.health < s.rise)
      return "DOWN " + std::to_string(s.health) + "/" + std::to_string(s.rise);
    return "DOWN";
  }
  std::string base;
  if (s.draining())
    base = "DRAIN";
  else if (s.op == balancing::OpState::Stopping)
    base = "NOLB";
  else if (!s.check_enabled)
    return "no check";
  else
    base = "UP";
  if (s.check_enabled && s.health >= s.rise && s.health < full)
    base += " " + std::to_string(s.health - s.rise + 1) + "/" + std::to_string(s.fall);
  return base;
}

int find_proxy_iid(const config::Config& cfg, std::string_view arg) {
  if (arg.empty()) return -1;
  if (arg == "-1") return -1;
  bool numeric = std::all_of(arg.begin(), arg.end(), [](char c) { return c >= '0' && c <= '9'; });
  for (const auto& px : cfg.proxies) {
    if (px.kind == config::Proxy::Kind::Defaults) continue;
    if (numeric ? std::to_string(px.id) == arg : px.name == arg) return px.id;
  }
  return -2;
}

namespace {

Row frontend_row(const Sources& src, const config::Proxy& px) {
  Row r = blank_row(ObjType::Frontend);
  r.iid = px.id;
  set(r, kPxName, px.name);
  set(r, kSvName, std::string("FRONTEND"));
  set(r, kSLim, frontend_maxconn(px, src.info));
  set(r, kPid, 1);
  set(r, kIid, px.id);
  set(r, kSid, 0);
  set(r, kType, 0);
  set(r, kMode, std::string(mode_name(px)));
  set(r, kDashColumn, std::string("-"));
  const balancing::FrontendLive* fl = src.proc.frontend(px.name);
  set(r, kStatus, std::string(fl && fl->stopped.load() ? "STOP" : "OPEN"));
  if (!fl) return r;
  set(r, kSCur, fl->sessions.get());
  set(r, kSMax, fl->sessions.max.load(std::memory_order_relaxed));
  fill_counters(r, fl->counters);
  set(r, kRate, fl->session_rate.rate());
  set(r, kRateMax, fl->session_rate.max());
  set(r, kReqRate, fl->request_rate.rate());
  set(r, kReqRateMax, fl->request_rate.max());
  set(r, kConnRate, fl->conn_rate.rate());
  set(r, kConnRateMax, fl->conn_rate.max());
  set(r, kConnTot, sum(fl->counters, Counter::Connections));
  set(r, kIntercepted, sum(fl->counters, Counter::Intercepted));
  set(r, kDashColumn + 1, sum(fl->counters, Counter::SslSessions));
  set(r, kDashColumn + 2, sum(fl->counters, Counter::SslReused));
  set(r, kDashColumn + 3, sum(fl->counters, Counter::SslFailedHandshake));
  set(r, kH1TotalConnections, sum(fl->counters, Counter::Connections));
  set(r, kH1TotalStreams, sum(fl->counters, Counter::Requests));
  set(r, kH1BytesIn, sum(fl->counters, Counter::BytesIn));
  set(r, kH1BytesOut, sum(fl->counters, Counter::BytesOut));
  clear_http_columns(r, px);
  return r;
}

struct HealthCopy {
  std::string status, desc, info;
  int code = 0, duration = -1;
  bool running = false;
};

HealthCopy health_of(const Server& s) {
  HealthCopy h;
  if (!s.live) return h;
  std::lock_guard<std::mutex> lock(s.live->health_mu);
  h.status = s.live->health.check_status;
  h.desc = s.live->health.check_desc;
  h.info = s.live->health.check_info;
  h.code = s.live->health.check_code;
  h.duration = s.live->health.check_duration_ms;
  h.running = s.live->health.running;
  return h;
}

Row server_row(const Sources& src, const config::Proxy& px, const balancing::BackendSnapshot& be,
               const Server& s) {
  Row r = blank_row(ObjType::Server);
  r.iid = px.id;
  r.sid = s.id;
  set(r, kPxName, px.name);
  set(r, kSvName, s.name);
  set(r, kStatus, server_status(s));
  set(r, kWeight, s.stats_weight());
  set(r, kAct, s.backup ? 0 : 1);
  set(r, kBck, s.backup ? 1 : 0);
  set(r, kPid, 1);
  set(r, kIid, px.id);
  set(r, kSid, s.id);
  set(r, kType, 2);
  set(r, kMode, std::string(mode_name(px)));
  set(r, kUWeight, s.weight);
  set(r, kDashColumn, std::string("-"));
  if (s.maxconn > 0) set(r, kSLim, s.maxconn);
  if (s.maxqueue > 0) set(r, kQLimit, s.maxqueue);
  if (!s.cookie.empty()) set(r, kCookie, s.cookie);
  // During a slowstart ramp: haproxy's throttle, the share of its weight in %.
  if (s.ramp_start_ms >= 0 && !s.draining()) set(r, kThrottle, s.throttle_pct());
  set(r, kAddr, s.addr.to_string());
  if (s.live) {
    const auto& lv = *s.live;
    set(r, kQCur, lv.queued.get());
    set(r, kQMax, lv.queued.max.load(std::memory_order_relaxed));
    set(r, kSCur, lv.inflight.get());
    set(r, kSMax, lv.inflight.max.load(std::memory_order_relaxed));
    fill_counters(r, lv.counters);
    fill_times(r, px, lv.counters, lv.times);
    set(r, kConnect, sum(lv.counters, Counter::Sessions));
    set(r, kLastSess, since_ms(lv.last_session_ms.load(std::memory_order_relaxed)));
    set(r, kLastChg, seconds_since(lv.last_change));
    int64_t down = std::chrono::duration_cast<std::chrono::seconds>(lv.downtime).count();
    if (!s.is_up()) down += seconds_since(lv.last_change);
    set(r, kDowntime, down);
    set(r, kChkFail, sum(lv.counters, Counter::FailedChecks));
    set(r, kChkDown, sum(lv.counters, Counter::Downs));
  }
  // Check columns: only for servers whose checks run.
  if (!s.check_enabled) {
    for (int c : {kChkFail, kChkDown, kDowntime}) clear(r, c);
  }
  const bool show_check = s.check_enabled && !s.in_maint();
  for (int c : {kCheckStatus, kCheckCode, kCheckDuration, kLastChk, kCheckDesc, kCheckRise,
                kCheckFall, kCheckHealth})
    clear(r, c);
  if (show_check) {
    HealthCopy h = health_of(s);
    std::string st = h.status.empty() ? "INI" : h.status;
    set(r, kCheckStatus, (h.running ? "* " : "") + st);
    if (h.code > 0 || st == "L7OK") set(r, kCheckCode, h.code);  // tcp-check: L7OK, code 0
    if (h.duration >= 0) {
      set(r, kCheckDuration, h.duration);
      r.f[kCheckDuration].type = Value::Type::U64;
    }
    set(r, kLastChk, h.info);
    set(r, kCheckDesc, h.desc.empty() ? default_check_desc(st) : h.desc);
    set(r, kCheckRise, s.rise);
    set(r, kCheckFall, s.fall);
    set(r, kCheckHealth, s.health);
    r.f[kCheckCode].type = r.f[kCheckCode].present() ? Value::Type::U32 : Value::Type::None;
    r.f[kCheckRise].type = r.f[kCheckFall].type = r.f[kCheckHealth].type = Value::Type::U32;
  }
  clear_http_columns(r, px);
  (void)be;
  (void)src;
  return r;
}

Row backend_row(const Sources& src, const config::Proxy& px, const balancing::BackendSnapshot* be,
                const Filter& filter) {
  Row r = blank_row(ObjType::Backend);
  r.iid = px.id;
  set(r, kPxName, px.name);
  set(r, kSvName, std::string("BACKEND"));
  set(r, kSLim, backend_fullconn(src.cfg, px, src.info));
  set(r, kPid, 1);
  set(r, kIid, px.id);
  set(r, kSid, 0);
  set(r, kType, 1);
  set(r, kMode, std::string(mode_name(px)));
  set(r, kAlgo, std::string(config::to_string(px.balance.algo)));
  set(r, kDashColumn, std::string("-"));
  if (px.cookie.enabled && !px.cookie.name.empty()) set(r, kCookie, px.cookie.name);
  int weight = 0, act = 0, bck = 0, nsrv = 0, nup = 0;
  if (be) {
    weight = be->usable_weight();
    act = be->usable_active();
    bck = be->usable_backup();
    nsrv = static_cast<int>(be->servers.size());
    for (const auto& s : be->servers)
      if (s->usable()) ++nup;
  }
  const bool up = weight > 0 || nsrv == 0;
  std::string status = up ? "UP" : "DOWN";
  if (filter.up || filter.no_maint)
    status += " (" + std::to_string(nup) + "/" + std::to_string(nsrv) + ")";
  set(r, kStatus, status);
  set(r, kWeight, weight);
  set(r, kUWeight, weight);
  set(r, kAct, act);
  set(r, kBck, bck);
  if (be && be->live) {
    const auto& lv = *be->live;
    set(r, kQCur, lv.queued.get());
    set(r, kQMax, lv.queued.max.load(std::memory_order_relaxed));
    set(r, kSCur, lv.inflight.get());
    set(r, kSMax, lv.inflight.max.load(std::memory_order_relaxed));
    fill_counters(r, lv.counters);
    fill_times(r, px, lv.counters, lv.times);
    set(r, kChkDown, sum(lv.counters, Counter::Downs));
    set(r, kConnect, sum(lv.counters, Counter::Sessions));
    set(r, kLastSess, since_ms(lv.last_session_ms.load(std::memory_order_relaxed)));
    set(r, kLastChg, seconds_since(lv.last_change));
    set(r, kDowntime, up ? 0 : seconds_since(lv.last_change));
    set(r, kH1TotalConnections, sum(lv.counters, Counter::Sessions));
    set(r, kH1TotalStreams, sum(lv.counters, Counter::Requests));
    set(r, kH1BytesIn, sum(lv.counters, Counter::BytesOut));
    set(r, kH1BytesOut, sum(lv.counters, Counter::BytesIn));
  } else {
    set(r, kLastSess, -1);
  }
  clear_http_columns(r, px);
  if (nsrv == 0) clear(r, kDowntime);
  return r;
}

bool server_visible(const Server& s, const Filter& f) {
  if (f.up && !(s.is_up())) return false;
  if (f.no_maint && s.in_maint()) return false;
  return true;
}

}  // namespace

std::vector<Row> collect_rows(const Sources& src, const Filter& filter) {
  std::vector<const config::Proxy*> order;
  for (const auto& px : src.cfg.proxies)
    if (px.kind != config::Proxy::Kind::Defaults) order.push_back(&px);
  std::stable_sort(order.begin(), order.end(),
                   [](const config::Proxy* a, const config::Proxy* b) { return a->id < b->id; });
  std::vector<Row> rows;
  for (const config::Proxy* px : order) {
    if (filter.iid >= 0 && px->id != filter.iid) continue;
    // `;scope=`: the proxies whose name holds it, case-insensitively
    // (haproxy 2.6's strnistr()).
    if (!filter.scope.empty() && std::search(px->name.begin(), px->name.end(), filter.scope.begin(),
                                             filter.scope.end(), [](char a, char b) {
                                               return std::tolower(static_cast<unsigned char>(a)) ==
                                                      std::tolower(static_cast<unsigned char>(b));
                                             }) == px->name.end())
      continue;
    if (filter.allowed && !filter.allowed->empty() &&
        std::none_of(filter.allowed->begin(), filter.allowed->end(), [&](const std::string& n) {
          return n == px->name || (n == "." && px->id == filter.self_iid);
        }))
      continue;
    const bool want_fe = filter.type_mask < 0 || (filter.type_mask & 1);
    const bool want_be = filter.type_mask < 0 || (filter.type_mask & 2);
    const bool want_sv = filter.type_mask < 0 || (filter.type_mask & 4);
    if (px->has_frontend() && want_fe && filter.sid <= 0) rows.push_back(frontend_row(src, *px));
    if (!px->has_backend()) continue;
    const balancing::BackendSnapshot* be = src.pool.find(px->name);
    if (want_sv && be) {
      for (const auto& s : be->servers) {
        if (filter.sid > 0 && s->id != filter.sid) continue;
        if (!server_visible(*s, filter)) continue;
        rows.push_back(server_row(src, *px, *be, *s));
      }
    }
    if (want_be && filter.sid <= 0) rows.push_back(backend_row(src, *px, be, filter));
  }
  if (filter.hide_legends)
    for (auto& r : rows) {
      r.f[kAddr] = Value{};
      r.f[kAlgo] = Value{};
    }
  return rows;
}

std::string render_csv_rows(const std::vector<Row>& rows) {
  std::string out;
  out.reserve(rows.size() * 400);
  for (const auto& r : rows) {
    for (int c = 0; c < kNumColumns; ++c) {
      if (r.f[c].present()) out += csv_escape(r.f[c].text());
      out += ',';
    }
    out += '\n';
  }
  return out;
}

std::string render_csv(const std::vector<Row>& rows) {
  return csv_header() + render_csv_rows(rows);
}

std::string render_typed(const std::vector<Row>& rows) {
  std::string out;
  for (const auto& r : rows) {
    const int t = static_cast<int>(r.type);
    for (int c = 0; c < kNumColumns; ++c) {
      if (c == kDashColumn || !r.f[c].present()) continue;
      const char* tags = kColumns[c].tags[t];
      std::string tag3 = *tags ? std::string(tags, 3) : std::string("MGP");
      out += obj_letter(r.type);
      out += '.' + std::to_string(r.iid) + '.' + std::to_string(r.sid) + '.' +
             std::to_string(typed_pos(c)) + '.' + kColumns[c].name + ".1:" + tag3 + ':' +
             type_name(r.f[c].type) + ':' + r.f[c].text() + '\n';
    }
  }
  return out;
}

namespace {
void json_field(std::string& out, const char* tags, int pos, const char* name, const Value& v,
                const char* prefix) {
  std::string t3 = *tags ? std::string(tags, 3) : std::string("MGP");
  out += '{';
  out += prefix;
  out += "\"field\":{\"pos\":" + std::to_string(pos) + ",\"name\":\"" + json_escape(name) +
         "\"},\"processNum\":1,\"tags\":{\"origin\":\"" + origin_name(t3[0]) + "\",\"nature\":\"" +
         nature_name(t3[1]) + "\",\"scope\":\"" + scope_name(t3[2]) + "\"},\"value\":{\"type\":\"" +
         type_name(v.type) + "\",\"value\":";
  if (v.type == Value::Type::Str)
    out += '"' + json_escape(v.str) + '"';
  else
    out += std::to_string(v.num);
  out += "}}";
}
}  // namespace

std::string render_json(const std::vector<Row>& rows) {
  std::string out = "[";
  bool first_row = true;
  for (const auto& r : rows) {
    if (!first_row) out += ',';
    first_row = false;
    out += '[';
    const int t = static_cast<int>(r.type);
    const std::string prefix = std::string("\"objType\":\"") + obj_name(r.type) +
                               "\",\"proxyId\":" + std::to_string(r.iid) +
                               ",\"id\":" + std::to_string(r.sid) + ',';
    bool first = true;
    for (int c = 0; c < kNumColumns; ++c) {
      if (c == kDashColumn || !r.f[c].present()) continue;
      if (!first) out += ',';
      first = false;
      json_field(out, kColumns[c].tags[t], typed_pos(c), kColumns[c].name, r.f[c], prefix.c_str());
    }
    out += ']';
  }
  out += "]\n";
  return out;
}

// ---------------------------------------------------------------------------
// show info

namespace {

Value info_field(const Sources& src, const InfoDef& d) {
  Value v;
  v.type = type_of(d.tags);
  const std::string n = d.name;
  const auto& p = src.proc;
  const int64_t up = seconds_since(p.started);
  auto num = [&](int64_t x) {
    v.num = x;
    return v;
  };
  auto str = [&](std::string s) {
    v.str = std::move(s);
    return v;
  };
  if (n == "Name") return str(src.info.name);
  if (n == "Version" || n == "Build info") return str(src.info.version);
  if (n == "Release_date") return str(src.info.release_date);
  if (n == "Nbthread") return num(src.info.nbthread);
  if (n == "Nbproc" || n == "Process_num") return num(1);
  if (n == "Pid") return num(src.info.pid);
  if (n == "Uptime") return str(human_duration(up));
  if (n == "Uptime_sec") return num(up);
  if (n == "Ulimit-n") return num(src.info.ulimit_n);
  if (n == "Maxsock") return num(src.info.maxsock);
  if (n == "Maxconn" || n == "Hard_maxconn") return num(src.info.maxconn);
  if (n == "CurrConns") return num(p.conns.get());
  if (n == "CumConns") return num(sum(p.counters, Counter::Connections));
  if (n == "CumReq") return num(sum(p.counters, Counter::Requests));
  if (n == "ConnRate") return num(p.conn_rate.rate());
  if (n == "MaxConnRate") return num(p.conn_rate.max());
  if (n == "SessRate") return num(p.sess_rate.rate());
  if (n == "MaxSessRate") return num(p.sess_rate.max());
  if (n == "Idle_pct") return num(100);
  if (n == "node") return str(src.info.node);
  if (n == "Stopping") return num(p.stopping.load() ? 1 : 0);
  if (n == "Listeners") {
    int64_t l = 0;
    for (const auto& px : src.cfg.proxies) l += static_cast<int64_t>(px.binds.size());
    return num(l);
  }
  if (n == "TotalBytesOut") {
    int64_t b = 0;
    for (const auto& f : p.frontends) b += sum(f->counters, Counter::BytesOut);
    return num(b);
  }
  if (n == "Start_time_sec")
    return num(std::chrono::duration_cast<std::chrono::seconds>(p.started_wall.time_since_epoch())
                   .count());
  if (n == "Tainted") return str("0");
  if (n == "Poller") return str(p.poller);
  if (v.type == Value::Type::Str) return str("");
  return num(0);
}

const char* info_desc(int pos) {
  return pos >= 0 && pos < static_cast<int>(std::size(kInfoDesc)) ? kInfoDesc[pos] : "";
}

}  // namespace

std::string info_value(const Sources& src, std::string_view name) {
  for (const auto& d : kInfo)
    if (name == d.name) return info_field(src, d).text();
  return "";
}

std::string render_info(const Sources& src, InfoFormat fmt) {
  std::string out;
  if (fmt == InfoFormat::Json) out += '[';
  bool first = true;
  for (const auto& d : kInfo) {
    Value v = info_field(src, d);
    switch (fmt) {
      case InfoFormat::Plain:
        out += std::string(d.name) + ": " + v.text() + '\n';
        break;
      case InfoFormat::Desc:
        out += std::string(d.name) + ": " + v.text() + ":\"" + info_desc(d.pos) + "\"\n";
        break;
      case InfoFormat::Typed:
        out += std::to_string(d.pos) + '.' + d.name + ".1:" + std::string(d.tags, 3) + ':' +
               type_name(v.type) + ':' + v.text() + '\n';
        break;
      case InfoFormat::Json:
        if (!first) out += ',';
        json_field(out, d.tags, d.pos, d.name, v, "");
        break;
    }
    first = false;
  }
  if (fmt == InfoFormat::Json) out += "]\n";
  return out;
}

// ---------------------------------------------------------------------------
// show servers state / show backend

bool render_servers_state(const Sources& src, std::string_view backend, std::string& out) {
  if (!backend.empty() && !src.pool.find(backend)) {
    out = "Can't find backend.\n";
    return false;
  }
  out =
      "1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight "
      "srv_iweight srv_time_since_last_change srv_check_status srv_check_result "
      "srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id "
      "srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr "
      "srv_agent_port\n";
  for (const auto& be : src.pool.backends) {
    if (!backend.empty() && be->name != backend) continue;
    for (const auto& sp : be->servers) {
      const Server& s = *sp;
      const config::Server* cs = config_server(*be, s.name);
      const bool configured =
          s.check_enabled || (cs && cs->check && s.origin == balancing::Origin::Config);
      HealthCopy h = health_of(s);
      std::string st = s.check_enabled ? h.status : std::string();
      int op = s.in_maint() ? 0 : static_cast<int>(s.op);
      // A slowstart ramp is haproxy's SRV_ST_STARTING (1).
      if (op == static_cast<int>(balancing::OpState::Running) && s.ramp_start_ms >= 0)
        op = static_cast<int>(balancing::OpState::Starting);
      // A `disabled` server's check is paused (8) even without `check`.
      int chk_state = (s.admin & balancing::kAdminConfigMaint) && !configured ? 8 : 0;
      if (configured) chk_state = 2;
      if (s.check_enabled) chk_state = s.in_maint() ? 14 : 6;
      const int check_port = s.check_port;
      const std::string check_addr = s.check_addr.empty() ? "-" : s.check_addr;
      int64_t since = s.live ? seconds_since(s.live->last_change) : 0;
      // srv_fqdn: the server line's host name (the one `resolvers` follow).
      std::string fqdn = "-";
      if (balancing::Endpoint ep; cs && !cs->addr.host.empty() && cs->addr.host != "*" &&
                                  !balancing::Endpoint::parse(cs->addr.host, 0, ep))
        fqdn = cs->addr.host;
      out += std::to_string(be->id) + ' ' + be->name + ' ' + std::to_string(s.id) + ' ' + s.name +
             ' ' + (s.addr.ip.empty() ? "-" : s.addr.ip) + ' ' + std::to_string(op) + ' ' +
             std::to_string(s.admin) + ' ' + std::to_string(s.weight) + ' ' +
             std::to_string(s.initial_weight) + ' ' + std::to_string(since) + ' ' +
             std::to_string(check_status_code(st)) + ' ' + std::to_string(check_result_code(st)) +
             ' ' + std::to_string(s.health) + ' ' + std::to_string(chk_state) + " 0 0 0 " + fqdn +
             ' ' + std::to_string(s.addr.port) + " - 0 " + std::to_string(check_port) + ' ' +
             check_addr + " - 0\n";  // no agent checks: srv_agent_addr -, srv_agent_port 0
    }
  }
  return true;
}

std::string render_backends(const config::Config& cfg) {
  std::string out = "# name\n";
  for (const auto& px : cfg.proxies)
    if (px.has_backend()) out += px.name + '\n';
  return out;
}

}  // namespace herd::stats
