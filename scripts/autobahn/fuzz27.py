# -*- coding: utf-8 -*-
"""The Python 2.7 half of scripts/autobahn/suite.py: runs inside the
autobahntestsuite environment that install.sh makes (its `python` launcher).

    python fuzz27.py count SPEC
        prints how many cases SPEC selects ("cases" minus "exclude-cases"),
        by the suite's own pattern matching
    python fuzz27.py fuzzingserver SPEC HOST
        runs the suite's fuzzing server (the client role's peer) for SPEC,
        listening on HOST only (wstest itself listens on every interface),
        until SIGTERM or SIGINT; it then writes the reports of every case
        run so far into SPEC's "outdir" and exits 0

SPEC is a wstest spec file (JSON). Written for Python 2.7 and autobahntestsuite
25.10.1; nothing here runs on Python 3.
"""
from __future__ import print_function

import json
import sys


def load_spec(path):
    with open(path) as f:
        return json.load(f)


def case_set():
    from autobahntestsuite import case
    from autobahntestsuite.caseset import CaseSet
    return CaseSet(case.CaseSetname, case.CaseBasename, case.Cases,
                   case.CaseCategories, case.CaseSubCategories)


def count(spec_path):
    spec = load_spec(spec_path)
    spec.setdefault("exclude-cases", [])
    print(len(case_set().parseSpecCases(spec)))
    return 0


def fuzzingserver(spec_path, host):
    # The epoll reactor, as wstest picks it; must come before any reactor import.
    from autobahntestsuite import choosereactor  # noqa: F401
    from twisted.internet import reactor
    from autobahntestsuite.fuzzing import FuzzingServerFactory

    spec = load_spec(spec_path)
    factory = FuzzingServerFactory(spec)

    def write_reports():
        # Clients may ask for this themselves (/updateReports); doing it on
        # the way out means the report exists whatever the client did.
        print("writing reports into %s" % factory.outdir)
        sys.stdout.flush()
        factory.createReports()
        print("reports written")
        sys.stdout.flush()

    reactor.addSystemEventTrigger("before", "shutdown", write_reports)
    # Twisted turns SIGTERM and SIGINT into reactor.stop(), which runs the trigger.
    reactor.listenTCP(factory.port, factory, interface=host)
    print("listening on %s:%d" % (host, factory.port))
    sys.stdout.flush()
    reactor.run()
    return 0


def main(argv):
    if len(argv) == 2 and argv[0] == "count":
        return count(argv[1])
    if len(argv) == 3 and argv[0] == "fuzzingserver":
        return fuzzingserver(argv[1], argv[2])
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
