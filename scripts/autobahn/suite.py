#!/usr/bin/env python3
"""Runs Autobahn|Testsuite in either role and gates the report with check.py.
Called through server-suite.sh and client-suite.sh beside it (`suite.py server
...` and `suite.py client ...`); see USAGE below or their --help. Python 3
standard library only; the suite itself runs in install.sh's Python 2.7
environment.
"""

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from urllib.parse import urlsplit

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import check  # noqa: E402  (beside this file)

PASSED, FAILED, SETUP, TIMED_OUT = 0, 1, 2, 124

OPTIONS = """
Options (the environment variable that sets the default in brackets):
  --cases PATTERNS    cases to run, comma separated, "*" as wildcard
                      [AUTOBAHN_CASES; default "*": all 517]
  --exclude PATTERNS  cases not to run; adds up when repeated [AUTOBAHN_EXCLUDE]
  --quick             also leave out 9.* (performance), 12.* and 13.*
                      (compression) [AUTOBAHN_QUICK=1]
  --report-dir DIR    report folder [AUTOBAHN_REPORT_DIR; default %s]
  --timeout SECS      time limit of the run [AUTOBAHN_TIMEOUT; default 2700]
  --wait SECS         how long to wait for the peer to listen [AUTOBAHN_WAIT; default 30]
  --strict            NON-STRICT and UNIMPLEMENTED cases fail too [AUTOBAHN_STRICT=1]
  --allow PATTERNS    known failures, listed but not failing [AUTOBAHN_ALLOW]
  --no-check          write the report, do not gate it
  --verbose, -v       echo the suite's output [AUTOBAHN_VERBOSE=1]%s
The Python 2.7 environment comes from install.sh beside this script (cached;
AUTOBAHN_VENV). The report folder gets the suite's index.html, index.json, one
JSON and HTML file per case, spec.json and wstest.log (the suite's output);
a previous report there is removed first, other files are left alone.

Exit status: 0 passed; 1 failed: a failing case, or fewer cases than selected%s;
2 setup error: install, arguments, %s,
or the suite itself failing; 124 past --timeout; 130 or 143 interrupted.
"""

USAGE = {
    "server": """Usage: server-suite.sh [options] PORT|ws://HOST:PORT[/PATH] AGENT

Runs the suite's fuzzing client (wstest -m fuzzingclient) against a WebSocket
server that is already listening on loopback (PORT alone means 127.0.0.1:PORT),
then gates the report with check.py. AGENT names the server in the report.
""" + OPTIONS % ("target/autobahn/servers", "", "",
                 "nothing listening on the port"),
    "client": """Usage: client-suite.sh [options] [--] COMMAND [ARGS...]

Starts the suite's fuzzing server on ws://127.0.0.1:PORT (loopback only), runs
COMMAND, the client under test, then has the server write its report and gates
it with check.py. Options end at COMMAND (or at --).

The client gets AUTOBAHN_URL (ws://127.0.0.1:PORT), AUTOBAHN_PORT and
AUTOBAHN_AGENT in its environment and is expected to open /getCaseCount (one
text message: the number of cases), then /runCase?case=N&agent=AGENT for N in
1..count, echoing every message (text as text, binary as binary) until the
server closes; /updateReports?agent=AGENT at the end is optional (the report is
written anyway).
""" + OPTIONS % ("target/autobahn/clients", """
  --port PORT         the fuzzing server's port [AUTOBAHN_PORT; default 9001]
  --agent NAME        the client's agent name: passed to it, and the report
                      must hold its cases [AUTOBAHN_AGENT; default: any]""",
                 ",\nor the client exiting non-zero", "the port taken"),
}

# What the suite writes into a report folder: cleared before a run so that a
# stale report can never pass for a new one. Anything else there (our echo
# server's server.log, say) is left alone.
REPORT_FILES = ("index.json", "index.html", "spec.json", "wstest.log")
REPORT_CASE_SUFFIXES = (".json", ".html")


