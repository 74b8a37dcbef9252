"""Shared machinery for the interop tests: a peer process driven over the
JSON line protocol (docs/interop.md), a scenario registry and a runner that
prints `N passed, M failed`. Standard library only."""

import argparse
import base64
import json
import os
import random
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback

READ_TIMEOUT = float(os.environ.get("INTEROP_READ_TIMEOUT", "60"))


class Failure(Exception):
    pass


def b64(data):
    return base64.b64encode(data).decode("ascii")


def unb64(text):
    return base64.b64decode(text.encode("ascii"), validate=True)


def check(cond, what):
    if not cond:
        raise Failure(what)


def check_eq(got, want, what):
    if got != want:
        raise Failure("%s: got %r, want %r" % (what, got, want))


class Peer:
    """One peer program (parley-peer, lsc-peer or node-peer) as a child
    process. Every read has a timeout; a dead or silent peer fails the test."""

    def __init__(self, kind, argv, label, store=None):
        self.kind = kind
        self.argv = list(argv)
        self.label = label
        self.store = store
        self.proc = None
        self.buf = b""
        self.name = None
        self.device = None
        self.identity_key = None
        self.stderr_path = None
        self.start()

    def start(self):
        argv = list(self.argv)
        if self.store is not None:
            argv += ["--store", self.store]
        fd, self.stderr_path = tempfile.mkstemp(prefix="interop-%s-" % self.label, suffix=".log")
        self.stderr = os.fdopen(fd, "wb")
        try:
            self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=self.stderr)
        except OSError as e:
            raise Failure("cannot start %s (%s): %s" % (self.label, " ".join(argv), e))
        self.buf = b""

    def stderr_tail(self):
        try:
            with open(self.stderr_path, "rb") as f:
                return f.read()[-2000:].decode("utf-8", "replace")
        except OSError:
            return ""

    def _readline(self):
        deadline = time.monotonic() + READ_TIMEOUT
        fd = self.proc.stdout.fileno()
        sel = selectors.DefaultSelector()
        sel.register(fd, selectors.EVENT_READ)
        try:
            while b"\n" not in self.buf:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise Failure("%s: no answer within %.0fs" % (self.label, READ_TIMEOUT))
                if not sel.select(left):
                    continue
                chunk = os.read(fd, 1 << 20)
                if not chunk:
                    rc = self.proc.poll()
                    raise Failure("%s: exited (status %r) before answering; stderr:\n%s"
                                  % (self.label, rc, self.stderr_tail()))
                self.buf += chunk
        finally:
            sel.close()
        line, self.buf = self.buf.split(b"\n", 1)
        return line

    def raw(self, line):
        """Send one raw line, return the parsed answer."""
        try:
            self.proc.stdin.write(line + b"\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            raise Failure("%s: died; stderr:\n%s" % (self.label, self.stderr_tail()))
        answer = self._readline()
        try:
            obj = json.loads(answer)
        except ValueError:
            raise Failure("%s: answer is not JSON: %r" % (self.label, answer[:200]))
        check(isinstance(obj, dict) and isinstance(obj.get("ok"), bool),
              "%s: answer without a boolean ok: %r" % (self.label, answer[:200]))
        return obj

    def call(self, op, **fields):
        req = {"op": op}
        req.update(fields)
        return self.raw(json.dumps(req).encode())

    def ok(self, op, **fields):
        r = self.call(op, **fields)
        if not r["ok"]:
            raise Failure("%s: %s failed: %r" % (self.label, op, r.get("error")))
        return r

    def err(self, op, want, **fields):
        r = self.call(op, **fields)
        if r["ok"] or r.get("error") != want:
            raise Failure("%s: %s: want error %r, got %r" % (self.label, op, want, r))
        return r

    # --- protocol helpers ---
    def init(self, name, device=1):
        r = self.ok("init", name=name, device=device)
        self.name, self.device = name, device
        self.identity_key = unb64(r["identity_key"])
        check(isinstance(r.get("registration_id"), int), "%s: init without registration_id" % self.label)
        self.registration_id = r["registration_id"]
        return r

    def bundle(self, one_time=True):
        return self.ok("bundle", one_time=one_time)["bundle"]

    def start_session(self, other, bundle):
        return self.ok("start", peer=other.name, device=other.device, bundle=bundle)

    def encrypt(self, other, plaintext):
        r = self.ok("encrypt", peer=other.name, device=other.device, plaintext=b64(plaintext))
        check(r.get("type") in ("pkmsg", "msg"), "%s: encrypt type %r" % (self.label, r.get("type")))
        return (r["type"], unb64(r["ciphertext"]))

    def decrypt(self, other, msg):
        t, ct = msg
        r = self.call("decrypt", peer=other.name, device=other.device, type=t, ciphertext=b64(ct))
        return r

    def decrypt_ok(self, other, msg, want):
        r = self.decrypt(other, msg)
        if not r["ok"]:
            raise Failure("%s: decrypt of a %s from %s failed: %r"
                          % (self.label, msg[0], other.label, r.get("error")))
        check_eq(unb64(r["plaintext"]), want, "%s: plaintext" % self.label)

    def decrypt_err(self, other, msg, want):
        r = self.decrypt(other, msg)
        if r["ok"] or r.get("error") != want:
            raise Failure("%s: decrypt of a tampered/replayed %s: want error %r, got %r"
                          % (self.label, msg[0], want, r))

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=30)
        self.stderr.close()

    def restart(self):
        self.start()

    def close(self):
        """Close stdin and expect a clean exit (a sanitizer report fails)."""
        if self.proc is None:
            return
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            rc = self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            self.stderr.close()
            raise Failure("%s: did not exit after stdin closed" % self.label)
        self.stderr.close()
        self.proc = None
        if rc != 0:
            raise Failure("%s: exit status %d; stderr:\n%s" % (self.label, rc, self.stderr_tail()))


