#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The tools' command lines, run as a user runs them (tools/opts.h).

    test_tools.py DMAKITD DMAKIT DMAKIT_BIND VERSION

Every bad value (empty, negative, past 2^64, trailing garbage, out of
range, not octal, a mode nobody can connect with, an unknown option, a
missing value, a value to an option that takes none) exits 2 at once, with
a message that names the option and the value; a daemon that took one
would still be running when the time is up. --help lists every option,
each value option with its default; --version prints VERSION. dmakitd
started with good options serves on its socket with the mode it was given
(stat), or the mode its --help calls the default; its banner names the
routes it serves; SIGTERM stops it with status 0 and removes the socket.
"""
import os
import re
import select
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time

DMAKITD, DMAKIT, BIND, VERSION = sys.argv[1:5]
failures = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        failures.append(what)


def run(argv, timeout=5):
    """(exit status or None when still running at @timeout, stdout, stderr)"""
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
        return p.returncode, p.stdout, p.stderr
    except subprocess.TimeoutExpired:
        return None, "", "(still running after %d s: it took the value)" % timeout


def refused(argv, option, value=None):
    """@argv exits 2, naming @option (and @value, quoted) on stderr only."""
    rc, out, err = run(argv)
    line = err.strip().splitlines()[0] if err.strip() else ""
    ok = rc == 2 and option in line and not out
    if value is not None:
        ok = ok and ("'%s'" % value) in line
    shown = " ".join(repr(a) for a in argv[1:]).replace(repr(sock), "SOCK")
    check(ok, "%s %s -> status %s: %s" % (os.path.basename(argv[0]), shown, rc, line))


tmp = tempfile.mkdtemp(prefix="dmk-tools-")
sock = os.path.join(tmp, "sock")


def daemon(*args):
    """dmakitd on the sim backend with @args last, unless they choose it."""
    dev = [] if "--sim" in args or "--nvme" in args else ["--sim", "8"]
    return [DMAKITD, "--socket", sock, "--quiet"] + dev + list(args)


# --- dmakitd: each bad value alone, the rest good
for opt, val in [
        ("--mode", "0777x"), ("--mode", "999"), ("--mode", ""), ("--mode", "-1"),
        ("--mode", "01777"), ("--mode", "0444"), ("--mode", "0x1b6"),
        ("--mode", "99999999999999999999999"),
        ("--bounce", "1X"), ("--bounce", "-1"), ("--bounce", ""), ("--bounce", " 5"),
        ("--bounce", "18446744073709551616"), ("--bounce", "16777216T"), ("--bounce", "1.5M"),
        ("--sim", "-5"), ("--sim", ""), ("--sim", "5x"), ("--sim", "5:77"), ("--sim", "5:"),
        ("--sim", "18446744073709551616"), ("--sim", "99999999999"), ("--sim", "0"),
        ("--sim", "010"), ("--sim", "8:4K:1"),
        ("--max-pinned", "lots"), ("--max-pinned", "0"), ("--max-pinned", "+5"),
        ("--max-pinned-total", "1.5G"), ("--max-pinned-total", "-0"),
        ("--ring-entries", "100"), ("--ring-entries", "0"), ("--ring-entries", "8192"),
        ("--ring-entries", "4294967296"), ("--ring-entries", "16 "),
        ("--ring-poll-us", "2000000"), ("--ring-poll-us", "0x"),
        ("--max-clients", "0"), ("--max-clients", "1025"),
        ("--max-clients-per-uid", "65"), ("--max-clients-per-uid", "1025"),
        ("--max-clients-per-uid", "-1"),
        ("--hello-timeout-ms", "0"), ("--hello-timeout-ms", "600001"),
        ("--hello-timeout-ms", "2s"),
        ("--max-regions", "4294967296"), ("--max-regions", "0"),
        ("--socket", ""), ("--socket", tmp + "/" + "s" * 120),
        ("--nvme", "00:02.0"), ("--nvme", "0000:00:02.8"), ("--nvme", ""),
]:
    refused(daemon(opt, val), opt, val)
refused(daemon("--mode"), "--mode")
refused(daemon("--bounce"), "--bounce")
refused(daemon("--quiet=yes"), "--quiet")
refused(daemon("--bogus"), "--bogus")
refused(daemon("--bogus=1"), "--bogus")
refused(daemon("-x"), "-x")
refused(daemon("stray"), "stray")
refused([DMAKITD, "--socket", sock], "--sim")
refused(daemon("--sim", "8", "--nvme", "0000:00:02.0"), "--nvme")

# --- dmakit-bind: options and operands checked before anything is bound
for operand in ["12345:1", "zz", "1234:", ":11e8", "0000:00:1f.8", "0000:00:20.0",
                "0000:00:02.0x", "0x1234:11e8", "1234:11e8:0"]:
    refused([BIND, "-n", operand], operand)
refused([BIND, "-n", "0000:00:00.0", "zz"], "zz")
refused([BIND, "--bogus", "1234:11e8"], "--bogus")
refused([BIND, "--no-bind=1", "1234:11e8"], "--no-bind")
refused([BIND, "-n"], "device")

# --- dmakit and dmakit sgl (which refused bad values already)
for opt, val in [("--size", "1X"), ("--size", ""), ("--size", "-5"),
                 ("--size", "18446744073709551616"), ("--size", "4K "), ("--offset", "1e3"),
                 ("--seed", "5x"), ("--max-segs", "5000000000"), ("--sim-page", "0x"),
                 ("--space", "disk"), ("--dir", "up"), ("--format", "json")]:
    refused([DMAKIT, "sgl", opt, val], opt, val)
refused([DMAKIT, "sgl", "--size"], "--size")
refused([DMAKIT, "sgl", "--touch=1"], "--touch")
refused([DMAKIT, "sgl", "--bogus"], "--bogus")
refused([DMAKIT, "--bogus"], "--bogus")
refused([DMAKIT, "nosuch"], "nosuch")


# --- --help: every option; each that takes a value says its default
def help_blocks(text):
    """{option name: its lines in --help} for lines that start with one"""
    blocks, cur = {}, None
    for line in text.splitlines():
        m = re.match(r"^\s+(?:-\w, )?--([a-z][a-z-]*)", line)
        if m:
            cur = m.group(1)
            blocks[cur] = line
        elif cur and line.startswith("    "):
            blocks[cur] += " " + line.strip()
        else:
            cur = None
    return blocks


def check_help(argv, options, with_default):
    what = " ".join([os.path.basename(argv[0])] + argv[1:])
    rc, out, err = run(argv)
    check(rc == 0 and not err, "%s: status %s" % (what, rc))
    blocks = help_blocks(out)
    for o in options:
        check(re.search(r"--%s\b(?!-)" % re.escape(o), out) is not None,
              "%s lists --%s" % (what, o))
    for o in with_default:
        check("default" in blocks.get(o, ""), "%s gives --%s's default" % (what, o))
    return out


daemon_values = ["socket", "mode", "bounce", "ring-entries", "ring-poll-us", "max-clients",
                 "max-clients-per-uid", "hello-timeout-ms", "max-regions", "max-pinned",
                 "max-pinned-total"]
daemon_help = check_help([DMAKITD, "--help"],
                         ["nvme", "sim", "quiet", "help", "version"] + daemon_values,
                         daemon_values + ["quiet"])
check_help([BIND, "--help"], ["no-bind", "help", "version"], ["no-bind"])
check_help([DMAKIT, "sgl", "--help"],
           ["size", "offset", "align", "hugepage", "touch", "no-touch", "space", "layout",
            "sim-page", "seed", "sim-base", "sim-size", "dir", "rules", "addr-low", "addr-high",
            "max-seg", "max-segs", "max-transfer", "boundary", "addr-align", "len-align", "page",
            "page-list", "no-page-list", "bounce-pool", "format", "sgl-list-size", "help",
            "version"],
           ["size", "offset", "align", "hugepage", "touch", "space", "layout", "sim-page",
            "seed", "sim-base", "dir", "rules", "bounce-pool", "format", "sgl-list-size"])
check_help([DMAKIT, "--help"], ["help", "version"], [])

# --- --version
for argv in ([DMAKITD, "--version"], [BIND, "--version"], [DMAKIT, "--version"],
             [DMAKIT, "sgl", "--version"]):
    rc, out, err = run(argv)
    name = os.path.basename(argv[0])
    check(rc == 0 and out == "%s (dmakit) %s\n" % (name, VERSION) and not err,
          "%s: %r, status %s" % (" ".join([name] + argv[1:]), out, rc))


# --- dmakitd with good options serves, with the socket's mode as asked
def serve(args, mode, routes):
    """Start dmakitd with @args; its socket has @mode and its banner @routes."""
    if os.path.lexists(sock):  # left by a daemon that took a bad value
        os.unlink(sock)
    p = subprocess.Popen([DMAKITD, "--socket", sock] + args, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, text=True)
    banner = ""
    # the banner comes once the socket is there and the signals are handled
    if select.select([p.stderr], [], [], 10)[0]:
        banner = p.stderr.readline()
    what = "dmakitd " + " ".join(args)
    print("     " + what)
    try:
        st = os.stat(sock)
        check(stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) == mode,
              "%s: socket mode %04o, asked %04o" % (what, stat.S_IMODE(st.st_mode), mode))
    except OSError as e:
        check(False, "%s: no socket (%s); it said %r" % (what, e, banner))
    check(("routes: %s;" % routes) in banner, "%s: banner %r" % (what, banner.strip()))
    p.send_signal(signal.SIGTERM)
    try:
        rest = p.communicate(timeout=10)[1]
    except subprocess.TimeoutExpired:
        p.kill()
        rest = p.communicate()[1]
    check(p.returncode == 0 and not os.path.exists(sock),
          "%s: SIGTERM -> status %s, socket %s%s" % (what, p.returncode,
          "left" if os.path.exists(sock) else "removed", ("; " + rest.strip()) if rest else ""))


serve(["--sim", "64:4K", "--mode", "0600", "--bounce", "64K", "--ring-entries", "8",
       "--ring-poll-us", "10", "--max-pinned", "1M", "--max-pinned-total", "0x1000000",
       "--max-clients", "2", "--max-clients-per-uid", "2", "--hello-timeout-ms", "500",
       "--max-regions", "4"], 0o600, "memfd, copy, pool")
serve(["--sim", "8", "--bounce", "0", "--mode", "660"], 0o660, "memfd, pool")
m = re.search(r"--mode OCTAL.*?default (0[0-7]{3})", daemon_help, re.S)
check(m is not None, "dmakitd --help: a default mode")
if m:
    serve(["--sim", "8"], int(m.group(1), 8), "memfd, copy, pool")

shutil.rmtree(tmp, ignore_errors=True)
print("%d failed" % len(failures))
sys.exit(1 if failures else 0)