def say(text):
    print("autobahn: " + text, file=sys.stderr, flush=True)


class SetupError(Exception):
    """Something other than the peer under test went wrong (exit status 2)."""


class Interrupted(Exception):
    def __init__(self, signum):
        super().__init__(signum)
        self.status = 128 + signum


def on_signal(signum, _frame):
    raise Interrupted(signum)


def patterns(values):
    """Comma/space separated patterns from one or more option values."""
    out = []
    for value in values:
        out += check.split_patterns(value)
    return out


def env_flag(name):
    return os.environ.get(name, "") not in ("", "0", "false", "no")


def env_int(name, default):
    value = os.environ.get(name, "")
    try:
        return int(value) if value else default
    except ValueError:
        raise SetupError("%s must be a whole number, not %r" % (name, value))


def is_loopback(host):
    return host == "localhost" or host == "::1" or host.startswith("127.")


# ------------------------------------------------------------ processes
def die_with_parent():
    """In a child before exec: SIGKILL it should this runner die without
    cleaning up (Linux; elsewhere nothing)."""
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:  # noqa: BLE001 - best effort only
        pass

class Child:
    """A process in a session of its own (so that it and anything it starts
    can be stopped together), its output to a log file, to our stderr too
    when echo is set, or inherited when log is None."""

    def __init__(self, argv, log=None, echo=False, **popen):
        self.argv = argv
        out = None
        self._log = None
        self._pump = None
        if log is not None:
            self._log = open(log, "wb")
            out = subprocess.PIPE if echo else self._log
        try:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=subprocess.STDOUT if log is not None else None,
                                         start_new_session=True, preexec_fn=die_with_parent,
                                         **popen)
        except OSError as exc:
            raise SetupError("cannot run %s: %s" % (argv[0], exc))
        if log is not None and echo:
            self._pump = threading.Thread(target=self._copy, daemon=True)
            self._pump.start()

    def _copy(self):
        for line in self.proc.stdout:
            self._log.write(line)
            self._log.flush()
            sys.stderr.buffer.write(line)
            sys.stderr.flush()

    def alive(self):
        return self.proc.poll() is None

    def signal(self, sig):
        try:
            os.killpg(self.proc.pid, sig)
        except OSError:
            pass

    def wait(self, seconds):
        """The exit status, or None when still running after SECONDS."""
        try:
            return self.proc.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, grace):
        """SIGTERM to its process group, SIGKILL after GRACE seconds; the status."""
        if self.alive():
            self.signal(signal.SIGTERM)
            if self.wait(grace) is None:
                self.signal(signal.SIGKILL)
        status = self.proc.wait()
        if self._pump is not None:
            self._pump.join(5)
        if self._log is not None:
            self._log.close()
        return status


def accepts(host, port):
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def wait_listening(host, port, seconds, child=None):
    """True once HOST:PORT accepts TCP; False after SECONDS or when CHILD exits."""
    deadline = time.monotonic() + seconds
    while True:
        if child is not None and not child.alive():
            return False
        if accepts(host, port):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)


def port_free(port):
    # As the fuzzing server will bind it (Twisted sets SO_REUSEADDR).
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def show_tail(path, lines=25):
    try:
        with open(path, errors="replace") as f:
            tail = f.readlines()[-lines:]
    except OSError:
        return
    if tail:
        say("last lines of %s:" % path)
        for line in tail:  # (the suite prints its whole case list on one line)
            line = line.rstrip("\n")
            sys.stderr.write((line if len(line) <= 300 else line[:300] + " ...") + "\n")
        sys.stderr.flush()