class Context:
    """What a scenario gets: factories for the two sides and a temp dir."""

    def __init__(self, impls, first, second, seed, tmpdir):
        self.impls = impls
        self.first = first     # kind of the initiating side
        self.second = second   # kind of the responding side
        self.rng = random.Random(seed)
        self.seed = seed
        self.tmpdir = tmpdir
        self.peers = []
        self.count = 0

    def peer(self, kind, label=None, store=False):
        self.count += 1
        label = label or "%s#%d" % (kind, self.count)
        path = None
        if store:
            path = os.path.join(self.tmpdir, "store-%s-%d" % (kind, self.count))
        p = Peer(kind, self.impls[kind], label, store=path)
        self.peers.append(p)
        return p

    def a(self, name="alice", device=1, store=False):
        p = self.peer(self.first, "%s(%s)" % (name, self.first), store)
        p.init(name, device)
        return p

    def b(self, name="bob", device=1, store=False):
        p = self.peer(self.second, "%s(%s)" % (name, self.second), store)
        p.init(name, device)
        return p

    def close(self, failed):
        errors = []
        for p in self.peers:
            try:
                if failed:
                    p.kill()
                else:
                    p.close()
            except Failure as e:
                errors.append(str(e))
        if errors:
            raise Failure("; ".join(errors))


SCENARIOS = []


def scenario(fn):
    SCENARIOS.append(fn)
    return fn


