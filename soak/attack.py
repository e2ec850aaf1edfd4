#!/usr/bin/env python3
"""Re-runs the attacks of the hardening issue against a release binary and prints figures.

Each attack starts its own switch on loopback (fresh data directory, known admin password),
is bounded in count and time, and stops the switch. Figures, not pass/fail: the tests in
tests/ and soak/*.sh assert behaviour; this measures it.

  login-flood  100 concurrent wrong admin logins from one address: status counts, peak RSS
               (VmHWM) and RSS 5 s later; then the right password from another address.
  login-guess  wrong passwords as fast as answered for --seconds from 1 and from 12 addresses:
               guesses the switch actually checked, projected to 15 minutes.
  sip-guess    REGISTER digest guesses against one line from 12 addresses for --seconds
               (svcrack's attack): guesses checked, projected to 15 minutes.
  tcp-flood    1,100 idle TCP connections to the SIP port from 127.0.0.1 with the switch's
               open-file limit at 1,024, then calls from 127.0.0.2 (SIPp) and /health.

Usage: python3 soak/attack.py ATTACK [--bin target/release/vpbx] [--seconds N]
"""

import argparse
import collections
import hashlib
import json
import os
import re
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid

HOST = "127.0.0.1"
SIP_PORT = 25360
HTTP_PORT = 28380
PASSWORD = "attack-admin-password"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Switch:
    """A switch on loopback with a throw-away data directory."""

    def __init__(self, binary, nofile=None, extra=()):
        self.dir = tempfile.mkdtemp(prefix="vpbx-attack.")
        env = dict(os.environ, VPBX_ADMIN_PASSWORD=PASSWORD, VPBX_LOG_LEVEL="warn")
        args = [binary, "--config", "/nonexistent/vpbx.toml", "--data-dir", self.dir + "/data",
                "--sip-addr", f"{HOST}:{SIP_PORT}", "--http-addr", f"{HOST}:{HTTP_PORT}",
                "--rtp-port-min", "35000", "--rtp-port-max", "35199", *extra]

        def limit():
            if nofile:
                resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

        self.log = open(self.dir + "/vpbx.log", "w")
        self.proc = subprocess.Popen(args, env=env, stdout=self.log, stderr=subprocess.STDOUT,
                                     preexec_fn=limit)
        for _ in range(200):
            if self.health() is not None:
                return
            time.sleep(0.05)
        raise SystemExit("the switch did not start: see " + self.dir + "/vpbx.log")

    def health(self, timeout=1.0):
        try:
            with urllib.request.urlopen(f"http://{HOST}:{HTTP_PORT}/health", timeout=timeout) as r:
                return json.load(r)
        except urllib.error.HTTPError as e:
            return json.load(e)
        except (OSError, ValueError):
            return None

    def status(self, field):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
        return 0

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def login(password, source=HOST, timeout=30):
    """POST /auth/token from `source`; returns the HTTP status."""
    body = json.dumps({"username": "admin", "password": password}).encode()
    s = socket.create_connection((HOST, HTTP_PORT), timeout=timeout, source_address=(source, 0))
    try:
        s.sendall(b"POST /api/v1/auth/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Connection: close\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        head = s.recv(64)
        return int(head.split()[1])
    finally:
        s.close()


def mib(n):
    return f"{n / 1048576:.0f} MiB"


def login_flood(args):
    sw = Switch(args.bin)
    try:
        before = sw.status("VmRSS")
        statuses = collections.Counter()
        lock = threading.Lock()

        def one(i):
            try:
                st = login(f"wrong-{i}")
            except OSError as e:
                st = type(e).__name__
            with lock:
                statuses[st] += 1

        threads = [threading.Thread(target=one, args=(i,)) for i in range(100)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        peak = sw.status("VmHWM")
        time.sleep(5)
        after = sw.status("VmRSS")
        right = login(PASSWORD, source="127.0.0.2")
        print(f"login-flood: 100 concurrent wrong logins from {HOST}: {dict(statuses)}")
        print(f"  RSS before {mib(before)}, peak {mib(peak)}, 5 s after {mib(after)}")
        print(f"  right password from 127.0.0.2 afterwards: {right}")
    finally:
        sw.stop()


def guess_for(seconds, sources):
    """Wrong passwords from each source as fast as answered; counts statuses."""
    statuses = collections.Counter()
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def run(src):
        i = 0
        while time.monotonic() < deadline:
            i += 1
            try:
                st = login(f"guess-{src}-{i}", source=src, timeout=10)
            except OSError as e:
                st = type(e).__name__
            with lock:
                statuses[st] += 1

    threads = [threading.Thread(target=run, args=(s,)) for s in sources]
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds + 30)
    return statuses


def login_guess(args):
    for n in (1, 12):
        sw = Switch(args.bin)
        try:
            sources = [f"127.0.0.{i + 1}" for i in range(n)]
            st = guess_for(args.seconds, sources)
            checked = st.get(401, 0)
            right = login(PASSWORD, source="127.0.0.200")
            print(f"login-guess from {n} address(es) for {args.seconds} s: {dict(st)}; "
                  f"checked {checked} → ~{checked * 900 // args.seconds} per 15 min "
                  f"(an upper bound: the delays grow); right password from another address: {right}")
        finally:
            sw.stop()


def md5(s):
    return hashlib.md5(s.encode()).hexdigest()


def register(sock, user, password, src):
    """One REGISTER; with a cached challenge, answered with a digest. Returns the status."""
    call_id = uuid.uuid4().hex
    port = sock.getsockname()[1]

    def msg(auth):
        return (f"REGISTER sip:{HOST}:{SIP_PORT} SIP/2.0\r\n"
                f"Via: SIP/2.0/UDP {src}:{port};branch=z9hG4bK{uuid.uuid4().hex}\r\n"
                f"From: <sip:{user}@{HOST}>;tag={uuid.uuid4().hex[:8]}\r\n"
                f"To: <sip:{user}@{HOST}>\r\nCall-ID: {call_id}\r\nCSeq: 1 REGISTER\r\n"
                f"Contact: <sip:{user}@{src}:{port}>\r\nMax-Forwards: 70\r\n{auth}"
                f"Expires: 60\r\nContent-Length: 0\r\n\r\n").encode()

    def recv():
        while True:
            data = sock.recv(65535).decode(errors="replace")
            code = int(data.split()[1])
            if code >= 200:
                return code, data

    sock.sendto(msg(""), (HOST, SIP_PORT))
    code, data = recv()
    if code not in (401, 407):
        return code
    realm, nonce = re.search(r'realm="([^"]*)"', data).group(1), re.search(r'nonce="([^"]*)"', data).group(1)
    uri = f"sip:{HOST}:{SIP_PORT}"
    resp = md5(f"{md5(f'{user}:{realm}:{password}')}:{nonce}:{md5(f'REGISTER:{uri}')}")
    auth = (f'Authorization: Digest username="{user}", realm="{realm}", nonce="{nonce}", '
            f'uri="{uri}", response="{resp}", algorithm=MD5\r\n')
    sock.sendto(msg(auth), (HOST, SIP_PORT))
    code, data = recv()
    # A 403 whose Warning says "too many"/"blocked" was refused without checking the guess.
    if code == 403 and re.search(r"Warning:[^\r\n]*(too many|blocked)", data):
        return "refused unchecked"
    return code


def sip_guess(args):
    sw = Switch(args.bin, extra=["--pike-requests", "0"])
    try:
        statuses = collections.Counter()
        lock = threading.Lock()
        deadline = time.monotonic() + args.seconds

        def run(src):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind((src, 0))
            s.settimeout(3)
            i = 0
            while time.monotonic() < deadline:
                i += 1
                try:
                    st = register(s, "102", f"guess{i}", src)
                except (OSError, ValueError, IndexError, AttributeError):
                    st = "no answer"
                with lock:
                    statuses[st] += 1

        threads = [threading.Thread(target=run, args=(f"127.0.0.{i + 2}",)) for i in range(12)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(args.seconds + 30)
        checked = statuses.get(403, 0) + statuses.get(401, 0)
        print(f"sip-guess: line 102 from 12 addresses for {args.seconds} s: {dict(statuses)}; "
              f"answered as a wrong password {checked} → ~{checked * 900 // args.seconds} per 15 min")
    finally:
        sw.stop()


def tcp_flood(args):
    want = 1100
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 4096)), hard))
    sw = Switch(args.bin, nofile=1024, extra=["--pike-requests", "0"])
    conns = []
    try:
        opened = refused = 0
        for _ in range(want):
            try:
                c = socket.create_connection((HOST, SIP_PORT), timeout=2, source_address=(HOST, 0))
                conns.append(c)
                opened += 1
            except OSError:
                refused += 1
        time.sleep(1)
        alive = 0
        for c in conns:
            c.setblocking(False)
            try:
                alive += c.recv(1) != b""
            except BlockingIOError:
                alive += 1
            except OSError:
                pass
        health = sw.health(timeout=5)
        calls = 20
        work = tempfile.mkdtemp(prefix="vpbx-attack-sipp.")
        rc = subprocess.run(
            ["sipp", "-sf", os.path.join(ROOT, "soak/sipp/bye_from_caller.xml"), "-i", "127.0.0.2",
             "-p", "25371", "-mp", "25380", "-m", str(calls), "-l", "5", "-r", "5",
             "-timeout", "60s", "-timeout_error", "-nostdin", "-trace_stat", "-stf",
             work + "/stat.csv", f"{HOST}:{SIP_PORT}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120).returncode
        ok = 0
        try:
            with open(work + "/stat.csv") as f:
                rows = [r.split(";") for r in f.read().splitlines()]
            head, last = rows[0], rows[-1]
            ok = int(last[head.index("SuccessfulCall(C)")])
        except (OSError, ValueError, IndexError):
            pass
        shutil.rmtree(work, ignore_errors=True)
        print(f"tcp-flood: {want} connections from {HOST} with the switch at 1,024 open files: "
              f"{opened} opened, {refused} refused, {alive} still open after 1 s")
        print(f"  /health during the flood: {health and health.get('status')}; "
              f"calls from 127.0.0.2: {ok}/{calls} completed (SIPp exit {rc})")
    finally:
        for c in conns:
            c.close()
        sw.stop()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("attack", choices=["login-flood", "login-guess", "sip-guess", "tcp-flood"])
    p.add_argument("--bin", default=os.path.join(ROOT, "target/release/vpbx"))
    p.add_argument("--seconds", type=int, default=30)
    args = p.parse_args()
    {"login-flood": login_flood, "login-guess": login_guess, "sip-guess": sip_guess,
     "tcp-flood": tcp_flood}[args.attack](args)


if __name__ == "__main__":
    sys.exit(main())
