// config/keywords_userlist.cpp — `userlist` sections (`user`, `group`) and
// the ACLs that name them (`http_auth`, `http_auth_group`), with haproxy
// 2.6's messages (cfg_parse_users() and userlist_postinit() in its auth.c).
#include <algorithm>
#include <memory>

#include "config/parser_internal.h"

namespace herd::config::detail {
namespace {

// haproxy splits `users a,b` and `groups a,b` as strtok() does: empty
// elements are skipped.
std::vector<std::string> split_names(const std::string& list) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos <= list.size()) {
    size_t comma = list.find(',', pos);
    if (comma == std::string::npos) comma = list.size();
    if (comma > pos) out.push_back(list.substr(pos, comma - pos));
    pos = comma + 1;
  }
  return out;
}

void add_unique(std::vector<std::string>& v, const std::string& s) {
  if (std::find(v.begin(), v.end(), s) == v.end()) v.push_back(s);
}

}  // namespace

void Parser::start_userlist(const Words& w) {
  section_ = Section::Userlist;
  section_name_ = arg(w, 1);
  if (!has(w, 1)) {
    cur_userlist_ = nullptr;
    return alert_raw("parsing " + where() + ": 'userlist' expects <name> as arguments.");
  }
  if (has(w, 2)) {
    cur_userlist_ = nullptr;
    return alert("'userlist' cannot handle unexpected argument '" + w[2] + "'.");
  }
  auto& slot = userlists_[w[1]];
  if (slot && slot->defined) {
    // haproxy goes on filling the userlist declared last.
    warn_raw("parsing " + where() + ": ignoring duplicated userlist '" + w[1] + "'.");
    return;
  }
  if (!slot) slot = std::make_shared<Userlist>();
  slot->name = w[1];
  slot->defined = true;
  slot->where = loc();
  cur_userlist_ = slot.get();
  res_.config.userlists.push_back(slot);
}

void Parser::userlist_keyword(const Words& w) {
  const std::string& kw = w[0];
  const std::string at = "parsing " + where() + ": ";
  if (kw != "user" && kw != "group")
    return alert_raw(at + "unknown keyword '" + kw + "' in 'users' section");
  if (!has(w, 1)) return alert_raw(at + "'" + kw + "' expects <name> as arguments.");
  Userlist* ul = cur_userlist_;
  if (ul == nullptr) return;  // the section line failed
  const std::string& name = w[1];
  const bool dup = kw == "group"
                       ? std::find(ul->groups.begin(), ul->groups.end(), name) != ul->groups.end()
                       : ul->find(name) != nullptr;
  if (dup)
    return warn_raw(at + "ignoring duplicated " + kw + " '" + name + "' in userlist '" + ul->name +
                    "'.");
  if (kw == "group") {
    std::string users;
    for (size_t i = 2; i < w.size() && !w[i].empty(); i += 2) {
      if (w[i] != "users") return alert_raw(at + "'group' only supports 'users' option.");
      users = arg(w, i + 1);
    }
    ul->groups.push_back(name);
    if (!users.empty()) ul->group_users.emplace_back(name, users);
    return;
  }
  Userlist::User u;
  u.name = name;
  u.where = loc();
  std::string groups;
  for (size_t i = 2; i < w.size() && !w[i].empty(); i += 2) {
    if (w[i] == "password" || w[i] == "insecure-password") {
      // haproxy keeps the insecure flag once set, whatever follows.
      u.password = arg(w, i + 1);
      u.has_password = true;
      if (w[i] == "insecure-password") u.insecure = true;
    } else if (w[i] == "groups") {
      groups = arg(w, i + 1);
    } else {
      return alert_raw(at +
                       "'user' only supports 'password', 'insecure-password' and 'groups' "
                       "options.");
    }
  }
  if (!groups.empty()) ul->user_groups.emplace_back(name, groups);
  ul->users.push_back(std::move(u));
}

void Parser::bind_userlist(Acl* acl, const std::string& acl_name) {
  const std::string base = acl->fetch.substr(0, acl->fetch.find('('));
  if (base != "http_auth" && base != "http_auth_group") return;
  UserlistRef ref;
  const size_t open = acl->fetch.find('(');
  std::string name = open == std::string::npos
                         ? std::string()
                         : acl->fetch.substr(open + 1, acl->fetch.size() - open - 2);
  ref.fetch = base;
  ref.acl_name = acl_name;
  ref.proxy = cur ? cur->name : "";
  ref.group = base == "http_auth_group";
  ref.groups = acl->values;
  ref.where = acl->where;
  if (!name.empty()) {
    auto& slot = userlists_[name];
    if (!slot) {
      slot = std::make_shared<Userlist>();
      slot->name = name;
    }
    ref.list = slot;
    acl->userlist = slot;
  }
  userlist_refs_.push_back(std::move(ref));
}

void Parser::check_userlists() {
  auto post_alert = [this](const std::string& text) {
    res_.diags.push_back({Diagnostic::Level::Alert, text});
    res_.fatal = true;
  };
  // haproxy stops at the first error, userlists newest first.
  auto& lists = res_.config.userlists;
  for (auto it = lists.rbegin(); it != lists.rend(); ++it) {
    auto& ul = const_cast<Userlist&>(**it);
    bool failed = false;
    for (const auto& [user, names] : ul.user_groups) {
      for (const auto& g : split_names(names)) {
        if (std::find(ul.groups.begin(), ul.groups.end(), g) == ul.groups.end()) {
          post_alert("userlist '" + ul.name + "': no such group '" + g + "' specified in user '" +
                     user + "'");
          failed = true;
          break;
        }
        for (auto& u : ul.users)
          if (u.name == user) add_unique(u.groups, g);
      }
      if (failed) break;
    }
    for (const auto& [group, names] : ul.group_users) {
      if (failed) break;
      for (const auto& n : split_names(names)) {
        Userlist::User* u = nullptr;
        for (auto& x : ul.users)
          if (x.name == n) u = &x;
        if (!u) {
          post_alert("userlist '" + ul.name + "': no such user '" + n + "' specified in group '" +
                     group + "'");
          failed = true;
          break;
        }
        add_unique(u->groups, group);
      }
    }
    if (failed) return;
  }
  for (const auto& ref : userlist_refs_) {
    const std::string at =
        "parsing [" + ref.where.file + ":" + std::to_string(ref.where.line) + "]: ";
    if (!ref.list) {
      post_alert(at + "missing userlist name in arg 1 of ACL keyword '" + ref.fetch +
                 "' in proxy '" + ref.proxy + "'.");
      continue;
    }
    if (!ref.list->defined) {
      post_alert(at + "unable to find userlist '" + ref.list->name +
                 "' referenced in arg 1 of ACL keyword '" + ref.fetch + "' in proxy '" + ref.proxy +
                 "'.");
      continue;
    }
    if (!ref.group) continue;
    const std::string ctx =
        "proxy " + ref.proxy + ": acl " + ref.acl_name + " " + ref.fetch + "(): ";
    if (ref.groups.empty()) post_alert(ctx + "no groups specified.");
    for (const auto& g : ref.groups)
      if (std::find(ref.list->groups.begin(), ref.list->groups.end(), g) ==
          ref.list->groups.end()) {
        post_alert(ctx + "invalid group '" + g + "'.");
        break;
      }
  }
}

}  // namespace herd::config::detail