def main(description, program_kinds, default_pairs):
    ap = argparse.ArgumentParser(description=description)
    for k in program_kinds:
        if k == "node":
            ap.add_argument("--node", help="node executable")
            ap.add_argument("--node-dir", help="tests/interop/node")
        else:
            ap.add_argument("--" + k, help="path of the %s peer program" % k)
    ap.add_argument("--pairs", default=default_pairs,
                    help="comma-separated initiator:responder kinds, e.g. parley:lsc,lsc:parley")
    ap.add_argument("--only", action="append", help="run only this scenario (repeatable)")
    ap.add_argument("--seed", type=int, help="seed for the random scenarios")
    ap.add_argument("--list", action="store_true", help="list the scenarios")
    args = ap.parse_args()

    if args.list:
        for fn in SCENARIOS:
            print(fn.__name__)
        return 0

    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1 << 32)
    print("seed %d (rerun with --seed %d)" % (seed, seed))
    pairs = [tuple(p.split(":")) for p in args.pairs.split(",") if p]

    impls = {}
    missing = []
    for a, b in pairs:
        for kind in (a, b):
            if kind in impls:
                continue
            if kind == "node":
                node = args.node or "node"
                script = os.path.join(args.node_dir or "", "peer.js")
                if shutil.which(node) is None:
                    missing.append("node executable %r" % node)
                elif not os.path.isfile(script):
                    missing.append("node peer %s" % script)
                elif not os.path.isdir(os.path.join(args.node_dir, "node_modules", "@signalapp",
                                                    "libsignal-client")):
                    missing.append("node modules in %s (run `make deps`)" % args.node_dir)
                impls[kind] = [node, script]
            else:
                path = getattr(args, kind, None)
                if not path or not os.access(path, os.X_OK):
                    missing.append("%s peer program %r" % (kind, path))
                impls[kind] = [path]
    if missing:
        for m in missing:
            print("FAIL: missing %s" % m)
        print("0 passed, %d failed" % len(missing))
        return 1

    selected = [fn for fn in SCENARIOS if not args.only or fn.__name__ in args.only]
    if args.only and len(selected) != len(args.only):
        print("FAIL: unknown scenario in %r" % args.only)
        return 1
    passed = failed = 0
    for first, second in pairs:
        for i, fn in enumerate(selected):
            name = "%s[%s->%s]" % (fn.__name__, first, second)
            tmp = tempfile.mkdtemp(prefix="interop-")
            ctx = Context(impls, first, second, seed + i, tmp)
            t0 = time.monotonic()
            ok = False
            try:
                fn(ctx)
                ok = True
            except Failure as e:
                print("FAIL %s: %s" % (name, e))
            except Exception:
                print("FAIL %s: exception\n%s" % (name, traceback.format_exc()))
            try:
                ctx.close(not ok)
            except Failure as e:
                if ok:
                    print("FAIL %s: %s" % (name, e))
                    ok = False
            shutil.rmtree(tmp, ignore_errors=True)
            if ok:
                passed += 1
                print("ok   %s (%.1fs)" % (name, time.monotonic() - t0))
            else:
                failed += 1
            sys.stdout.flush()
    print("%d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


# --- protobuf, just enough to find and tamper with fields ---

def read_varint(data, pos):
    v = shift = 0
    while True:
        if pos >= len(data):
            raise ValueError("truncated varint")
        b = data[pos]
        pos += 1
        v |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return v, pos


def pb_fields(data):
    """[(field, wiretype, value_start, value_end)] of a protobuf message."""
    out = []
    pos = 0
    while pos < len(data):
        key, pos = read_varint(data, pos)
        field, wt = key >> 3, key & 7
        if wt == 0:
            start = pos
            _, pos = read_varint(data, pos)
        elif wt == 2:
            n, pos = read_varint(data, pos)
            start = pos
            pos += n
        elif wt == 1:
            start = pos
            pos += 8
        elif wt == 5:
            start = pos
            pos += 4
        else:
            raise ValueError("wire type %d" % wt)
        if pos > len(data):
            raise ValueError("truncated field")
        out.append((field, wt, start, pos))
    return out


def pb_field(data, number):
    for f, wt, s, e in pb_fields(data):
        if f == number:
            return s, e
    raise ValueError("no field %d" % number)


def flip(data, index, bit=0):
    b = bytearray(data)
    b[index] ^= 1 << bit
    return bytes(b)
