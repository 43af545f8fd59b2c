"""The configuration census (issue 17): real haproxy.cfg files from public
repositories (tests/configs/census/, sources and changes in
tests/configs/SOURCES.md), checked with `haproxy -c -f` and `herd -c -f`.

Reports how many of them haproxy 2.6 accepts, how many of those herd accepts
(the figure in docs/configuration.md) and, for each config herd refuses, the
first keyword it refuses (from herd's first `[file:line]` alert), ranked by
how many configs each keyword stops (herd lists every error, so the table
also counts the configs in which each keyword is refused at all).

Fails when
* herd accepts fewer configs than ACCEPTED_BY_HERD, or a smaller share of
  those haproxy accepts than ACCEPTED_PERCENT (a ratchet: raise them when
  herd learns a keyword, never lower them);
* herd accepts a config that haproxy refuses, unless every alert haproxy
  gives for it is a deliberate difference (DELIBERATE, with its reason); a
  DELIBERATE entry whose probe config haproxy no longer refuses with that
  alert, or herd no longer accepts, fails too;
* the census has fewer than 60 configs.

Only `-c` runs here (no process is left running, nothing listens). The
configs are checked with the census directory as the working directory,
where their relative paths (files/...) resolve. Needs haproxy; skipped
without it.

`python3 test_config_census.py --markdown` prints the figure and the ranked
blockers as the Markdown that docs/configuration.md carries.
"""
import collections
import concurrent.futures
import os
import re
import subprocess
import sys
import tempfile
import unittest

from harness import HAPROXY_BIN, HERD_BIN, have_haproxy

CENSUS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "../configs/census")

# Today's figures (the ratchet).
ACCEPTED_BY_HERD = 35
ACCEPTED_PERCENT = 81.4

# What herd accepts on purpose although haproxy 2.6 refuses it: haproxy's
# alert -> (the reason, a probe config that shows it). A census config whose
# every haproxy alert is listed here (or is one of its CONSEQUENCES) may be
# accepted by herd. No census config shows one today (11, 40 and 43 carry the
# listen-line address, and haproxy and herd refuse them for other keywords
# too), so each entry carries a probe: haproxy must give the alert on it and
# herd must accept it, else the entry is stale and the test fails.
DELIBERATE = {
    "please use the 'bind' keyword for listening addresses.": (
        "an address on the listen/frontend line (`listen stats *:1936`) is bound as "
        "HAProxy 2.2 did, with a deprecation warning naming the line",
        "defaults\n    mode http\n    timeout client 5s\n    timeout server 5s\n"
        "    timeout connect 5s\n\nlisten stats 127.0.0.1:22002\n    stats enable\n"
        "    stats uri /\n"),
}


def haproxy_alerts(output):
    """haproxy's alert texts, without the summary lines and the location."""
    alerts = []
    for raw in output.splitlines():
        if "[ALERT]" not in raw:
            continue
        text = raw.split(" : ", 1)[-1]
        text = re.sub(r"^config : ", "", text)
        text = re.sub(r"^parsing \[[^]]*\] ?: ", "", text)
        if text.startswith(("Error(s) found in configuration file", "Fatal errors found")):
            continue
        alerts.append(text)
    return alerts


# What haproxy then says of the lines of a section whose first line it
# refused: consequences, allowed only next to a DELIBERATE alert.
CONSEQUENCES = {"'listen' or 'defaults' expected."}


def deliberate(row):
    """True when herd accepting this haproxy-refused config is on purpose."""
    alerts = haproxy_alerts(row["haproxy_out"])
    return (any(a in DELIBERATE for a in alerts) and
            all(a in DELIBERATE or a in CONSEQUENCES for a in alerts))


def check(cmd, name):
    r = subprocess.run([*cmd, "-c", "-f", name], cwd=CENSUS, capture_output=True, text=True,
                       timeout=60)
    return r.returncode, r.stdout + r.stderr


def accepted(rc):
    # 0: valid; 2: valid but no listener (herd says so; the config itself has no error)
    return rc in (0, 2)


def config_line(name, line):
    with open(os.path.join(CENSUS, name), errors="replace") as f:
        lines = f.read().split("\n")
    text = lines[line - 1] if 0 < line <= len(lines) else ""
    return text.split("#", 1)[0].split()


def refusals(name, output):
    """[(keyword, alert)] for each alert of herd's output that names a line of
    the config, in order (the first one is the config's blocker)."""
    found_all = []
    for raw in output.splitlines():
        if "[ALERT]" not in raw:
            continue
        m = re.search(r"\[" + re.escape(name) + r":(\d+)\]", raw)
        if not m:
            continue
        msg = raw.split(" : ", 1)[-1]
        words = config_line(name, int(m.group(1)))
        first = words[0] if words else "?"
        if first == "no" and len(words) > 1:
            first = words[1]
            words = words[1:]
        term = None
        for pat, fmt in ((r"unknown fetch method '([^']+)'", "fetch {}"),
                         (r"unknown option '([^']+)'", "option {}"),
                         (r"'([^']+)' sections are not supported", "{} (section)"),
                         (r"'([^']+)' is not supported", "{}"),
                         (r"unknown keyword '([^']+)'", "{}")):
            found = re.findall(pat, msg)
            if found:
                term = fmt.format(found[-1])
                break
        if term is None:  # another alert: name the line's keyword
            term = " ".join(words[:2]) if first in ("option", "timeout", "stats") else first
        elif first in ("server", "default-server", "server-template"):
            term = f"server {term}"  # one family: the options are shared
        elif first == "bind" and not term.startswith("bind"):
            term = f"bind {term}"
        elif words[:2] == ["stats", "socket"] and not term.startswith("stats"):
            term = f"stats socket {term}"
        found_all.append((term, msg))
    if not found_all:
        last = output.strip().splitlines()[-1] if output.strip() else ""
        found_all.append(("(no line named)", last))
    return found_all


