// stats/page.cpp — stats page responses, HTML report and /metrics
// (see page.h).
#include "stats/page.h"

#include <algorithm>
#include <cstdio>
#include <map>

namespace herd::stats {

using balancing::Server;

// ---------------------------------------------------------------------------
// HTTP framing

std::string HttpResponse::serialize() const {
  std::string out = "HTTP/1.1 " + std::to_string(status) + " " + reason + "\r\n";
  for (const auto& [k, v] : headers) out += k + ": " + v + "\r\n";
  if (chunked && !head) out += "transfer-encoding: chunked\r\n";
  out += "\r\n";
  if (head) return out;
  if (chunked) {
    if (!body.empty()) {
      char hex[32];
      std::snprintf(hex, sizeof hex, "%zX\r\n", body.size());
      out += hex;
      out += body;
      out += "\r\n";
    }
    out += "0\r\n\r\n";
  } else {
    out += body;
  }
  return out;
}

HttpResponse stats_unauthorized(std::string_view realm) {
  HttpResponse r;
  r.status = 401;
  r.reason = "Unauthorized";
  r.body =
      "<html><body><h1>401 Unauthorized</h1>\nYou need a valid user and password to access "
      "this content.\n</body></html>\n";
  r.headers = {{"content-length", std::to_string(r.body.size())},
               {"cache-control", "no-cache"},
               {"content-type", "text/html"},
               {"www-authenticate", "Basic realm=\"" + std::string(realm) + "\""}};
  return r;
}

namespace {

std::string base64_decode(std::string_view in) {
  auto val = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  std::string out;
  int acc = 0, bits = 0;
  for (char c : in) {
    if (c == '=') break;
    int v = val(c);
    if (v < 0) return "";
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  return out;
}

std::string url_decode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out += ' ';
    } else if (s[i] == '%' && i + 2 < s.size()) {
      out += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

}  // namespace

std::string html_escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '&':
        out += "&amp;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

PageOptions parse_page_options(std::string_view rest) {
  PageOptions o;
  size_t i = 0;
  while (i < rest.size()) {
    size_t j = rest.find_first_of(";?&", i + 1);
    std::string_view tok = rest.substr(i, j == std::string_view::npos ? rest.npos : j - i);
    if (!tok.empty() && (tok[0] == ';' || tok[0] == '?' || tok[0] == '&')) tok.remove_prefix(1);
    if (tok == "csv")
      o.format = PageOptions::Format::Csv;
    else if (tok == "json")
      o.format = PageOptions::Format::Json;
    else if (tok == "json-schema")
      o.format = PageOptions::Format::JsonSchema;
    else if (tok == "typed")
      o.format = PageOptions::Format::Typed;
    else if (tok == "norefresh")
      o.norefresh = true;
    else if (tok == "up")
      o.up = true;
    else if (tok == "no-maint")
      o.no_maint = true;
    else if (tok.substr(0, 6) == "scope=")
      o.scope = url_decode(tok.substr(6));
    else if (tok.substr(0, 3) == "st=")
      o.st = std::string(tok.substr(3));
    if (j == std::string_view::npos) break;
    i = j;
  }
  return o;
}

StatsPage::StatsPage(const config::Config& cfg, const config::Proxy& px,
                     const balancing::Pool& pool, const balancing::ProcessLive& proc,
                     const ProcessInfo& info)
    : cfg_(cfg), px_(px), pool_(pool), proc_(proc), info_(info) {}

bool StatsPage::matches(std::string_view target) const {
  if (target == "/metrics") return true;
  const std::string& uri = px_.stats.uri;
  return target.substr(0, uri.size()) == uri;
}

bool StatsPage::authorized(std::string_view authorization) const {
  if (px_.stats.auth.empty()) return true;
  std::string_view a = authorization;
  while (!a.empty() && a.front() == ' ') a.remove_prefix(1);
  if (a.size() < 6 || (a.substr(0, 6) != "Basic " && a.substr(0, 6) != "basic ")) return false;
  a.remove_prefix(6);
  while (!a.empty() && a.front() == ' ') a.remove_prefix(1);
  while (!a.empty() && a.back() == ' ') a.remove_suffix(1);
  std::string creds = base64_decode(a);
  auto colon = creds.find(':');
  if (colon == std::string::npos) return false;
  const std::string user = creds.substr(0, colon), pass = creds.substr(colon + 1);
  for (const auto& [u, p] : px_.stats.auth)
    if (u == user && p == pass) return true;
  return false;
}

HttpResponse StatsPage::handle_get(const PageRequest& req) const {
  if (!authorized(req.authorization)) return stats_unauthorized(px_.stats.realm);
  auto snap = pool_.current();
  Sources src{cfg_, *snap, proc_, info_};
  HttpResponse r;
  r.chunked = true;
  r.head = req.method == "HEAD";
  if (req.target == "/metrics" && px_.stats.uri != "/metrics") {
    r.headers = {{"cache-control", "no-cache"},
                 {"content-type", "text/plain; version=0.0.4; charset=utf-8"}};
    Filter scoped;
    scoped.allowed = &px_.stats.scope;
    scoped.self_iid = px_.id;
    r.body = render_metrics(src, scoped);
    if (extra_metrics_) r.body += extra_metrics_();
    return r;
  }
  std::string_view rest = req.target.substr(std::min(req.target.size(), px_.stats.uri.size()));
  PageOptions o = parse_page_options(rest);
  Filter f;
  f.scope = o.scope;
  f.allowed = &px_.stats.scope;
  f.self_iid = px_.id;
  f.up = o.up;
  f.no_maint = o.no_maint;
  f.hide_legends = !px_.stats.show_legends;
  std::string ctype = "text/html";
  switch (o.format) {
    case PageOptions::Format::Csv:
      ctype = "text/plain";
      r.body = render_csv(collect_rows(src, f));
      break;
    case PageOptions::Format::Typed:
      ctype = "text/plain";
      r.body = render_typed(collect_rows(src, f));
      break;
    case PageOptions::Format::Json:
      ctype = "application/json";
      r.body = render_json(collect_rows(src, f));
      break;
    case PageOptions::Format::JsonSchema:
      ctype = "application/json";
      r.body = "{\"$schema\":\"http://json-schema.org/draft-04/schema#\",\"type\":\"array\"}\n";
      break;
    case PageOptions::Format::Html:
      r.body = render_html(src, o, px_.stats.admin.has_value());
      break;
  }
  r.headers = {{"cache-control", "no-cache"}, {"content-type", ctype}};
  if (px_.stats.refresh_ms > 0 && !o.norefresh)
    r.headers.emplace_back("refresh", std::to_string((px_.stats.refresh_ms + 999) / 1000));
  return r;
}

HttpResponse StatsPage::handle_post(const PageRequest& req, balancing::PoolWriter& writer,
                                    bool admin_allowed) const {
  if (!authorized(req.authorization)) return stats_unauthorized(px_.stats.realm);
  auto redirect = [&](const char* st) {
    HttpResponse r;
    r.status = 303;
    r.reason = "See Other";
    std::string_view t = req.target;
    auto semi = t.find(';', px_.stats.uri.size());
    std::string base(t.substr(0, semi));
    r.headers = {{"cache-control", "no-cache"},
                 {"content-type", "text/plain"},
                 {"content-length", "0"},
                 {"location", base + ";st=" + st}};
    return r;
  };
  if (!admin_allowed) return redirect("DENY");
  std::string backend, action;
  std::vector<std::string> servers;
  std::string_view body = req.body;
  while (!body.empty()) {
    auto amp = body.find('&');
    std::string_view kv = body.substr(0, amp);
    body = amp == std::string_view::npos ? std::string_view() : body.substr(amp + 1);
    auto eq = kv.find('=');
    if (eq == std::string_view::npos) continue;
    std::string k = url_decode(kv.substr(0, eq)), v = url_decode(kv.substr(eq + 1));
    if (k == "b")
      backend = v;
    else if (k == "action")
      action = v;
    else if (k == "s")
      servers.push_back(v);
  }
  auto snap = writer.pool().current();
  const balancing::BackendSnapshot* be = nullptr;
  if (!backend.empty() && backend[0] == '#') {
    int id = std::atoi(backend.c_str() + 1);
    for (const auto& b : snap->backends)
      if (b->id == id) be = b.get();
  } else {
    be = snap->find(backend);
  }
  if (!be || action.empty()) return redirect("ERRP");
  if (servers.empty()) return redirect("NONE");
  int done = 0, failed = 0;
  auto tx = writer.begin();
  constexpr uint32_t kMaint = balancing::kAdminForcedMaint;  // `disabled`'s mark stays (haproxy)
  for (const auto& sname : servers) {
    const Server* s = be->find(sname);
    if (!s) {
      ++failed;
      continue;
    }
    const bool was_maint = s->in_maint();
    std::optional<std::string> res;
    auto admin = [&](uint32_t set_f, uint32_t clear_f) {
      return tx.update(be->name, sname, [&](Server& x) {
        x.admin = (x.admin & ~clear_f) | set_f;
        if (was_maint && !x.in_maint()) {
          x.op = balancing::OpState::Running;
          if (x.check_enabled) x.health = x.rise;
        }
        if (!was_maint && x.in_maint()) x.health = 0;
      });
    };
    if (action == "ready")
      res = admin(0, kMaint | balancing::kAdminForcedDrain);
    else if (action == "drain")
      res = admin(balancing::kAdminForcedDrain, kMaint);
    else if (action == "maint")
      res = admin(balancing::kAdminForcedMaint, 0);
    else if (action == "dhlth")
      res = tx.set_check_enabled(be->name, sname, false);
    else if (action == "ehlth")
      res = tx.set_check_enabled(be->name, sname, true);
    else if (action == "hrunn")
      res = tx.set_op(be->name, sname, balancing::OpState::Running, s->rise + s->fall - 1);
    else if (action == "hnolb")
      res = tx.set_op(be->name, sname, balancing::OpState::Stopping, s->rise + s->fall - 1);
    else if (action == "hdown")
      res = tx.set_op(be->name, sname, balancing::OpState::Stopped, 0);
    else if (action == "dagent" || action == "eagent" || action == "arunn" || action == "adown" ||
             action == "shutdown")
      res = std::string("unsupported");
    else
      return redirect("ERRP");
    if (res)
      ++failed;
    else
      ++done;
  }
  tx.commit();
  if (done == 0) return redirect("NONE");
  return redirect(failed ? "PART" : "DONE");
}

// ---------------------------------------------------------------------------
// HTML

namespace {

const char* const kCss =
    "body { font-family: arial, helvetica, sans-serif; font-size: 12px; font-weight: normal; "
    "color: black; background: white;}\n"
    "th,td { font-size: 10px;}\n"
    "h1 { font-size: x-large; margin-bottom: 0.5em;}\n"
    "h2 { font-family: helvetica, arial; font-size: x-large; font-weight: bold; font-style: "
    "italic; color: #6020a0; margin-top: 0em; margin-bottom: 0em;}\n"
    "h3 { font-family: helvetica, arial; font-size: 16px; font-weight: bold; color: #b00040; "
    "background: #e8e8d0; margin-top: 0em; margin-bottom: 0em;}\n"
    ".titre\t{background: #20D0D0;color: #000000; font-weight: bold; text-align: center;}\n"
    ".frontend\t{background: #e8e8d0;}\n"
    ".backend\t{background: #e8e8d0;}\n"
    ".active_down\t{background: #ff9090;}\n"
    ".active_going_up\t{background: #ffd020;}\n"
    ".active_going_down\t{background: #ffffa0;}\n"
    ".active_up\t{background: #c0ffc0;}\n"
    ".active_nolb\t{background: #20a0ff;}\n"
    ".active_draining\t{background: #20a0FF;}\n"
    ".active_no_check\t{background: #e0e0e0;}\n"
    ".backup_down\t{background: #ff9090;}\n"
    ".backup_going_up\t{background: #ff80ff;}\n"
    ".backup_going_down\t{background: #c060ff;}\n"
    ".backup_up\t{background: #b0d0ff;}\n"
    ".backup_nolb\t{background: #90b0e0;}\n"
    ".backup_draining\t{background: #cc9900;}\n"
    ".backup_no_check\t{background: #e0e0e0;}\n"
    ".maintain\t{background: #c07820;}\n"
    "a.px:link {color: #ffff40; text-decoration: none;}a.px:visited {color: #ffff40; "
    "text-decoration: none;}a.lfsb:link {color: #000000; text-decoration: none;}"
    "a.lfsb:visited {color: #000000; text-decoration: none;}\n"
    "table.tbl { border-collapse: collapse; border-style: none;}\n"
    "table.tbl td { text-align: right; border-width: 1px 1px 1px 1px; border-style: solid; "
    "padding: 2px 3px; border-color: gray; white-space: nowrap;}\n"
    "table.tbl td.ac { text-align: center;}\n"
    "table.tbl th { border-width: 1px; border-style: solid; border-color: gray;}\n"
    "table.tbl th.pxname { background: #b00040; color: #ffff40; font-weight: bold; "
    "border-style: solid solid none solid; padding: 2px 3px; white-space: nowrap;}\n"
    "table.tbl th.empty { border-style: none; empty-cells: hide; background: white;}\n"
    "table.lgd { border-collapse: collapse; border-width: 1px; border-style: none none none "
    "solid; border-color: black;}\n"
    "table.lgd td { border-width: 1px; border-style: solid; border-color: gray; padding: 2px;}\n"
    "table.lgd td.noborder { border-style: none; padding: 2px; white-space: nowrap;}\n";

std::string td(const Value& v, const char* cls = nullptr) {
  std::string out = cls ? std::string("<td class=") + cls + ">" : std::string("<td>");
  return out + html_escape(v.text()) + "</td>";
}

std::string age_text(int64_t s) {
  if (s < 60) return std::to_string(s) + "s";
  if (s < 3600) return std::to_string(s / 60) + "m" + std::to_string(s % 60) + "s";
  if (s < 86400) return std::to_string(s / 3600) + "h" + std::to_string(s % 3600 / 60) + "m";
  return std::to_string(s / 86400) + "d" + std::to_string(s % 86400 / 3600) + "h";
}

std::string row_class(const Row& r) {
  const std::string& st = r.f[kStatus].str;
  const std::string who = r.f[kBck].num ? "backup_" : "active_";
  if (st.rfind("MAINT", 0) == 0) return "maintain";
  if (st == "no check") return who + "no_check";
  if (st.rfind("DRAIN", 0) == 0) return who + "draining";
  if (st.rfind("NOLB", 0) == 0) return who + "nolb";
  if (st.rfind("DOWN ", 0) == 0) return who + "going_up";
  if (st.rfind("DOWN", 0) == 0) return who + "down";
  if (st.rfind("UP ", 0) == 0) return who + "going_down";
  return who + "up";
}

std::string data_row(const Row& r, const std::string& px, bool admin) {
  std::string cls, label;
  if (r.type == ObjType::Frontend) {
    cls = "frontend";
    label = "Frontend";
  } else if (r.type == ObjType::Backend) {
    cls = "backend";
    label = "Backend";
  } else {
    cls = row_class(r);
    label = r.svname();
  }
  std::string anchor = px + "/" + label;
  std::string out = "<tr class=\"" + cls + "\">";
  if (admin) {
    if (r.type == ObjType::Server)
      out +=
          "<td><input type=\"checkbox\" name=\"s\" value=\"" + html_escape(r.svname()) + "\"></td>";
    else
      out += "<td></td>";
  }
  out += "<td class=ac><a name=\"" + html_escape(anchor) + "\"></a><a class=lfsb href=\"#" +
         html_escape(anchor) + "\">" + html_escape(label) + "</a></td>";
  // Queue
  out += td(r.f[kQCur]) + td(r.f[kQMax]) + td(r.f[kQLimit]);
  // Session rate
  out += td(r.f[kRate]) + td(r.f[kRateMax]) + td(r.f[kRateLim]);
  // Sessions
  std::string last = r.f[kLastSess].present() && r.f[kLastSess].num >= 0
                         ? age_text(r.f[kLastSess].num)
                         : std::string(r.type == ObjType::Frontend ? "" : "never");
  out += td(r.f[kSCur]) + td(r.f[kSMax]) + td(r.f[kSLim]) + td(r.f[kSTot]) + td(r.f[kLbTot]) +
         "<td>" + last + "</td>";
  // Bytes, Denied, Errors, Warnings
  out += td(r.f[kBIn]) + td(r.f[kBOut]) + td(r.f[kDReq]) + td(r.f[kDResp]) + td(r.f[kEReq]) +
         td(r.f[kECon]) + td(r.f[kEResp]) + td(r.f[kWRetr]) + td(r.f[kWRedis]);
  // Server
  if (r.type == ObjType::Frontend) {
    out += "<td class=ac>" + html_escape(r.f[kStatus].str) + "</td><td class=ac colspan=8></td>";
  } else {
    std::string status = r.f[kStatus].str;
    if (r.f[kLastChg].present()) status = age_text(r.f[kLastChg].num) + " " + status;
    std::string lastchk = "&nbsp;";
    if (r.f[kCheckStatus].present()) {
      lastchk = html_escape(r.f[kCheckStatus].str);
      if (r.f[kCheckCode].present()) lastchk += "/" + r.f[kCheckCode].text();
      if (r.f[kCheckDuration].present()) lastchk += " in " + r.f[kCheckDuration].text() + "ms";
    }
    out += "<td class=ac>" + html_escape(status) + "</td><td class=ac>" + lastchk + "</td>";
    if (r.type == ObjType::Server) {
      out += "<td class=ac>" + r.f[kWeight].text() + "/" + r.f[kUWeight].text() + "</td>";
      out += std::string("<td class=ac>") + (r.f[kAct].num ? "Y" : "-") + "</td>";
      out += std::string("<td class=ac>") + (r.f[kBck].num ? "Y" : "-") + "</td>";
    } else {
      out += "<td class=ac>" + r.f[kWeight].text() + "/" + r.f[kUWeight].text() + "</td>";
      out += "<td class=ac>" + r.f[kAct].text() + "</td><td class=ac>" + r.f[kBck].text() + "</td>";
    }
    out += td(r.f[kChkFail]) + td(r.f[kChkDown]);
    out += "<td>" +
           (r.f[kDowntime].present() ? age_text(r.f[kDowntime].num) : std::string("&nbsp;")) +
           "</td><td class=ac>" + (r.type == ObjType::Server ? "-" : "") + "</td>";
  }
  out += "</tr>\n";
  return out;
}

const char* const kHeaderRows =
    "<th colspan=3>Queue</th><th colspan=3>Session rate</th><th colspan=6>Sessions</th>"
    "<th colspan=2>Bytes</th><th colspan=2>Denied</th><th colspan=3>Errors</th>"
    "<th colspan=2>Warnings</th><th colspan=9>Server</th></tr>\n"
    "<tr class=\"titre\"><th>Cur</th><th>Max</th><th>Limit</th><th>Cur</th><th>Max</th>"
    "<th>Limit</th><th>Cur</th><th>Max</th><th>Limit</th><th>Total</th><th>LbTot</th>"
    "<th>Last</th><th>In</th><th>Out</th><th>Req</th><th>Resp</th><th>Req</th><th>Conn</th>"
    "<th>Resp</th><th>Retr</th><th>Redis</th><th>Status</th><th>LastChk</th><th>Wght</th>"
    "<th>Act</th><th>Bck</th><th>Chk</th><th>Dwn</th><th>Dwntme</th><th>Thrtle</th>\n</tr>\n";

}  // namespace

std::string StatsPage::render_html(const Sources& src, const PageOptions& o, bool admin) const {
  const std::string& uri = px_.stats.uri;
  std::string out =
      "<!DOCTYPE HTML PUBLIC \"-//W3C//DTD HTML 4.01 Transitional//EN\"\n"
      "\"http://www.w3.org/TR/html4/loose.dtd\">\n"
      "<html><head><title>Statistics Report for HAProxy</title>\n"
      "<link rel=\"icon\" href=\"data:,\">\n"
      "<meta http-equiv=\"content-type\" content=\"text/html; charset=iso-8859-1\">\n"
      "<style type=\"text/css\"><!--\n";
  out += kCss;
  out +=
      "-->\n</style></head>\n<body><h1><a href=\"https://github.com/herd-lb/herd\" "
      "style=\"text-decoration: none;\">herd (HAProxy-compatible)";
  if (!px_.stats.hide_version) out += " version " + html_escape(info_.version);
  out += "</a></h1>\n<h2>Statistics Report for pid " + std::to_string(info_.pid);
  if (px_.stats.show_node) out += " on " + html_escape(info_.node);
  out += "</h2>\n<hr width=\"100%\" class=\"hr\">\n<h3>&gt; General process information</h3>\n";
  out += "<table border=0><tr><td align=\"left\" nowrap width=\"1%\"><p><b>pid = </b> " +
         std::to_string(info_.pid) +
         " (process #1, nbproc = 1, nbthread = " + std::to_string(info_.nbthread) +
         ")<br>\n<b>uptime = </b> " + html_escape(info_value(src, "Uptime")) +
         "<br>\n<b>system limits:</b> ulimit-n = " + std::to_string(info_.ulimit_n) +
         "; maxsock = " + std::to_string(info_.maxsock) +
         "; maxconn = " + std::to_string(info_.maxconn) +
         "<br>\ncurrent conns = " + info_value(src, "CurrConns") +
         "; current rate = " + info_value(src, "ConnRate") +
         "/s; cumulated conns = " + info_value(src, "CumConns") + "<br>\n</td>";
  // Legend.
  out +=
      "<td align=\"center\" nowrap>\n<table class=\"lgd\"><tr>\n"
      "<td class=\"active_up\">&nbsp;</td><td class=\"noborder\">active UP </td>"
      "<td class=\"backup_up\">&nbsp;</td><td class=\"noborder\">backup UP </td>\n</tr><tr>\n"
      "<td class=\"active_going_down\"></td><td class=\"noborder\">active UP, going down </td>"
      "<td class=\"backup_going_down\"></td><td class=\"noborder\">backup UP, going down "
      "</td>\n</tr><tr>\n"
      "<td class=\"active_going_up\"></td><td class=\"noborder\">active DOWN, going up </td>"
      "<td class=\"backup_going_up\"></td><td class=\"noborder\">backup DOWN, going up "
      "</td>\n</tr><tr>\n"
      "<td class=\"active_down\"></td><td class=\"noborder\">active or backup DOWN &nbsp;</td>"
      "<td class=\"active_no_check\"></td><td class=\"noborder\">not checked </td>\n</tr><tr>\n"
      "<td class=\"maintain\"></td><td class=\"noborder\" colspan=\"3\">active or backup DOWN "
      "for maintenance (MAINT) &nbsp;</td>\n</tr><tr>\n"
      "<td class=\"active_draining\"></td><td class=\"noborder\" colspan=\"3\">active or backup "
      "SOFT STOPPED for maintenance &nbsp;</td>\n</tr></table>\n"
      "Note: \"NOLB\"/\"DRAIN\" = UP with load-balancing disabled.</td>\n";
  // Display options.
  out += "<td align=\"left\" valign=\"top\" nowrap width=\"1%\"><b>Display option:</b><ul>\n";
  out += "<li><a href=\"" + html_escape(uri) + (o.up ? "" : ";up") + "\">" +
         (o.up ? "Show all servers" : "Hide 'DOWN' servers") + "</a><br>\n";
  if (px_.stats.refresh_ms > 0)
    out += "<li><a href=\"" + html_escape(uri) + (o.norefresh ? "" : ";norefresh") + "\">" +
           (o.norefresh ? "Enable refresh" : "Disable refresh") + "</a><br>\n";
  out += "<li><a href=\"" + html_escape(uri) + ";csv\">CSV export</a><br>\n";
  out += "<li><a href=\"" + html_escape(uri) + ";json\">JSON export</a> (<a href=\"" +
         html_escape(uri) + ";json-schema\">schema</a>)<br>\n</ul></td>\n";
  out +=
      "<td align=\"left\" valign=\"top\" nowrap width=\"1%\"><b>External resources:</b><ul>\n"
      "<li><a href=\"http://www.haproxy.org/\">HAProxy project</a><br>\n"
      "</ul></td>\n</tr></table>\n";
  if (!o.st.empty()) {
    const char* text = o.st == "DONE"   ? "Action processed successfully."
                       : o.st == "DENY" ? "Action denied."
                       : o.st == "PART" ? "Action partially processed."
                       : o.st == "NONE" ? "Nothing has changed."
                                        : "An error occurred.";
    out += "<p><div class=" + std::string(o.st == "DONE" ? "active_up" : "active_down") + "><b>" +
           text + "</b></div>\n";
  }
  // Per proxy tables.
  Filter f;
  f.scope = o.scope;
  f.allowed = &px_.stats.scope;
  f.self_iid = px_.id;
  f.up = o.up;
  f.no_maint = o.no_maint;
  auto rows = collect_rows(src, f);
  size_t i = 0;
  while (i < rows.size()) {
    const std::string px = rows[i].pxname();
    const int iid = rows[i].iid;
    size_t j = i;
    while (j < rows.size() && rows[j].iid == iid) ++j;
    bool is_backend = false;
    for (size_t k = i; k < j; ++k) is_backend = is_backend || rows[k].type == ObjType::Backend;
    const bool px_admin = admin && is_backend;
    if (px_admin) out += "<form method=\"post\">";
    out +=
        "<table class=\"tbl\" width=\"100%\">\n<tr class=\"titre\"><th class=\"pxname\" "
        "width=\"10%\"><a name=\"" +
        html_escape(px) + "\"></a><a class=px href=\"#" + html_escape(px) + "\">" +
        html_escape(px) +
        "</a></th><th class=\"empty\" width=\"90%\"></th></tr>\n</table>\n"
        "<table class=\"tbl\" width=\"100%\">\n<tr class=\"titre\">";
    if (px_admin) out += "<th rowspan=2 width=1></th>";
    out += "<th rowspan=2></th>";
    out += kHeaderRows;
    for (size_t k = i; k < j; ++k) out += data_row(rows[k], px, px_admin);
    out += "</table>";
    if (px_admin)
      out +=
          "Choose the action to perform on the checked servers : <select name=action>"
          "<option value=\"\"></option><option value=\"ready\">Set state to READY</option>"
          "<option value=\"drain\">Set state to DRAIN</option>"
          "<option value=\"maint\">Set state to MAINT</option>"
          "<option value=\"dhlth\">Health: disable checks</option>"
          "<option value=\"ehlth\">Health: enable checks</option>"
          "<option value=\"hrunn\">Health: force UP</option>"
          "<option value=\"hnolb\">Health: force NOLB</option>"
          "<option value=\"hdown\">Health: force DOWN</option>"
          "</select><input type=\"hidden\" name=\"b\" value=\"#" +
          std::to_string(iid) + "\"><input type=\"submit\" value=\"Apply\"></form>";
    out += "<p>\n";
    i = j;
  }
  if (extra_html_) out += extra_html_(src);
  out += "</body>\n</html>\n";
  return out;
}

// ---------------------------------------------------------------------------
// Prometheus

namespace {

struct Metric {
  int col;
  const char* name;
  bool counter;
  double scale = 1.0;  // ms -> s: 0.001
};

const Metric kFrontendMetrics[] = {
    {kSCur, "current_sessions", false},
    {kSMax, "max_sessions", false},
    {kSLim, "limit_sessions", false},
    {kSTot, "sessions_total", true},
    {kBIn, "bytes_in_total", true},
    {kBOut, "bytes_out_total", true},
    {kDReq, "requests_denied_total", true},
    {kEReq, "request_errors_total", true},
    {kRate, "current_session_rate", false},
    {kRateLim, "limit_session_rate", false},
    {kRateMax, "max_session_rate", false},
    {kReqTot, "http_requests_total", true},
    {kCompIn, "compressor_bytes_in_total", true},
    {kCompOut, "compressor_bytes_out_total", true},
    {kCompByp, "compressor_bytes_bypassed_total", true},
    {kCompRsp, "http_responses_compressed_total", true},
    {kConnTot, "connections_total", true},
};

const Metric kBackendMetrics[] = {
    {kQCur, "current_queue", false},
    {kQMax, "max_queue", false},
    {kSCur, "current_sessions", false},
    {kSMax, "max_sessions", false},
    {kSLim, "limit_sessions", false},
    {kSTot, "sessions_total", true},
    {kBIn, "bytes_in_total", true},
    {kBOut, "bytes_out_total", true},
    {kECon, "connection_errors_total", true},
    {kEResp, "response_errors_total", true},
    {kWRetr, "retry_warnings_total", true},
    {kWRedis, "redispatch_warnings_total", true},
    {kStatus, "up", false},
    {kWeight, "weight", false},
    {kAct, "current_server", false},
    {kLbTot, "server_selected_total", true},
    {kRate, "current_session_rate", false},
    {kRateMax, "max_session_rate", false},
    {kCliAbrt, "client_aborts_total", true},
    {kSrvAbrt, "server_aborts_total", true},
    {kCompIn, "compressor_bytes_in_total", true},
    {kCompOut, "compressor_bytes_out_total", true},
    {kCompByp, "compressor_bytes_bypassed_total", true},
    {kCompRsp, "http_responses_compressed_total", true},
    {kQTime, "http_queue_time_average_seconds", false, 0.001},
    {kCTime, "http_connect_time_average_seconds", false, 0.001},
    {kRTime, "http_response_time_average_seconds", false, 0.001},
    {kTTime, "http_total_time_average_seconds", false, 0.001},
};

const Metric kServerMetrics[] = {
    {kQCur, "current_queue", false},
    {kQMax, "max_queue", false},
    {kSCur, "current_sessions", false},
    {kSMax, "max_sessions", false},
    {kSTot, "sessions_total", true},
    {kBIn, "bytes_in_total", true},
    {kBOut, "bytes_out_total", true},
    {kECon, "connection_errors_total", true},
    {kEResp, "response_errors_total", true},
    {kWRetr, "retry_warnings_total", true},
    {kWRedis, "redispatch_warnings_total", true},
    {kStatus, "up", false},
    {kWeight, "weight", false},
    {kChkFail, "check_failures_total", true},
    {kDowntime, "downtime_seconds_total", true},
    {kLbTot, "server_selected_total", true},
    {kRate, "current_session_rate", false},
    {kRateMax, "max_session_rate", false},
    {kCheckDuration, "check_duration_seconds", false, 0.001},
    {kCliAbrt, "client_aborts_total", true},
    {kSrvAbrt, "server_aborts_total", true},
    {kQTime, "http_queue_time_average_seconds", false, 0.001},
    {kCTime, "http_connect_time_average_seconds", false, 0.001},
    {kRTime, "http_response_time_average_seconds", false, 0.001},
    {kTTime, "http_total_time_average_seconds", false, 0.001},
};

// The exporter's `*_up`: 1 for these statuses, 0 otherwise.
bool status_up(const std::string& s) {
  return s == "UP" || s == "UP 1/3" || s == "UP 2/3" || s == "OPEN" || s == "no check" ||
         s == "DRAIN";
}

std::string fmt_value(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.15g", v);
  return buf;
}

std::string label_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

}  // namespace

std::string render_metrics(const Sources& src, const Filter& filter) {
  // metric name -> (type, lines); std::map keeps names sorted like the exporter.
  struct Family {
    bool counter = false;
    std::vector<std::string> lines;
  };
  std::map<std::string, Family> fam;
  auto emit = [&](const std::string& name, bool counter, const std::string& labels, double v) {
    auto& f = fam[name];
    f.counter = counter;
    f.lines.push_back(name + "{" + labels + "} " + fmt_value(v));
  };
  auto rows = collect_rows(src, filter);
  for (const auto& r : rows) {
    const Metric* begin;
    size_t n;
    std::string prefix, labels;
    const std::string px = label_escape(r.pxname());
    if (r.type == ObjType::Frontend) {
      begin = kFrontendMetrics;
      n = std::size(kFrontendMetrics);
      prefix = "haproxy_frontend_";
      labels = "frontend=\"" + px + "\"";
    } else if (r.type == ObjType::Backend) {
      begin = kBackendMetrics;
      n = std::size(kBackendMetrics);
      prefix = "haproxy_backend_";
      labels = "backend=\"" + px + "\"";
    } else {
      begin = kServerMetrics;
      n = std::size(kServerMetrics);
      prefix = "haproxy_server_";
      labels = "backend=\"" + px + "\",server=\"" + label_escape(r.svname()) + "\"";
    }
    for (size_t k = 0; k < n; ++k) {
      const Metric& m = begin[k];
      const Value& v = r.f[m.col];
      if (m.col == kStatus) {
        emit(prefix + m.name, false, labels, status_up(v.str) ? 1 : 0);
        continue;
      }
      if (!v.present() || v.type == Value::Type::Str) continue;
      emit(prefix + m.name, m.counter, labels, static_cast<double>(v.num) * m.scale);
    }
    // http_responses_total{code=...}: labels sorted by name as the exporter prints them.
    static const char* const kCodes[] = {"1xx", "2xx", "3xx", "4xx", "5xx", "other"};
    for (int c = 0; c < 6; ++c) {
      std::string l;
      if (r.type == ObjType::Server)
        l = "backend=\"" + px + "\",code=\"" + kCodes[c] + "\",server=\"" +
            label_escape(r.svname()) + "\"";
      else if (r.type == ObjType::Backend)
        l = labels + ",code=\"" + kCodes[c] + "\"";
      else
        l = std::string("code=\"") + kCodes[c] + "\"," + labels;
      emit(prefix + "http_responses_total", true, l, static_cast<double>(r.f[kHrsp1xx + c].num));
    }
  }
  std::string out;
  for (auto& [name, f] : fam) {
    std::sort(f.lines.begin(), f.lines.end());
    out += "# HELP " + name + " HAProxy statistic, as exported by prometheus-haproxy-exporter.\n";
    out += "# TYPE " + name + (f.counter ? " counter\n" : " gauge\n");
    for (const auto& l : f.lines) out += l + "\n";
  }
  out +=
      "# HELP haproxy_up Was the last scrape of HAProxy successful.\n# TYPE haproxy_up gauge\n"
      "haproxy_up 1\n";
  out +=
      "# HELP haproxy_version_info HAProxy version info.\n"
      "# TYPE haproxy_version_info gauge\nhaproxy_version_info{release_date=\"" +
      label_escape(src.info.release_date) + "\",version=\"" + label_escape(src.info.version) +
      "\"} 1\n";
  return out;
}

}  // namespace herd::stats
