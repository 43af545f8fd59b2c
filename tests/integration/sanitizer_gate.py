"""Runs one integration test module under the AddressSanitizer+UBSan build
(HERD_SANITIZE=address, tests/CMakeLists.txt) and fails it when any process
it started wrote a sanitizer report, whatever the test itself concluded.

herd is started many ways by the tests (harness.LB, spawn_logged, docker,
netns) and a report can come at exit (LeakSanitizer) after a test has
passed, so reports go to files (ASAN_OPTIONS/UBSAN_OPTIONS log_path, one
file per PID) in a folder of this run, read when the module has finished.
Processes that are not instrumented (haproxy, serf, python) ignore the
options. Tests that cannot run on an instrumented binary (an LD_PRELOAD
malloc counter, a FROM-scratch image of the binary) skip themselves on
HERD_SANITIZER.

usage: python3 sanitizer_gate.py <test module>"""
import os
import subprocess
import sys
import tempfile

REPORT_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                "SUMMARY: AddressSanitizer", "SUMMARY: UndefinedBehaviorSanitizer")


def main():
    module = sys.argv[1]
    with tempfile.TemporaryDirectory(prefix="herd-sanitizer-") as d:
        env = dict(os.environ)
        env["HERD_SANITIZER"] = "address"
        env["ASAN_OPTIONS"] = (f"log_path={d}/asan:detect_leaks=1:abort_on_error=0:"
                               "detect_stack_use_after_return=0:strict_string_checks=1")
        env["UBSAN_OPTIONS"] = f"log_path={d}/ubsan:print_stacktrace=1:halt_on_error=1"
        env["LSAN_OPTIONS"] = f"log_path={d}/lsan"
        rc = subprocess.call([sys.executable, "-m", "unittest", "-v", module], env=env)
        reports = []
        for name in sorted(os.listdir(d)):
            with open(os.path.join(d, name), errors="replace") as f:
                text = f.read()
            if any(m in text for m in REPORT_MARKS):
                reports.append((name, text))
        for name, text in reports:
            print(f"sanitizer_gate: report {name}:\n{text}", file=sys.stderr)
        if reports:
            print(f"sanitizer_gate: FAILED: {len(reports)} sanitizer report(s) from {module}",
                  file=sys.stderr)
            return 1
        print(f"sanitizer_gate: no sanitizer report from {module}")
        return rc


if __name__ == "__main__":
    sys.exit(main())
