#!/usr/bin/env python3
"""cu-summary.py LOG [LOG...] [--list] [--compat]: one verdict per test from iscsi-test-cu logs (CUnit verbose).

Per log, a test is
  fail  if CUnit's verdict is FAILED, or there is none (the run died or timed out inside the test),
  skip  if it passed with a '[SKIPPED]' note printed before the verdict (command unsupported, or the LUN lacks
        the property the test needs),
  pass  otherwise.
A test that appears twice in one log keeps its worse outcome (fail > skip > pass).
Across logs (runs against differently configured LUNs: plain, thin, removable, read-only, ...):
  fail  if it failed in any run; pass if it passed (not skipped) in some run; skip only if every run skipped it.
--list prints '<verdict> <Suite>.<Test>' per test (first-seen order) before the summary line
  tests N pass P skip S fail F
--compat reads each log the way /work/shared/tools/cu-summary.py does (CUnit's verdict, and a '[SKIPPED]' note
anywhere between two test headers makes a skip), for comparing numbers with it; see verdict() for the difference.
Exit status 0 (the caller decides what a failure means)."""
import re
import sys
from collections import OrderedDict

SUITE = re.compile(r"^Suite: (.+?)\s*$")
TEST = re.compile(r"^  Test: (.+?) \.\.\.")
WORSE_IN_RUN = {"pass": 0, "skip": 1, "fail": 2}   # within one log: the worse outcome wins
BETTER_ACROSS = {"skip": 0, "pass": 1, "fail": 2}  # across logs: fail dominates, then a real pass beats a skip


VERDICT = re.compile(r"^(passed|FAILED)\b", re.M)  # CUnit's own verdict: right after "  Test: X ..." or at a line start


def verdict(body: str) -> str:
    """The test's outcome from CUnit's verdict, not from libiscsi's log notes.

    libiscsi prints "[FAILED] <command> failed with ..." whenever a command does not return the status a helper
    was told to expect, including in tests that *want* the command to fail and then assert so (e.g.
    iSCSIdatasn.iSCSIDataSnInvalid): CUnit's verdict says whether the test failed. Only '[SKIPPED]' notes printed
    before the verdict belong to the test: iscsi-test-cu prints its own clean-up notes after the last test of a
    suite (e.g. "[SKIPPED] PERSISTENT RESERVE IN is not implemented."), which would otherwise make that test a
    skip. stderr notes sit where they were printed only if the log was written with unbuffered stdout
    (stdbuf -o0, as scripts/conformance.sh does)."""
    m = VERDICT.search(body)
    if not m or m.group(1) == "FAILED":
        return "fail"  # no verdict: the run died or timed out inside this test
    return "skip" if "[SKIPPED]" in body[:m.start()] else "pass"


def verdict_compat(body: str) -> str:
    """/work/shared/tools/cu-summary.py's reading, for comparing numbers with it (--compat): CUnit's verdict too, but
    a '[SKIPPED]' note anywhere in the test's output (also after its verdict) makes it a skip."""
    if re.search(r"(?m)^FAILED\b", body):
        return "fail"
    if "[SKIPPED]" in body:
        return "skip"
    if re.search(r"(?m)^passed\b", body):
        return "pass"
    return "fail"


def read_log(path: str, judge=verdict) -> "OrderedDict[str, str]":
    with open(path, errors="replace") as fh:
        text = fh.read()
    results: "OrderedDict[str, str]" = OrderedDict()
    suite, test, body = None, None, []

    def finish():
        if test is None:
            return
        r = judge("".join(body))
        key = f"{suite}.{test}"
        if key not in results or WORSE_IN_RUN[r] > WORSE_IN_RUN[results[key]]:
            results[key] = r

    # A test's header and its 'passed' share a line ("  Test: Foo ...passed"); split each line at the header.
    for line in text.splitlines(keepends=True):
        m = SUITE.match(line)
        if m:
            finish()
            suite, test, body = m.group(1), None, []
            continue
        m = TEST.match(line)
        if m:
            finish()
            test, body = m.group(1).strip(), [line[m.end():]]
            continue
        if test is not None:
            body.append(line)
    finish()
    return results


def merge(logs, judge=verdict):
    merged: "OrderedDict[str, str]" = OrderedDict()
    for path in logs:
        for key, r in read_log(path, judge).items():
            if key not in merged or BETTER_ACROSS[r] > BETTER_ACROSS[merged[key]]:
                merged[key] = r
    return merged


def main(argv):
    logs = [a for a in argv if not a.startswith("--")]
    if not logs:
        print(__doc__.strip().splitlines()[0], file=sys.stderr)
        return 2
    merged = merge(logs, verdict_compat if "--compat" in argv else verdict)
    if "--list" in argv:
        for key, r in merged.items():
            print(r, key)
    counts = {k: sum(1 for r in merged.values() if r == k) for k in ("pass", "skip", "fail")}
    print(f"tests {len(merged)} pass {counts['pass']} skip {counts['skip']} fail {counts['fail']}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