# ------------------------------------------------------------ the suite
class Environment:
    """The Python 2.7 environment of install.sh."""

    def __init__(self):
        try:
            done = subprocess.run([os.path.join(HERE, "install.sh")], stdout=subprocess.PIPE,
                                  stdin=subprocess.DEVNULL, text=True)
        except OSError as exc:
            raise SetupError("cannot run install.sh: %s" % exc)
        lines = done.stdout.split()
        if done.returncode != 0 or not lines:
            raise SetupError("installing Autobahn|Testsuite failed (scripts/autobahn/install.sh)")
        self.wstest = lines[-1]
        self.python = os.path.join(os.path.dirname(self.wstest), "python")

    def count(self, spec_path):
        """How many cases the spec selects, as the suite itself reads it."""
        try:
            done = subprocess.run([self.python, os.path.join(HERE, "fuzz27.py"), "count", spec_path],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                  stdin=subprocess.DEVNULL, timeout=120)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise SetupError("cannot count the selected cases: %s" % exc)
        if done.returncode != 0:
            raise SetupError("cannot read the case selection: %s"
                             % (done.stderr.strip().splitlines() or ["?"])[-1])
        return int(done.stdout.split()[-1])


def prepare_report_dir(path):
    os.makedirs(path, exist_ok=True)
    for name in os.listdir(path):
        stale = name in REPORT_FILES or ("_case_" in name and name.endswith(REPORT_CASE_SUFFIXES))
        if stale and os.path.isfile(os.path.join(path, name)):
            os.remove(os.path.join(path, name))


def write_spec(report_dir, spec):
    path = os.path.join(report_dir, "spec.json")
    with open(path, "w") as f:
        json.dump(spec, f, indent=2)
        f.write("\n")
    return path


def selection(opts):
    cases = patterns(opts.cases) or ["*"]
    exclude = patterns(opts.exclude)
    if opts.quick:
        exclude += ["9.*", "12.*", "13.*"]
    return cases, exclude


def describe(cases, exclude):
    return "cases %s%s" % (",".join(cases), " minus " + ",".join(exclude) if exclude else "")


def gate(opts, report_dir, expect, agent):
    if opts.no_check:
        return PASSED
    argv = [report_dir, "--expect", str(expect)]
    if opts.strict:
        argv.append("--strict")
    if agent:
        argv += ["--agent", agent]
    if opts.allow:
        argv += ["--allow", ",".join(patterns(opts.allow))]
    sys.stdout.flush()
    status = check.main(argv)
    sys.stdout.flush()
    return PASSED if status == 0 else (SETUP if status == 2 else FAILED)


def server_role(opts, children):
    """The suite's fuzzing client against a server that is already listening."""
    target = opts.target
    url = "ws://127.0.0.1:%s" % target if target.isdigit() else target
    parts = urlsplit(url)
    try:
        host, port = parts.hostname, parts.port
    except ValueError:
        host = port = None
    if parts.scheme != "ws" or not host or not port:
        raise SetupError("expected a port or ws://HOST:PORT[/PATH], not %r" % target)
    if not is_loopback(host):
        raise SetupError("%s is not a loopback address: the suite runs on loopback only" % host)
    if not opts.agent:
        raise SetupError("AGENT is empty")

    report_dir = os.path.abspath(opts.report_dir or os.path.join("target", "autobahn", "servers"))
    prepare_report_dir(report_dir)
    env = Environment()
    cases, exclude = selection(opts)
    spec = write_spec(report_dir, {
        "outdir": report_dir,
        "servers": [{"agent": opts.agent, "url": url}],
        "cases": cases,
        "exclude-cases": exclude,
        "exclude-agent-cases": {},
    })
    expect = env.count(spec)
    if expect == 0:
        raise SetupError("no case matches (%s)" % describe(cases, exclude))
    if not wait_listening(host, port, opts.wait):
        raise SetupError("nothing accepts connections on %s:%d (waited %d s)" % (host, port, opts.wait))

    say("%d cases against %s as '%s' (%s; time limit %d s)"
        % (expect, url, opts.agent, describe(cases, exclude), opts.timeout))
    log = os.path.join(report_dir, "wstest.log")
    started = time.monotonic()
    wstest = Child([env.wstest, "-m", "fuzzingclient", "-s", spec], log=log, echo=opts.verbose,
                   cwd=report_dir)
    children.append(wstest)
    status = wstest.wait(opts.timeout)
    if status is None:
        wstest.stop(2)
        show_tail(log, 5)
        say("error: the suite was still running after %d s; stopped (no report)" % opts.timeout)
        return TIMED_OUT
    wstest.stop(0)
    if status != 0 or not os.path.isfile(os.path.join(report_dir, "index.json")):
        show_tail(log)
        raise SetupError("wstest exited with status %d and no report" % status)
    with open(log, errors="replace") as f:
        lost = [line.strip() for line in f if line.startswith("Connection to ") and " failed" in line]
    if lost:
        say("warning: %s (the run stopped there)" % lost[0])
    say("suite done in %.0f s; report: %s" % (time.monotonic() - started,
                                                os.path.join(report_dir, "index.html")))
    return gate(opts, report_dir, expect, opts.agent)


