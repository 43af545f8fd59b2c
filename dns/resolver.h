// dns/resolver.h — the `resolvers` sections at runtime: servers whose
// address is a name and that say `resolvers <name>` follow that name's DNS
// answers, as haproxy 2.6 does.
//
// One resolution per name (and preferred family) of a section, shared by
// the servers that follow it, run on the control thread: a query (A
// first with `resolve-prefer ipv4`, else AAAA) goes to every nameserver of
// the section over UDP; no answer within `timeout retry` sends it again, at
// most `resolve_retries` times; an answer without a record of the asked
// family asks the other one at once. A valid answer gives the server an
// address (the current one when still listed, else the best by haproxy's
// score: preferred family, then an address no other server of the backend
// resolving the same name uses); errors keep the address until `hold nx |
// refused | timeout | other` has passed since the last valid answer, then
// the server goes to maintenance (resolution) and loses its address, until
// a valid answer brings it back. A resolution runs again `timeout resolve`
// after the previous one ended.
//
// Results reach workers only through the pool: addresses and the
// resolution maintenance flag change through the control thread's
// PoolWriter (set_addr, set_admin), like `set server addr`. Messages are
// haproxy's ("b/s changed its IP from A to B by r/ns.").
//
// Thread rules: construct, call and destroy on the control thread (the one
// running `control`); stop() before the io_context and the PoolWriter go.
#pragma once

#include <boost/asio/io_context.hpp>
#include <functional>
#include <memory>
#include <string>

#include "balancing/pool.h"
#include "config/model.h"

namespace herd::dns {

class Resolver {
 public:
  // backend: the server's backend; severity: syslog severity (0: emerg, the
  // "has no server available!" line haproxy prints as an ALERT).
  using LogFn =
      std::function<void(const config::Proxy* backend, int severity, const std::string& msg)>;
  Resolver(boost::asio::io_context& control, const config::Config& cfg,
           balancing::PoolWriter& writer, LogFn log);
  ~Resolver();
  Resolver(const Resolver&) = delete;
  Resolver& operator=(const Resolver&) = delete;

  // Opens the nameservers' sockets and starts every resolution. Returns an
  // error text when a socket cannot be opened.
  std::string start();
  void stop();
  size_t resolutions() const;  // servers followed

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace herd::dns
