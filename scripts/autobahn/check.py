#!/usr/bin/env python3
"""Gate an Autobahn|Testsuite report: count each case's outcome, list the bad ones,
and exit non-zero when the run does not pass.

Usage: check.py REPORT [--strict] [--agent NAME] [--expect N] [--allow PATTERNS] [--quiet]

REPORT is a report folder (the one holding index.json) or its index.json.

Each case lands in one of five outcomes, judged as the suite's HTML report
colours it:
  OK             the case passed and the connection closed as expected
  NON-STRICT     passed but not strictly: the case says so, or the close code
                 was not one the spec prefers ("WRONG CODE"), or the client
                 dropped the TCP connection before the server ("FAILED BY CLIENT")
  INFORMATIONAL  the spec leaves the behaviour open; never a failure
  UNIMPLEMENTED  the case needs a feature that was not negotiated (compression)
  FAILED         anything else, including a passing case whose close was red
                 (unclean, or by the wrong endpoint) and behaviours the suite
                 reports without a colour of their own ("NO_CLOSE")

Printed: a line per case group (1.* Framing ... 13.* Compression), the bad cases
with the suite's explanation, and last the summary line
  autobahn: 301 cases, 298 OK, 0 NON-STRICT, 3 INFORMATIONAL, 0 UNIMPLEMENTED, 0 FAILED
(with --quiet only that line; "autobahn[AGENT]:" when the report holds several
agents and no --agent is given).

Options:
  --strict          NON-STRICT and UNIMPLEMENTED fail too (else only FAILED)
  --agent NAME      judge this agent only; failing when the report lacks it
  --expect N        fail unless exactly N cases were run (per agent)
  --allow PATTERNS  known failures: listed but not failing (also AUTOBAHN_ALLOW)
  --quiet           only the summary line

PATTERNS: case ids separated by commas or spaces, "*" matching anything
("6.4.*,9.3.1").

Exit status: 0 passed; 1 failed (a failing case, a missing agent, a case count
other than --expect, no case at all); 2 the report cannot be read.
"""

import argparse
import fnmatch
import json
import os
import sys

OUTCOMES = ("OK", "NON-STRICT", "INFORMATIONAL", "UNIMPLEMENTED", "FAILED")
GROUPS = {
    1: "Framing",
    2: "Pings/Pongs",
    3: "Reserved Bits",
    4: "Opcodes",
    5: "Fragmentation",
    6: "UTF-8 Handling",
    7: "Close Handling",
    8: "Misc",
    9: "Limits/Performance",
    10: "Auto-Fragmentation",
    12: "Compression (payloads)",
    13: "Compression (parameters)",
}
# Close outcomes the report paints green/blue (fine), yellow (not strict), or
# anything else: red.
CLOSE_FINE = ("OK", "INFORMATIONAL")
CLOSE_LAX = ("WRONG CODE", "FAILED BY CLIENT")


def split_patterns(text):
    return [p for p in (text or "").replace(" ", ",").split(",") if p]


def listed(patterns, case_id):
    return any(fnmatch.fnmatchcase(case_id, p) for p in patterns)


def sort_key(case_id):
    return tuple(int(n) if n.isdigit() else -1 for n in case_id.split("."))


def outcome(entry):
    """(outcome, why) of one index.json entry; why is empty when nothing is wrong."""
    behavior = str(entry.get("behavior"))
    close = str(entry.get("behaviorClose"))
    if behavior == "UNIMPLEMENTED":
        return "UNIMPLEMENTED", ""
    if behavior not in ("OK", "NON-STRICT", "INFORMATIONAL"):
        return "FAILED", "" if behavior == "FAILED" else "behavior " + behavior
    if close not in CLOSE_FINE and close not in CLOSE_LAX:
        return "FAILED", "close " + close
    if close in CLOSE_LAX:
        return ("INFORMATIONAL" if behavior == "INFORMATIONAL" else "NON-STRICT"), "close " + close
    return behavior, ""


def explanation(folder, entry):
    """The suite's own words for a case, from its per-case JSON report."""
    name = entry.get("reportfile")
    if not name:
        return ""
    try:
        with open(os.path.join(folder, name), encoding="utf-8") as f:
            case = json.load(f)
    except (OSError, ValueError):
        return ""
    return "; ".join(str(t) for t in (case.get("result"), case.get("resultClose")) if t)


