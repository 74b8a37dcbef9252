#!/usr/bin/env python3
"""Integration tests of the parley client against a real parleyd.

Each scenario starts parleyd on 127.0.0.1 (an ephemeral port, a temporary
directory), makes the root key, certificate and accounts with parleyctl and
drives real `parley` processes. Usage:

    test_client.py PARLEYD PARLEYCTL PARLEY SCENARIO

Every wait is bounded; nothing leaves loopback.
"""
import json
import sqlite3
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

FAILS = []
PASSES = [0]


def check(cond, what):
    if cond:
        PASSES[0] += 1
    else:
        FAILS.append(what)
        print("FAIL:", what, file=sys.stderr)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def port_open(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def wait_port(port, what, timeout=15):
    """Until 127.0.0.1:port takes a connection; RuntimeError after timeout."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if port_open(port):
            return
        time.sleep(0.05)
    raise RuntimeError(what + " did not start")


def stop_proc(p, timeout=10):
    """SIGTERM, then SIGKILL if it has not exited within timeout; its status."""
    if p is not None and p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    return None if p is None else p.returncode


def run_scenario(net, scenario, scan=None, tails=(), tail_bytes=6000):
    """Run scenario(net), then stop everything and report; the exit status.

    A crash of the harness is a failure too. Under sanitizers a report in
    any file below the net's directory whose name scan(name) accepts is a
    failure. When something failed, the ends of the logs named in tails are
    printed, and PARLEY_KEEP_TMP keeps the directory.
    """
    try:
        scenario(net)
    except Exception as e:
        FAILS.append("exception: %r" % e)
        import traceback
        traceback.print_exc()
    finally:
        for c in net.clients:
            c.kill_daemon()
        for dp, _, files in os.walk(net.dir) if scan else ():
            for f in files:
                if scan(f):
                    with open(os.path.join(dp, f), errors="replace") as fh:
                        data = fh.read()
                    check("AddressSanitizer" not in data and "runtime error:" not in data
                          and "LeakSanitizer" not in data, "no sanitizer report in " + f)
        for name in tails if FAILS else ():
            try:
                with open(os.path.join(net.dir, name)) as f:
                    sys.stderr.write(f.read()[-tail_bytes:])
            except OSError:
                pass
        net.close(keep=bool(FAILS) and os.environ.get("PARLEY_KEEP_TMP"))
    print("%d passed, %d failed" % (PASSES[0], len(FAILS)))
    return 1 if FAILS else 0


class Net:
    def __init__(self, parleyd, parleyctl, parley):
        self.parleyd, self.parleyctl, self.parley = parleyd, parleyctl, parley
        self.dir = tempfile.mkdtemp(prefix="parley-client-it-")
        self.db = os.path.join(self.dir, "srv.db")
        out = self.ctl("root-key", os.path.join(self.dir, "root.key"))
        self.root = [l.split(":")[1].strip() for l in out.splitlines() if "root public key" in l][0]
        self.ctl("cert", "issue", "--root", os.path.join(self.dir, "root.key"),
                 "--key", os.path.join(self.dir, "server.key"),
                 "--out", os.path.join(self.dir, "server.cert"))
        self.proc = None
        self.start()
        self.clients = []

    def ctl(self, *args):
        r = subprocess.run([self.parleyctl, "--db", self.db] + list(args), capture_output=True,
                           text=True, timeout=30)
        if r.returncode != 0:
            raise RuntimeError("parleyctl %s: %s" % (args, r.stderr))
        return r.stdout + r.stderr

    def server_args(self):
        """Flags put in front of parleyd's own (a subclass's -c FILE)."""
        return []

    def start(self):
        self.port = free_port()
        self.server = "127.0.0.1:%d" % self.port
        self.log = open(os.path.join(self.dir, "parleyd.log"), "a")
        self.proc = subprocess.Popen(
            [self.parleyd] + self.server_args() + ["--listen", self.server, "--db", self.db,
             "--key", os.path.join(self.dir, "server.key"),
             "--cert", os.path.join(self.dir, "server.cert"), "-v"],
            stdout=self.log, stderr=self.log)
        wait_port(self.port, "parleyd")

    def stop(self):
        if self.proc:
            stop_proc(self.proc)
            self.proc = None
            self.log.close()

    def user(self, name):
        return self.ctl("user", "add", name).strip().splitlines()[-1].strip()

    def client(self, account, label):
        c = Client(self, account, os.path.join(self.dir, label))
        self.clients.append(c)
        return c

    def close(self, keep=False):
        for c in self.clients:
            c.kill_daemon()
        self.stop()
        if not keep:
            shutil.rmtree(self.dir, ignore_errors=True)


class Client:
    def __init__(self, net, account, path):
        self.net, self.account, self.path = net, account, path
        self.daemon = None
        self.errlog = os.path.join(net.dir, os.path.basename(path) + ".stderr")

    def run(self, *args, stdin=None, timeout=45, env=None):
        cmd = [self.net.parley, "-a", self.account, "--config", self.path, "-v"] + list(args)
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, input=stdin,
                           env=env)
        with open(self.errlog, "a") as f:
            f.write(r.stderr)
        return r.returncode, r.stdout, r.stderr

    def register(self, code, prekeys=None):
        extra = ["--prekeys", str(prekeys)] if prekeys is not None else []
        return self.run("register", "--server", self.net.server, "--root-key", self.net.root,
                        "--code", code, *extra)[0]

    def link_from(self, existing):
        rc, out, _ = existing.run("link-code")
        code = out.splitlines()[0].strip() if rc == 0 and out else ""
        return self.run("link", "--server", self.net.server, "--root-key", self.net.root,
                        "--code", code)[0]

    def send(self, text, *to):
        rc, out, _ = self.run("send", "-m", text, *to)
        ids = [l.split()[1] for l in out.splitlines() if len(l.split()) == 2]
        return rc, ids

    def receive(self, timeout=1):
        rc, out, _ = self.run("receive", "--timeout", str(timeout), "--json")
        evs = [json.loads(l) for l in out.splitlines() if l.startswith("{")]
        return rc, evs

    def start_daemon(self):
        self.dout = open(self.errlog + ".daemon.out", "w")
        self.daemon = subprocess.Popen(
            [self.net.parley, "-a", self.account, "--config", self.path, "-v", "daemon", "--json"],
            stdout=self.dout, stderr=open(self.errlog + ".daemon", "a"))

    def daemon_events(self):
        if not self.dout.closed:
            self.dout.flush()
        with open(self.errlog + ".daemon.out") as f:
            return [json.loads(l) for l in f if l.startswith("{")]

    def kill_daemon(self, sig=signal.SIGTERM):
        if self.daemon:
            self.daemon.send_signal(sig)
            try:
                self.daemon.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.daemon.kill()
                self.daemon.wait()
            self.daemon = None
            self.dout.close()


def texts(evs, kind="message"):
    return [e.get("text") for e in evs if e.get("event") == kind]


def wait_for(pred, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return True
        time.sleep(0.1)
    return False


def grep_tree(root, needles):
    """Files under root containing any needle (bytes), as (path, needle)."""
    hits = []
    for dp, _, files in os.walk(root):
        for f in files:
            p = os.path.join(dp, f)
            try:
                data = open(p, "rb").read()
            except OSError:
                continue
            if f.endswith(".daemon.out"):
                continue  # the program's own output, where bodies belong
            for n in needles:
                if n.encode() in data:
                    hits.append((p, n))
    return hits


# ---- scenarios ----

def two_users(net, devices=2):
    """alice and bob, each with `devices` devices, primaries signed up."""
    a = [net.client("alice@gk.example", "a1")]
    b = [net.client("bob@gk.example", "b1")]
    check(a[0].register(net.user("alice@gk.example")) == 0, "alice registers")
    check(b[0].register(net.user("bob@gk.example")) == 0, "bob registers")
    for i in range(2, devices + 1):
        a.append(net.client("alice@gk.example", "a%d" % i))
        b.append(net.client("bob@gk.example", "b%d" % i))
        check(a[-1].link_from(a[0]) == 0, "alice links device %d" % i)
        check(b[-1].link_from(b[0]) == 0, "bob links device %d" % i)
    # the primaries sign the new lists when they next connect
    a[0].receive(0.3)
    b[0].receive(0.3)
    return a, b


def scenario_fanout(net):
    a, b = two_users(net)
    rc, out, _ = a[0].run("devices")
    check(rc == 0 and out.count("signed") == 2 and "unsigned" not in out, "alice's two devices signed: " + out)
    # a1 -> bob: both of bob's devices and alice's own second device, all offline
    rc, ids = a[0].send("fanout secret one", "bob@gk.example")
    check(rc == 0 and len(ids) == 1, "a1 sends")
    for d in b:
        rc, evs = d.receive()
        check(rc == 0 and texts(evs) == ["fanout secret one"], "bob device gets it: %s" % evs)
        check([e["from"] for e in evs if e["event"] == "message"] == ["alice@gk.example/1"], "from a1")
    rc, evs = a[1].receive()
    check(texts(evs, "sent") == ["fanout secret one"], "own-device copy on a2: %s" % evs)
    check([e.get("peer") for e in evs if e["event"] == "sent"] == ["bob@gk.example"], "copy names bob")
    # delivery receipts from both of bob's devices reach a1
    rc, evs = a[0].receive()
    froms = sorted(e["from"] for e in evs if e["event"] == "receipt" and e.get("id") == ids[0])
    check(froms == ["bob@gk.example/1", "bob@gk.example/2"], "receipts from both bob devices: %s" % evs)
    # a reply from b2 reaches a1, a2 and b1 (own copy)
    rc, ids2 = b[1].send("fanout secret two", "alice@gk.example")
    check(rc == 0, "b2 replies")
    for d in a:
        rc, evs = d.receive()
        check(texts(evs) == ["fanout secret two"], "alice device gets reply: %s" % evs)
    rc, evs = b[0].receive()
    check(texts(evs, "sent") == ["fanout secret two"], "b1 gets b2's copy: %s" % evs)
    # nothing is delivered twice
    for d in a + b:
        rc, evs = d.receive(0.5)
        check(texts(evs) == [] and texts(evs, "sent") == [], "no redelivery: %s" % evs)
    # removal: a1 removes a2; bob's next message reaches a1 only; a2 is refused
    rc, out, _ = a[0].run("remove-device", "2")
    check(rc == 0, "a1 removes a2")
    rc, out, _ = a[0].run("devices")
    check("2 identity" not in out, "a2 gone from the list: " + out)
    rc, _ = b[0].send("after removal secret", "alice@gk.example")
    check(rc == 0, "bob sends after the removal (stale device corrected)")
    rc, evs = a[0].receive()
    check(texts(evs) == ["after removal secret"], "a1 gets it")
    rc, evs = a[1].receive()
    check(rc == 3, "removed device is refused at login (exit 3), got %d" % rc)
    # the first login was XX, later ones resume with IK and the cached key
    with open(a[0].errlog) as f:
        log = f.read()
    check("(XX)" in log and "(IK)" in log, "XX first, IK afterwards")
    # contacts and safety numbers agree on both sides
    rc, out, _ = a[0].run("contacts")
    check(rc == 0 and "bob@gk.example" in out and "trusted" in out, "contacts: " + out)
    rc1, o1, _ = a[0].run("safety-number", "bob@gk.example")
    rc2, o2, _ = b[0].run("safety-number", "alice@gk.example")
    d1 = "".join(o1.splitlines()[:2]).replace(" ", "")
    d2 = "".join(o2.splitlines()[:2]).replace(" ", "")
    check(rc1 == 0 and rc2 == 0 and len(d1) == 60 and d1.isdigit() and d1 == d2,
          "safety numbers match: %r %r" % (d1, d2))
    check("\u2588" in o1 or "\u2580" in o1, "a QR code is drawn")


def scenario_stale(net):
    a, b = two_users(net, devices=1)
    rc, _ = a[0].send("first secret", "bob@gk.example")
    check(rc == 0, "first send")
    b[0].receive()
    # bob adds a device behind alice's back; alice's cached list is stale
    b2 = net.client("bob@gk.example", "b2")
    check(b2.link_from(b[0]) == 0, "bob links b2")
    b[0].receive(0.3)
    rc, ids = a[0].send("second secret", "bob@gk.example")
    check(rc == 0, "send after the silent link")
    with open(a[0].errlog) as f:
        log = f.read()
    check("device list changed, retrying" in log, "the server refused the stale list (409) first")
    rc, evs = b2.receive()
    check(texts(evs) == ["second secret"], "the new device gets it: %s" % evs)
    rc, evs = b[0].receive()
    check(texts(evs) == ["second secret"], "b1 too: %s" % evs)
    # a device linked but not yet signed by the primary is refused, not addressed
    b3 = net.client("bob@gk.example", "b3")
    check(b3.link_from(b2) == 0, "bob links b3 (primary offline)")
    rc, _ = a[0].send("unsigned secret", "bob@gk.example")
    check(rc == 3, "sending to an account with an unsigned device is refused (exit 3), got %d" % rc)
    b[0].receive(0.3)  # the primary signs b3
    rc, _ = a[0].send("signed secret", "bob@gk.example")
    check(rc == 0, "after the primary signed, sending works")
    rc, evs = b3.receive()
    check(texts(evs) == ["signed secret"], "b3 gets it: %s" % evs)


def scenario_prekeys(net):
    bob = net.client("bob@gk.example", "b1")
    check(bob.register(net.user("bob@gk.example"), prekeys=2) == 0, "bob registers with 2 prekeys")
    senders = []
    for i in range(4):
        s = net.client("s%d@gk.example" % i, "s%d" % i)
        check(s.register(net.user("s%d@gk.example" % i)) == 0, "sender %d registers" % i)
        senders.append(s)
    for i, s in enumerate(senders):
        rc, _ = s.send("prekey secret %d" % i, "bob@gk.example")
        check(rc == 0, "sender %d sends (one-time prekeys, then the signed prekey)" % i)
    rc, evs = bob.receive()
    got = sorted(texts(evs))
    check(got == ["prekey secret %d" % i for i in range(4)], "bob decrypts all four: %s" % got)
    # none left: the server says so at login and bob uploads a new batch
    check(any(e["event"] == "prekeys" for e in evs), "bob topped up his prekeys: %s" % evs)
    # online: the next senders get one-time prekeys again, pushed at once
    bob.start_daemon()
    check(wait_for(lambda: any(e["event"] == "connected" for e in bob.daemon_events())), "daemon connects")
    s = net.client("late@gk.example", "late")
    check(s.register(net.user("late@gk.example")) == 0, "late sender registers")
    rc, _ = s.send("late secret", "bob@gk.example")
    check(rc == 0, "late send")
    check(wait_for(lambda: "late secret" in texts(bob.daemon_events())), "daemon prints the message")
    bob.kill_daemon()
    s2 = net.client("later@gk.example", "later")
    check(s2.register(net.user("later@gk.example")) == 0, "another sender")
    rc, _ = s2.send("after topup secret", "bob@gk.example")
    rc, evs = bob.receive()
    check(texts(evs) == ["after topup secret"], "works after the top-up: %s" % evs)
    # a week-old signed prekey is rotated at the next connection; new
    # sessions then start from the new one
    db = sqlite3.connect(os.path.join(bob.path, "parley.db"))
    db.execute("UPDATE config SET v=x'00000000' WHERE k='signed_t'")
    db.commit()
    db.close()
    rc, evs = bob.receive(0.3)
    with open(bob.errlog) as f:
        check("rotated the signed prekey to id 2" in f.read(), "signed prekey rotated")
    s3 = net.client("rot@gk.example", "rot")
    check(s3.register(net.user("rot@gk.example")) == 0, "one more sender")
    rc, _ = s3.send("after rotation secret", "bob@gk.example")
    rc, evs = bob.receive()
    check(texts(evs) == ["after rotation secret"], "works after the rotation: %s" % evs)


def scenario_identity(net):
    a, b = two_users(net, devices=2)
    rc, _ = a[0].send("before secret", "bob@gk.example")
    check(rc == 0, "send before the change")
    b[0].receive()
    b[1].receive()
    # bob's identity changes the real way: his primary removes itself, which
    # takes his linked device along, and he registers again with a new code
    # from the operator; the new primary is device 1 again, with a new key.
    rc, out, err = b[0].run("remove-device", "1")
    check(rc == 0, "bob removes his primary: %r" % err)
    devs = net.ctl("device", "list", "bob@gk.example")
    check(devs.strip() == "", "no device of bob is left: %r" % devs)
    rc, evs = b[1].receive(0.5)
    check(rc == 3, "the linked device went with the primary (exit 3), got %d" % rc)
    code = net.ctl("user", "code", "bob@gk.example").strip().splitlines()[-1].strip()
    nb = net.client("bob@gk.example", "b-new")
    check(nb.register(code) == 0, "bob registers again")
    devs = net.ctl("device", "list", "bob@gk.example")
    check(devs.startswith("bob@gk.example/1 (primary)") and len(devs.strip().splitlines()) == 1,
          "the new registration is the primary, device 1: %r" % devs)
    rc, _ = a[0].send("blocked secret", "bob@gk.example")
    check(rc == 4, "send blocked by the changed identity (exit 4), got %d" % rc)
    rc, out, _ = a[0].run("contacts")
    check("CHANGED" in out, "contacts shows the change: " + out)
    rc, out, _ = a[0].run("verify", "bob@gk.example", stdin="no\n")
    check(rc == 4, "verify without confirmation refuses")
    rc, _ = a[0].send("still blocked secret", "bob@gk.example")
    check(rc == 4, "still blocked")
    rc, out, _ = a[0].run("verify", "bob@gk.example", stdin="YES\n")
    check(rc == 0 and "CHANGED" in out, "verify shows the new number and accepts: " + out)
    rc, _ = a[0].send("after verify secret", "bob@gk.example")
    check(rc == 0, "send works after verify")
    rc, evs = nb.receive()
    check(texts(evs) == ["after verify secret"], "new bob device decrypts: %s" % evs)
    rc, out, _ = a[0].run("contacts")
    check("verified" in out, "contact verified: " + out)
    # and the new primary links a device of its own, which gets messages too
    nb2 = net.client("bob@gk.example", "b-new2")
    check(nb2.link_from(nb) == 0, "the new primary links a device")
    nb.receive(0.3)
    rc, _ = a[0].send("to both new devices secret", "bob@gk.example")
    check(rc == 0, "alice sends to bob's new devices")
    for d in (nb, nb2):
        rc, evs = d.receive()
        check(texts(evs) == ["to both new devices secret"], "new bob device gets it: %s" % evs)


def scenario_crash(net):
    a, b = two_users(net, devices=1)
    n = 30
    sent = []
    for i in range(n):
        rc, ids = a[0].send("crash secret %d" % i, "bob@gk.example")
        check(rc == 0, "send %d" % i)
        sent.append("crash secret %d" % i)
    # bob receives and is killed with SIGKILL in the middle
    b[0].start_daemon()
    wait_for(lambda: len(texts(b[0].daemon_events())) >= 5, timeout=20)
    b[0].kill_daemon(signal.SIGKILL)
    with open(b[0].errlog + ".daemon.out") as f:
        first = [json.loads(l).get("text") for l in f if l.startswith("{") and '"message"' in l]
    rc, evs = b[0].receive(2)
    second = texts(evs)
    allgot = first + second
    check(sorted(set(allgot)) == sorted(sent), "every message arrives after the kill: %d of %d" %
          (len(set(allgot)), n))
    check(len(allgot) - len(set(allgot)) <= 1, "at most the one in flight shown twice")
    rc, evs = b[0].receive(0.5)
    check(texts(evs) == [], "nothing more after that")
    # the server killed during a burst of sends: the client re-sends
    net.proc.send_signal(signal.SIGKILL)
    net.proc.wait()
    net.proc = None
    net.log.close()
    rc, _ = a[0].send("while down secret", "bob@gk.example")
    check(rc == 2, "network error while the server is down (exit 2), got %d" % rc)
    net.log = open(os.path.join(net.dir, "parleyd.log"), "a")
    net.proc = subprocess.Popen(
        [net.parleyd, "--listen", net.server, "--db", net.db,
         "--key", os.path.join(net.dir, "server.key"),
         "--cert", os.path.join(net.dir, "server.cert"), "-v"], stdout=net.log, stderr=net.log)
    check(wait_for(lambda: port_open(net.port), timeout=15), "server back on the same port")
    # the sender dies between the durable commit and the send: the next
    # run re-sends the same bytes under the same id, delivered once
    env = dict(os.environ, PARLEY_FAULT="after-commit")
    r = subprocess.run([net.parley, "-a", a[0].account, "--config", a[0].path, "send", "-m",
                        "after commit secret", "bob@gk.example"], env=env, capture_output=True, timeout=30)
    check(r.returncode == -signal.SIGKILL, "the sender was killed after the commit")
    rc, evs = b[0].receive(0.5)
    check(texts(evs) == [], "nothing reached bob yet: %s" % evs)
    rc, evs = a[0].receive(1)  # re-sends from the outbox
    rc, evs = b[0].receive(1)
    check(texts(evs) == ["after commit secret"], "the queued message arrives once: %s" % evs)
    rc, evs = b[0].receive(0.5)
    check(texts(evs) == [], "and only once: %s" % evs)
    sent.append("after commit secret")
    # a connected daemon survives a server crash: it reconnects with
    # backoff and receives what was sent meanwhile
    b[0].start_daemon()
    check(wait_for(lambda: any(e["event"] == "connected" for e in b[0].daemon_events())), "daemon up")
    net.proc.send_signal(signal.SIGKILL)
    net.proc.wait()
    net.log.close()
    check(wait_for(lambda: any(e["event"] == "disconnected" for e in b[0].daemon_events())),
          "daemon notices the crash")
    net.log = open(os.path.join(net.dir, "parleyd.log"), "a")
    net.proc = subprocess.Popen(
        [net.parleyd, "--listen", net.server, "--db", net.db,
         "--key", os.path.join(net.dir, "server.key"),
         "--cert", os.path.join(net.dir, "server.cert"), "-v"], stdout=net.log, stderr=net.log)
    check(wait_for(lambda: port_open(net.port), timeout=15), "server back again")
    rc, _ = a[0].send("reconnect secret", "bob@gk.example")
    check(rc == 0, "send after the restart")
    check(wait_for(lambda: "reconnect secret" in texts(b[0].daemon_events()), timeout=30),
          "the daemon reconnected and got it")
    b[0].kill_daemon()
    sent.append("reconnect secret")
    # no plaintext body in any database, WAL or log of the run
    hits = grep_tree(net.dir, sent + ["while down secret"])
    check(any(f.endswith(".db") for _, _, fs in os.walk(net.dir) for f in fs), "the databases were searched")
    check(hits == [], "no plaintext on disk: %s" % hits[:5])


def scenario_diskfull(net):
    """bob's own store is full while a message comes in: nothing is shown,
    the copy stays on the server unacknowledged, and it arrives once, at
    the next run, when the store has room again."""
    a, b = two_users(net, devices=1)
    rc, _ = a[0].send("full disk secret", "bob@gk.example")
    check(rc == 0, "alice sends")
    rc, out, err = b[0].run("receive", "--timeout", "2", "--json",
                            env=dict(os.environ, PARLEY_FAULT="store-full"))
    evs = [json.loads(l) for l in out.splitlines() if l.startswith("{")]
    check(texts(evs) == [], "nothing shown while the store is full: %s" % evs)
    check(any(e.get("event") == "error" and "store_disk_full" in e.get("detail", "")
              for e in evs), "the full store is reported: %s" % evs)
    check("left on the server" in err, "the log says the copy stays on the server")
    check(rc != 0, "receive exits with an error, got %d" % rc)
    rc, evs = b[0].receive(2)
    check(texts(evs) == ["full disk secret"], "it arrives once there is room: %s" % evs)
    rc, evs = b[0].receive(0.5)
    check(texts(evs) == [], "and only once: %s" % evs)


def scenario_cli(net):
    c = net.client("carol@gk.example", "c1")
    rc, _, _ = c.run("send", "-m", "x", "bob@gk.example")
    check(rc == 6, "not registered: exit 6, got %d" % rc)
    rc = subprocess.run([net.parley], capture_output=True).returncode
    check(rc == 1, "no command: exit 1")
    rc = subprocess.run([net.parley, "-a", "carol@gk.example", "frobnicate"], capture_output=True).returncode
    check(rc == 1, "unknown command: exit 1")
    rc = subprocess.run([net.parley, "send", "-m", "x", "y@z"], capture_output=True).returncode
    check(rc == 1, "no account: exit 1")
    for cmd in ["register", "link", "link-code", "send", "receive", "daemon", "devices",
                "remove-device", "contacts", "safety-number", "verify"]:
        r = subprocess.run([net.parley, cmd, "--help"], capture_output=True, text=True)
        check(r.returncode == 0 and r.stdout.startswith("usage: parley"), "%s --help" % cmd)
    rc = c.register("WRONG-CODE")
    check(rc == 3, "a wrong code is refused: exit 3, got %d" % rc)
    rc = c.run("register", "--server", net.server, "--root-key", "AAAA", "--code", "x")[0]
    check(rc == 1, "a malformed root key: exit 1")
    other = Client(net, "dave@gk.example", os.path.join(net.dir, "d1"))
    rc = other.run("register", "--server", "127.0.0.1:1", "--root-key", net.root, "--code", "x")[0]
    check(rc == 2, "no server: exit 2, got %d" % rc)
    # a pinned root key that does not match the server's certificate
    wrong = "11" * 32
    rc = c.run("register", "--server", net.server, "--root-key", wrong, "--code", net.user("carol@gk.example"))[0]
    check(rc == 2, "a server certified by another root is refused: exit 2, got %d" % rc)
    # files are private
    st = os.stat(os.path.join(net.dir, "c1", "parley.db"))
    check((st.st_mode & 0o777) == 0o600, "database mode 0600")
    st = os.stat(os.path.join(net.dir, "c1"))
    check((st.st_mode & 0o777) == 0o700, "data directory mode 0700")


SCENARIOS = {
    "fanout": scenario_fanout,
    "stale": scenario_stale,
    "prekeys": scenario_prekeys,
    "identity": scenario_identity,
    "crash": scenario_crash,
    "cli": scenario_cli,
    "diskfull": scenario_diskfull,
}


def main():
    if len(sys.argv) != 5 or sys.argv[4] not in SCENARIOS:
        print(__doc__, file=sys.stderr)
        return 2
    net = Net(sys.argv[1], sys.argv[2], sys.argv[3])
    return run_scenario(net, SCENARIOS[sys.argv[4]],
                        scan=lambda f: ".stderr" in f or f == "parleyd.log")


if __name__ == "__main__":
    sys.exit(main())