def client_role(opts, children):
    """The suite's fuzzing server on loopback, and the client under test against it."""
    command = opts.command
    if command and command[0] == "--":
        command = command[1:]
    if not command:
        raise SetupError("no client command given (see --help)")
    port = opts.port
    url = "ws://127.0.0.1:%d" % port

    report_dir = os.path.abspath(opts.report_dir or os.path.join("target", "autobahn", "clients"))
    prepare_report_dir(report_dir)
    env = Environment()
    cases, exclude = selection(opts)
    spec = write_spec(report_dir, {
        "url": url,
        "outdir": report_dir,
        "cases": cases,
        "exclude-cases": exclude,
        "exclude-agent-cases": {},
    })
    expect = env.count(spec)
    if expect == 0:
        raise SetupError("no case matches (%s)" % describe(cases, exclude))
    if not port_free(port):
        raise SetupError("port %d on 127.0.0.1 is taken" % port)

    log = os.path.join(report_dir, "wstest.log")
    server = Child([env.python, os.path.join(HERE, "fuzz27.py"), "fuzzingserver", spec, "127.0.0.1"],
                   log=log, echo=opts.verbose, cwd=report_dir)
    children.append(server)
    if not wait_listening("127.0.0.1", port, opts.wait, server):
        alive = server.alive()
        server.stop(2)
        show_tail(log)
        raise SetupError("the fuzzing server %s" % (
            "did not listen on %s within %d s" % (url, opts.wait) if alive else "exited at start"))

    say("fuzzing server on %s with %d cases (%s); client: %s (time limit %d s)"
        % (url, expect, describe(cases, exclude), " ".join(command), opts.timeout))
    child_env = dict(os.environ, AUTOBAHN_URL=url, AUTOBAHN_PORT=str(port),
                     AUTOBAHN_AGENT=opts.agent or "")
    started = time.monotonic()
    client = Child(command, env=child_env)
    children.append(client)
    client_status = client.wait(opts.timeout)
    took = time.monotonic() - started
    if client_status is None:
        client.stop(2)
        say("error: the client was still running after %d s; stopped" % opts.timeout)
    else:
        client.stop(0)
        if client_status != 0:
            say("error: the client exited with status %d after %.0f s" % (client_status, took))
        else:
            say("client done in %.0f s" % took)

    if not server.alive():
        show_tail(log)
        raise SetupError("the fuzzing server died during the run")
    # On SIGTERM the fuzzing server writes its reports, then exits.
    if server.stop(600) != 0:
        show_tail(log)
        raise SetupError("the fuzzing server did not write its reports")

    index = os.path.join(report_dir, "index.json")
    try:
        with open(index) as f:
            ran = sum(len(v) for v in json.load(f).values())
    except (OSError, ValueError, AttributeError):
        ran = 0
    if ran == 0:
        show_tail(log)
        say("error: no case was run: the client must open /runCase?case=N&agent=NAME for N in 1..count")
        return TIMED_OUT if client_status is None else FAILED
    say("report: %s" % os.path.join(report_dir, "index.html"))
    status = gate(opts, report_dir, expect, opts.agent)
    if client_status is None:
        return TIMED_OUT
    return FAILED if client_status != 0 else status