def judge(folder, cases, args, prefix):
    """Prints the agent's lines; returns True when it passes."""
    bad = ("NON-STRICT", "UNIMPLEMENTED", "FAILED") if args.strict else ("FAILED",)
    allow = split_patterns(args.allow)
    totals = dict.fromkeys(OUTCOMES, 0)
    groups = {}
    failing, tolerated = [], []
    for cid in sorted(cases, key=sort_key):
        entry = cases[cid]
        what, why = outcome(entry)
        totals[what] += 1
        group = groups.setdefault(sort_key(cid)[0], [dict.fromkeys(OUTCOMES, 0), 0])
        group[0][what] += 1
        group[1] += int(entry.get("duration") or 0)
        if what in bad:
            (tolerated if listed(allow, cid) else failing).append((cid, entry, what, why))

    if not args.quiet:
        for number in sorted(groups):
            counts, millis = groups[number]
            print("  %-5s %-25s %4d cases: %s (%.1f s)" % (
                "%d.*" % number, GROUPS.get(number, "?"), sum(counts.values()),
                ", ".join("%d %s" % (counts[o], o) for o in OUTCOMES), millis / 1000.0))
        for title, rows in (("failing", failing), ("allowed to fail (--allow)", tolerated)):
            if rows:
                print("  %s: %d case%s" % (title, len(rows), "" if len(rows) == 1 else "s"))
            for cid, entry, what, why in rows[:50]:
                print("    %-8s %-13s close %-16s code %-5s %s%s" % (
                    cid, what, entry.get("behaviorClose"), entry.get("remoteCloseCode"),
                    "[%s] " % why if why else "", explanation(folder, entry)))
            if len(rows) > 50:
                print("    (%d more)" % (len(rows) - 50))
    print("%s: %d cases, %s" % (prefix, len(cases), ", ".join("%d %s" % (totals[o], o) for o in OUTCOMES)))

    ok = True
    if failing:
        ok = False
        print("%s: %d case%s fail%s the %s gate: %s" % (
            prefix, len(failing), "" if len(failing) == 1 else "s", "s" if len(failing) == 1 else "",
            "strict" if args.strict else "FAILED-only",
            " ".join(c[0] for c in failing[:30]) + (" ..." if len(failing) > 30 else "")),
            file=sys.stderr)
    if args.expect is not None and len(cases) != args.expect:
        ok = False
        print("%s: %d cases were selected but the report holds %d" % (prefix, args.expect, len(cases)),
              file=sys.stderr)
    if not cases:
        ok = False
        print("%s: the report holds no case" % prefix, file=sys.stderr)
    return ok


def main(argv=None):
    ap = argparse.ArgumentParser(
        prog="check.py", description="Gate an Autobahn|Testsuite report (see the module docstring).")
    ap.add_argument("report", help="report folder, or its index.json")
    ap.add_argument("--strict", action="store_true")
    ap.add_argument("--agent")
    ap.add_argument("--expect", type=int)
    ap.add_argument("--allow", default=os.environ.get("AUTOBAHN_ALLOW", ""))
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)

    index_path = args.report
    if os.path.isdir(index_path):
        index_path = os.path.join(index_path, "index.json")
    try:
        with open(index_path, encoding="utf-8") as f:
            index = json.load(f)
        if not isinstance(index, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError) as exc:
        print("autobahn: cannot read %s: %s" % (index_path, exc), file=sys.stderr)
        return 2
    folder = os.path.dirname(os.path.abspath(index_path))

    if args.agent is not None:
        if args.agent not in index:
            print("autobahn: no case of agent %r in %s (agents: %s)" % (
                args.agent, index_path, ", ".join(sorted(index)) or "none"), file=sys.stderr)
            print("autobahn: 0 cases, " + ", ".join("0 " + o for o in OUTCOMES))
            return 1
        agents = [args.agent]
    else:
        agents = sorted(index)
        if not agents:
            print("autobahn: %s holds no case" % index_path, file=sys.stderr)
            print("autobahn: 0 cases, " + ", ".join("0 " + o for o in OUTCOMES))
            return 1

    passed = True
    for agent in agents:
        prefix = "autobahn" if len(agents) == 1 else "autobahn[%s]" % agent
        if len(agents) > 1 and not args.quiet:
            print("agent %s" % agent)
        passed = judge(folder, index[agent], args, prefix) and passed
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
