#!/bin/sh
# Serf member-failed handler of the lab's load balancer: regenerate haproxy.cfg, reload.
exec "$(dirname "$0")/regen.sh"
