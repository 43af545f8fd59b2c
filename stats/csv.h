// stats/csv.h — HAProxy 2.6's statistics as rows of typed fields, and their
// renderings: the CSV of `/;csv` and `show stat`, `show stat typed|json`,
// `show info [typed|json|desc]`, `show servers state` and `show backend`.
//
// One model feeds every output: collect_rows() turns the config, a pool
// snapshot and the live counters into Rows of 128 columns (HAProxy's CSV
// columns, the "-" separator included). A column is either absent (an empty
// CSV field, no typed/json entry) or present with a type (str/u32/s32/u64),
// with the same presence rules HAProxy 2.6 shows in the captures
// (tests/data/haproxy-captures/cli-session-admin.txt).
//
// Thread rules: every function here is a pure reader. Call it from any
// thread holding the PoolSnapshot (keep the shared_ptr alive for the call);
// ServerLive::health is read under its mutex. Nothing here mutates the pool.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "balancing/frontend.h"
#include "balancing/pool.h"
#include "config/model.h"

namespace herd::stats {

// Number of CSV columns in HAProxy 2.6.12's stats (0..127, "-" at 103).
inline constexpr int kNumColumns = 128;
inline constexpr int kDashColumn = 103;

// Column indexes used by name elsewhere (the exporter and hatop key on them).
enum Col : int {
  kPxName = 0,
  kSvName = 1,
  kQCur = 2,
  kQMax = 3,
  kSCur = 4,
  kSMax = 5,
  kSLim = 6,
  kSTot = 7,
  kBIn = 8,
  kBOut = 9,
  kDReq = 10,
  kDResp = 11,
  kEReq = 12,
  kECon = 13,
  kEResp = 14,
  kWRetr = 15,
  kWRedis = 16,
  kStatus = 17,
  kWeight = 18,
  kAct = 19,
  kBck = 20,
  kChkFail = 21,
  kChkDown = 22,
  kLastChg = 23,
  kDowntime = 24,
  kQLimit = 25,
  kPid = 26,
  kIid = 27,
  kSid = 28,
  kThrottle = 29,
  kLbTot = 30,
  kTracked = 31,
  kType = 32,
  kRate = 33,
  kRateLim = 34,
  kRateMax = 35,
  kCheckStatus = 36,
  kCheckCode = 37,
  kCheckDuration = 38,
  kHrsp1xx = 39,
  kHrsp2xx = 40,
  kHrsp3xx = 41,
  kHrsp4xx = 42,
  kHrsp5xx = 43,
  kHrspOther = 44,
  kReqRate = 46,
  kReqRateMax = 47,
  kReqTot = 48,
  kCliAbrt = 49,
  kSrvAbrt = 50,
  kCompIn = 51,
  kCompOut = 52,
  kCompByp = 53,
  kCompRsp = 54,
  kLastSess = 55,
  kLastChk = 56,
  kQTime = 58,
  kCTime = 59,
  kRTime = 60,
  kTTime = 61,
  kCheckDesc = 65,
  kCheckRise = 67,
  kCheckFall = 68,
  kCheckHealth = 69,
  kAddr = 73,
  kCookie = 74,
  kMode = 75,
  kAlgo = 76,
  kConnRate = 77,
  kConnRateMax = 78,
  kConnTot = 79,
  kIntercepted = 80,
  kConnect = 84,
  kReuse = 85,
  kQTimeMax = 90,
  kCTimeMax = 91,
  kRTimeMax = 92,
  kTTimeMax = 93,
  kUWeight = 99,
  kH1TotalConnections = 121,
  kH1TotalStreams = 122,
  kH1BytesIn = 123,
  kH1BytesOut = 124,
};

// The CSV header line: "# pxname,...,h1_spliced_bytes_out,\n" (byte-exact).
const std::string& csv_header();
// Column name by CSV index.
std::string_view column_name(int col);

enum class ObjType : uint8_t { Frontend = 0, Backend = 1, Server = 2 };

struct Value {
  enum class Type : uint8_t { None, Str, U32, S32, U64 };
  Type type = Type::None;  // None: absent (empty CSV field, no typed entry)
  std::string str;
  int64_t num = 0;
  bool present() const { return type != Type::None; }
  std::string text() const;  // CSV/typed rendering of the value
};

struct Row {
  ObjType type = ObjType::Frontend;
  int iid = 0;
  int sid = 0;
  std::array<Value, kNumColumns> f;
  const std::string& pxname() const { return f[kPxName].str; }
  const std::string& svname() const { return f[kSvName].str; }
};

// Facts about the process that neither the config nor the pool holds.
// app/ fills one at start-up (see the defaults and docs/runtime-api.md).
struct ProcessInfo {
  std::string name = "HAProxy";  // kept for hatop/exporter regexes
  std::string version;           // default: kHerdVersion
  std::string release_date;      // default: herd's build date, YYYY/MM/DD
  int pid = 0;                   // default: getpid()
  int nbthread = 1;
  int maxconn = 0;   // effective global maxconn (slim of frontends)
  int ulimit_n = 0;  // default: RLIMIT_NOFILE
  int maxsock = 0;
  std::string node;  // default: global `node` or the host name
  ProcessInfo();
};

// herd's version string as `show version` and `Version:` print it.
extern const char* const kHerdVersion;

// What every renderer reads. All references must outlive the call.
struct Sources {
  const config::Config& cfg;
  const balancing::PoolSnapshot& pool;
  const balancing::ProcessLive& proc;
  const ProcessInfo& info;
};

// Row selection: `show stat [<iid|name> <type> <sid>]`, `;scope=`, `;up`,
// `no-maint`. type_mask: 1 frontends, 2 backends, 4 servers (-1 all).
struct Filter {
  int iid = -1;  // -1: all proxies
  int type_mask = -1;
  int sid = -1;
  std::string scope;  // non-empty: proxies whose name holds it (any case)
  // `stats scope` of the page's proxy: only these proxies ("." is the
  // proxy with iid `self_iid`); null or empty: all.
  const std::vector<std::string>* allowed = nullptr;
  int self_iid = -1;
  bool up = false;            // hide servers that are not UP; backend "UP (n/m)"
  bool no_maint = false;      // hide servers in MAINT; backend "UP (n/m)"
  bool hide_legends = false;  // HTTP page without `stats show-legends`: no addr/algo
};

// Rows in HAProxy's order: proxies by iid; FRONTEND, servers by sid, BACKEND.
std::vector<Row> collect_rows(const Sources& src, const Filter& filter = {});

// Server status text: "UP", "UP 1/3", "DOWN", "DOWN 1/2", "MAINT", "DRAIN",
// "NOLB", "no check", ...
std::string server_status(const balancing::Server& s);
// Resolves `show stat`'s proxy argument (iid or name) to an iid; -1 unknown.
int find_proxy_iid(const config::Config& cfg, std::string_view arg);

// CSV rows (no header). One line per row, 129 fields (trailing comma).
std::string render_csv_rows(const std::vector<Row>& rows);
// Header + rows: the body of `/;csv` (the CLI adds the blank line).
std::string render_csv(const std::vector<Row>& rows);
// `show stat typed`: "F.2.0.0.pxname.1:KNS:str:stats" lines.
std::string render_typed(const std::vector<Row>& rows);
// `show stat json` / `;json`: an array of arrays of field objects, "\n" ended.
std::string render_json(const std::vector<Row>& rows);

enum class InfoFormat { Plain, Typed, Json, Desc };
// `show info`: "Name: HAProxy\n...Tainted: 0\n" (the CLI adds the blank line).
std::string render_info(const Sources& src, InfoFormat fmt = InfoFormat::Plain);
// One `show info` value by name (for the HTML page and metrics).
std::string info_value(const Sources& src, std::string_view name);

// `show servers state [<backend>]` (format 1). Returns false and sets `out`
// to "Can't find backend.\n" when the backend is unknown.
bool render_servers_state(const Sources& src, std::string_view backend, std::string& out);
// `show backend`: "# name\n" and one backend name per line.
std::string render_backends(const config::Config& cfg);

// Helpers shared with the page renderer.
int64_t seconds_since(std::chrono::steady_clock::time_point t);
std::string human_duration(int64_t secs);  // "0d 0h03m54s"
std::string csv_escape(std::string_view v);
std::string json_escape(std::string_view v);

}  // namespace herd::stats