def run_census():
    names = sorted(n for n in os.listdir(CENSUS) if n.endswith(".cfg"))
    with concurrent.futures.ThreadPoolExecutor(4) as ex:
        hap = dict(zip(names, ex.map(lambda n: check([HAPROXY_BIN], n), names)))
        herd_bin = os.path.abspath(HERD_BIN)  # the configs run with the census as cwd
        herd = dict(zip(names, ex.map(lambda n: check([herd_bin], n), names)))
    rows = []
    for n in names:
        rows.append({
            "name": n,
            "haproxy": accepted(hap[n][0]),
            "herd": accepted(herd[n][0]),
            "haproxy_out": hap[n][1],
            "herd_out": herd[n][1],
            "refusals": [] if accepted(herd[n][0]) else refusals(n, herd[n][1]),
        })
    return rows


def summary(rows):
    hap_ok = [r for r in rows if r["haproxy"]]
    both = [r for r in hap_ok if r["herd"]]
    first = collections.Counter(r["refusals"][0][0] for r in hap_ok if not r["herd"])
    anywhere = collections.Counter(kw for r in hap_ok if not r["herd"]
                                   for kw in {k for k, _ in r["refusals"]})
    pct = 100.0 * len(both) / len(hap_ok) if hap_ok else 0.0
    return hap_ok, both, (first, anywhere), pct


def markdown(rows):
    hap_ok, both, (first, anywhere), pct = summary(rows)
    out = [f"{len(rows)} configs; haproxy 2.6 accepts {len(hap_ok)}; herd accepts "
           f"{len(both)} of those ({pct:.0f} %).", "",
           "| keyword herd refuses | configs it stops first | configs it is refused in |",
           "|---|---|---|"]
    for kw, count in sorted(anywhere.items(), key=lambda kv: (-first[kv[0]], -kv[1], kv[0])):
        out.append(f"| `{kw}` | {first[kw]} | {count} |")
    return "\n".join(out)


@unittest.skipUnless(have_haproxy(), "haproxy is not installed")
class ConfigCensus(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.rows = run_census()
        cls.probes = {}
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "probe.cfg")
            for alert, (_, text) in DELIBERATE.items():
                with open(path, "w") as f:
                    f.write(text)
                cls.probes[alert] = (check([HAPROXY_BIN], path),
                                     check([os.path.abspath(HERD_BIN)], path))

    def test_report_and_ratchet(self):
        self.assertGreaterEqual(len(self.rows), 60, "the census needs at least 60 configs")
        hap_ok, both, _, pct = summary(self.rows)
        print("\n" + markdown(self.rows), file=sys.stderr)
        for r in hap_ok:
            if not r["herd"]:
                print(f"  {r['name']}: {r['refusals'][0][0]}  <- {r['refusals'][0][1]}",
                      file=sys.stderr)
        self.assertGreaterEqual(len(both), ACCEPTED_BY_HERD,
                                "herd accepts fewer census configs than before")
        self.assertGreaterEqual(round(pct, 1), ACCEPTED_PERCENT,
                                "herd accepts a smaller share of the census than before")

    def test_no_config_haproxy_refuses(self):
        differ = [r for r in self.rows if r["herd"] and not r["haproxy"]]
        unexpected = [r for r in differ if not deliberate(r)]
        self.assertEqual([r["name"] for r in unexpected], [],
                         "herd accepts configs that haproxy 2.6 refuses:\n" +
                         "\n".join(r["haproxy_out"] for r in unexpected))
        for alert, (why, _) in DELIBERATE.items():
            (hap_rc, hap_out), (herd_rc, _) = self.probes[alert]
            self.assertFalse(accepted(hap_rc), f"haproxy accepts the probe of '{why}'")
            self.assertIn(alert, haproxy_alerts(hap_out), f"stale deliberate entry: '{why}'")
            self.assertTrue(accepted(herd_rc), f"herd refuses the probe of '{why}'")

    def test_deliberate_is_narrow(self):
        """Only the listed alerts (and their consequences) excuse a difference."""
        a = "[ALERT]    (1) : config : parsing [x.cfg:{}] : {}"
        bind = "please use the 'bind' keyword for listening addresses."
        row = lambda *alerts: {"haproxy_out": "\n".join(alerts)}
        self.assertTrue(deliberate(row(a.format(3, bind),
                                       a.format(4, "'listen' or 'defaults' expected."),
                                       "[ALERT]    (1) : config : Fatal errors found in "
                                       "configuration.")))
        self.assertFalse(deliberate(row(a.format(3, bind), a.format(9, "the 'contimeout' "
                                        "directive is not supported anymore since HAProxy 2.1."))))
        self.assertFalse(deliberate(row(a.format(4, "'listen' or 'defaults' expected."))))
        self.assertFalse(deliberate(row()))

    def test_listen_line_address_warns(self):
        """The deliberate difference is not silent: herd names the line."""
        _, (_, out) = self.probes["please use the 'bind' keyword for listening addresses."]
        self.assertRegex(out, r"\[WARNING\].*\[[^]]*probe\.cfg:7\] : "
                              r"'listen stats 127\.0\.0\.1:22002' : the address on the "
                              r"'listen' line is deprecated")


if __name__ == "__main__":
    if sys.argv[1:] == ["--markdown"]:
        print(markdown(run_census()))
    else:
        unittest.main()