def parse(argv):
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--cases", action="append", default=[os.environ.get("AUTOBAHN_CASES", "")],
                        metavar="PATTERNS")
    common.add_argument("--exclude", action="append", default=[os.environ.get("AUTOBAHN_EXCLUDE", "")],
                        metavar="PATTERNS")
    common.add_argument("--quick", action="store_true", default=env_flag("AUTOBAHN_QUICK"))
    common.add_argument("--report-dir", default=os.environ.get("AUTOBAHN_REPORT_DIR", ""), metavar="DIR")
    common.add_argument("--timeout", type=int, default=env_int("AUTOBAHN_TIMEOUT", 2700), metavar="SECS")
    common.add_argument("--wait", type=int, default=env_int("AUTOBAHN_WAIT", 30), metavar="SECS")
    common.add_argument("--strict", action="store_true", default=env_flag("AUTOBAHN_STRICT"))
    common.add_argument("--allow", action="append", default=[os.environ.get("AUTOBAHN_ALLOW", "")],
                        metavar="PATTERNS")
    common.add_argument("--no-check", action="store_true")
    common.add_argument("--verbose", "-v", action="store_true", default=env_flag("AUTOBAHN_VERBOSE"))

    class Help(argparse.Action):
        def __init__(self, **kwargs):
            super().__init__(nargs=0, **kwargs)

        def __call__(self, parser, namespace, values, option_string=None):
            print(USAGE[parser.prog.split("-")[0]], end="")
            parser.exit(0)

    ap = argparse.ArgumentParser(prog="suite.py", add_help=False)
    roles = ap.add_subparsers(dest="role", required=True)
    server = roles.add_parser("server", parents=[common], add_help=False, prog="server-suite.sh")
    server.add_argument("-h", "--help", action=Help, dest="help")
    server.add_argument("target")
    server.add_argument("agent")
    client = roles.add_parser("client", parents=[common], add_help=False, prog="client-suite.sh")
    client.add_argument("-h", "--help", action=Help, dest="help")
    client.add_argument("--port", type=int, default=env_int("AUTOBAHN_PORT", 9001))
    client.add_argument("--agent", default=os.environ.get("AUTOBAHN_AGENT", ""))
    client.add_argument("command", nargs=argparse.REMAINDER)
    opts, extra = ap.parse_known_args(argv)
    if extra:
        (server if opts.role == "server" else client).error("unrecognized arguments: " + " ".join(extra))

    # --cases given on the command line replaces AUTOBAHN_CASES (the default's
    # first element); --exclude and --allow add to theirs.
    if len(opts.cases) > 1:
        opts.cases = opts.cases[1:]
    if opts.timeout <= 0 or opts.wait < 0:
        raise SetupError("--timeout must be positive and --wait not negative")
    return opts


def main(argv):
    signals = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
    for sig in signals:
        signal.signal(sig, on_signal)
    children = []
    status = SETUP
    try:
        try:
            opts = parse(argv)
            status = (server_role if opts.role == "server" else client_role)(opts, children)
        except SetupError as exc:
            say("error: %s" % exc)
            status = SETUP
    except Interrupted as exc:
        say("interrupted (signal %d): stopping" % (exc.status - 128))
        status = exc.status
    finally:
        for sig in signals:
            signal.signal(sig, signal.SIG_IGN)
        # All at once and quickly: whoever signalled us may not wait long.
        left = [child for child in children if child.alive()]
        for child in left:
            child.signal(signal.SIGTERM)
        deadline = time.monotonic() + 2
        for child in left:
            child.wait(max(0.0, deadline - time.monotonic()))
        for child in left:
            child.stop(0)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
