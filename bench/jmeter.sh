#!/usr/bin/env bash
# JMeter comparison, haproxy vs herd, same nginx backends (the course lab's setup).
#
#   bench/jmeter.sh [--herd build/herd] [--threads 1] [--jmeter-threads 50]
#                   [--repeats 3] [--warmup 15] [--duration 15]
#
# Needs Debian's jmeter package (scripts/install-deps.sh --bench) and a JDK (javac).
# JMeter 2.13 cannot load any plan with Debian 12's XStream; bench/jmeter/Launcher.java
# opens XStream's allow-list before starting JMeter (see the notes in that file).
# Everything is on 127.0.0.1; each JMeter run is bounded (duration + 60 s, then killed).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
if [[ ! -f /usr/share/jmeter/bin/ApacheJMeter.jar ]]; then
  echo "jmeter.sh: JMeter not installed (scripts/install-deps.sh --bench)" >&2
  exit 2
fi
command -v javac >/dev/null || { echo "jmeter.sh: javac not found (default-jdk-headless)" >&2; exit 2; }
classes=$(mktemp -d /tmp/herd-jmeter-launcher.XXXXXX)
trap 'rm -rf "$classes"' EXIT
javac -d "$classes" -cp /usr/share/jmeter/bin/ApacheJMeter.jar "$here/jmeter/Launcher.java"
python3 "$here/jmeter_compare.py" --classes "$classes" "$@"
