#!/usr/bin/env python3
"""make demo: a gatekeeper network and a third-party provider on this machine.

A parleyd gatekeeper on the embedded store (SQLite) on a free port of
127.0.0.1, in a temporary directory; its root key, server certificate and
accounts made with parleyctl; `parley` clients registering, linking a second
device, talking end to end with fan-out to every device, receiving what was
queued while they were away, and comparing safety numbers. Then the
interoperability story on the same gatekeeper: the operator records a
third-party provider, the provider's `parley-provider` starts, one of its
users registers through it, is refused until a gatekeeper user opts in,
arrives as a message request, chats in both directions, and is cut off
while the operator suspends the provider, and back after it is resumed.

    demo_network.py BUILD_DIR
    demo_network.py --parleyd P --parleyctl P --parley P --parley-provider P [--keep]

Every step checks what it shows; the first thing that does not happen as
expected stops the demo with a non-zero exit. Whatever the demo started is
stopped and its directory removed on every exit path (--keep leaves the
directory for inspection). Nothing leaves loopback and every wait is bounded.

The demo is a list of steps (STEPS at the bottom): each is a function of the
shared Demo state, printed under its own heading. A new step is a function
appended to that list.
"""
import argparse
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time

DOMAIN = "gk.example"
ALICE = "alice@" + DOMAIN
BOB = "bob@" + DOMAIN
PROVIDER = "birdy"                    # the third-party provider's id
PROVIDER_NAME = "Birdy Messenger"
PROVIDER_DOMAIN = "birdy.example"
CAROL = "carol@" + PROVIDER_DOMAIN    # a Birdy user
CAROL_PASSWORD = "carol-birdy-pw-7"   # her password with Birdy, never the gatekeeper's
GK_KEY_ID = "gk-1"                    # the id of the gatekeeper's request signing key


class DemoFailed(Exception):
    """Something the demo shows did not happen."""


# ---- output ----

def heading(n, total, title):
    print()
    print("== %d/%d  %s" % (n, total, title))


def say(text):
    print("   " + text)


def shows(who, text):
    """What one device printed or received, in a column per device."""
    print("   %-14s| %s" % (who, text))


def expect(cond, what):
    if not cond:
        raise DemoFailed(what)


# ---- processes ----

def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_for(pred, timeout=20.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return True
        time.sleep(0.1)
    return pred()


class Device:
    """One installation of the parley client: an account and a data directory."""

    def __init__(self, demo, account, label):
        self.demo, self.account, self.label = demo, account, label
        self.path = os.path.join(demo.dir, "clients", label)
        self.log = os.path.join(demo.dir, "logs", label + ".log")
        self.daemon = None
        self.daemon_out = os.path.join(demo.dir, "logs", label + ".daemon.jsonl")
        self.number = None

    @property
    def name(self):
        """How the narrative names this device: alice/1 (phone)."""
        return "%s/%s" % (self.account.split("@")[0], self.number or "?")

    def attempt(self, *args, stdin=None, timeout=45):
        """Run `parley ARGS`: exit status, standard output, standard error."""
        cmd = [self.demo.parley, "-a", self.account, "--config", self.path, "-v"] + list(args)
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, input=stdin)
        with open(self.log, "a") as f:
            f.write("$ %s\n%s" % (" ".join(cmd), r.stderr))
        return r.returncode, r.stdout, r.stderr

    def run(self, *args, stdin=None, timeout=45):
        rc, out, _ = self.attempt(*args, stdin=stdin, timeout=timeout)
        return rc, out

    def must(self, *args, **kw):
        rc, out = self.run(*args, **kw)
        expect(rc == 0, "%s: `parley %s` exited %d" % (self.label, " ".join(args), rc))
        return out

    def receive(self, timeout=1.5):
        """Connect, take everything queued, return the events."""
        out = self.must("receive", "--timeout", str(timeout), "--json")
        return [json.loads(l) for l in out.splitlines() if l.startswith("{")]

    def start_daemon(self):
        self.daemon_fh = open(self.daemon_out, "w")
        self.daemon = subprocess.Popen(
            [self.demo.parley, "-a", self.account, "--config", self.path, "-v", "daemon", "--json"],
            stdout=self.daemon_fh, stderr=open(self.log, "a"))
        expect(wait_for(lambda: any(e["event"] == "connected" for e in self.events())),
               "%s: the daemon did not connect" % self.label)

    def events(self):
        try:
            with open(self.daemon_out) as f:
                return [json.loads(l) for l in f if l.startswith("{")]
        except (OSError, ValueError):
            return []

    def stop_daemon(self):
        if self.daemon is None:
            return
        self.daemon.send_signal(signal.SIGTERM)
        try:
            self.daemon.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.daemon.kill()
            self.daemon.wait()
        self.daemon = None
        self.daemon_fh.close()


class Provider:
    """A third-party provider running the reference server, parley-provider."""

    def __init__(self, demo, pid, name, domain):
        self.demo, self.id, self.name, self.domain = demo, pid, name, domain
        self.dir = os.path.join(demo.dir, "provider-" + pid)
        os.makedirs(self.dir, mode=0o700)
        self.key = os.path.join(self.dir, "attestation.key")
        self.users = os.path.join(self.dir, "users")
        self.log = os.path.join(demo.dir, "logs", "provider-%s.log" % pid)
        # Its address is fixed before it starts: the operator records the
        # push and verification URLs in the agreement.
        self.url = "http://127.0.0.1:%d" % free_port()
        self.proc = None
        self.pub = None

    def tool(self, *args, stdin=None):
        r = subprocess.run([self.demo.provider_prog] + list(args), capture_output=True, text=True,
                           timeout=60, input=stdin)
        expect(r.returncode == 0, "`parley-provider %s` exited %d: %s" %
               (" ".join(args), r.returncode, r.stderr.strip()))
        return r.stdout

    def keygen(self):
        self.pub = self.tool("keygen", self.key).strip()
        expect(len(self.pub) >= 43, "parley-provider keygen printed no key: %r" % self.pub)

    def add_user(self, name, password):
        self.tool("passwd", self.users, name, stdin=password + "\n")

    def start(self):
        port = self.url.rsplit(":", 1)[1]
        self.fh = open(self.log, "a")
        self.proc = subprocess.Popen(
            [self.demo.provider_prog, "serve", "--id", self.id, "--domain", self.domain,
             "--listen", "127.0.0.1", "--port", port, "--key", self.key, "--users", self.users,
             "--gk-key", "%s:%s" % (GK_KEY_ID, self.demo.request_pub)],
            stdout=self.fh, stderr=self.fh)
        want = "listening on %s" % self.url

        def up():
            return self.proc.poll() is not None or want in open(self.log).read()
        expect(wait_for(up, 15) and self.proc.poll() is None,
               "parley-provider did not start on %s (log: %s)" % (self.url, self.log))

    def stop(self):
        if self.proc is None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None
        self.fh.close()


class Demo:
    """The state the steps share: the programs, the directory, the server, the devices."""

    def __init__(self, parleyd, parleyctl, parley, provider_prog, keep=False):
        self.parleyd, self.parleyctl, self.parley = parleyd, parleyctl, parley
        self.provider_prog = provider_prog
        self.keep = keep
        self.dir = tempfile.mkdtemp(prefix="parley-demo-")
        os.makedirs(os.path.join(self.dir, "clients"), mode=0o700)
        os.makedirs(os.path.join(self.dir, "logs"))
        self.db = os.path.join(self.dir, "gatekeeper.db")
        self.server_log = os.path.join(self.dir, "logs", "parleyd.log")
        self.server = None
        self.address = None
        self.root = None
        self.request_pub = None  # the gatekeeper's request signing key, for providers
        self.conf = os.path.join(self.dir, "parleyd.ini")
        self.providers = {}
        self.devices = {}
        self.codes = {}
        self.said = []  # every message text sent, to look for on disk

    def ctl(self, *args):
        r = subprocess.run([self.parleyctl, "--db", self.db] + list(args), capture_output=True,
                           text=True, timeout=30)
        expect(r.returncode == 0, "`parleyctl %s` exited %d: %s" % (" ".join(args), r.returncode,
                                                                   r.stderr.strip()))
        return r.stdout

    def start_server(self):
        port = free_port()
        self.address = "127.0.0.1:%d" % port
        self.server_fh = open(self.server_log, "a")
        self.server = subprocess.Popen(
            [self.parleyd, "-c", self.conf, "--listen", self.address, "--db", self.db,
             "--key", os.path.join(self.dir, "server.key"),
             "--cert", os.path.join(self.dir, "server.cert"), "-v"],
            stdout=self.server_fh, stderr=self.server_fh)

        def up():
            if self.server.poll() is not None:
                return True
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return True
            except OSError:
                return False
        expect(wait_for(up, 15) and self.server.poll() is None,
               "parleyd did not start (log: %s)" % self.server_log)

    def stop_server(self):
        if self.server is None:
            return
        self.server.send_signal(signal.SIGTERM)
        try:
            self.server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.server.kill()
            self.server.wait()
        self.server = None
        self.server_fh.close()

    def device(self, account, label):
        d = Device(self, account, label)
        self.devices[label] = d
        return d

    def server_log_has(self, text):
        try:
            with open(self.server_log, errors="replace") as f:
                return text in f.read()
        except OSError:
            return False

    def server_log_lines(self, pattern):
        with open(self.server_log, errors="replace") as f:
            return [l.rstrip() for l in f if re.search(pattern, l)]

    def gone(self, dev):
        """Wait until the gatekeeper has logged dev's device out (bounded)."""
        who = re.escape("%s/%s" % (dev.account, dev.number))

        def out():
            ins = len(self.server_log_lines(r"parleyd: login %s$" % who))
            outs = len(self.server_log_lines(r"parleyd: logout %s:" % who))
            return ins == outs
        expect(wait_for(out, 5), "the gatekeeper still has %s connected" % dev.label)

    def queued(self, where, *params):
        """How many ciphertexts the gatekeeper's queue holds WHERE ...."""
        con = sqlite3.connect("file:%s?mode=ro" % self.db, uri=True, timeout=5)
        try:
            return con.execute("SELECT count(*) FROM queue WHERE " + where, params).fetchone()[0]
        finally:
            con.close()

    def close(self, failed):
        for d in self.devices.values():
            d.stop_daemon()
        for p in self.providers.values():
            p.stop()
        self.stop_server()
        if failed:
            self.show_logs()
        if self.keep or (failed and os.environ.get("PARLEY_KEEP_TMP")):
            print("   (files kept in %s)" % self.dir)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)

    def show_logs(self, lines=8):
        """The end of every log, on stderr, before the directory goes."""
        logs = os.path.join(self.dir, "logs")
        for f in sorted(os.listdir(logs)) if os.path.isdir(logs) else []:
            with open(os.path.join(logs, f), errors="replace") as fh:
                tail = fh.read().splitlines()[-lines:]
            if tail:
                print("--- %s (last %d lines)" % (f, len(tail)), file=sys.stderr)
                for l in tail:
                    print("    " + l, file=sys.stderr)
        if not self.keep and not os.environ.get("PARLEY_KEEP_TMP"):
            print("(run with --keep or PARLEY_KEEP_TMP=1 to keep every file)", file=sys.stderr)


def messages(evs, kind="message"):
    return [(e.get("from"), e.get("text")) for e in evs if e.get("event") == kind]


def send(dev, text, to):
    out = dev.must("send", "-m", text, to)
    ids = [l.split()[1] for l in out.splitlines() if len(l.split()) == 2]
    expect(len(ids) == 1, "%s: send printed no message id: %r" % (dev.label, out))
    dev.demo.said.append(text)
    shows(dev.label, "sends to %s: \"%s\"  (id %s)" % (to, text, ids[0]))
    return ids[0]


# ---- steps ----

def step_gatekeeper(d):
    """The gatekeeper: root key, server certificate, parleyd."""
    out = d.ctl("root-key", os.path.join(d.dir, "root.key"))
    pubs = [l.split(":", 1)[1].strip() for l in out.splitlines() if "root public key" in l]
    expect(len(pubs) == 1 and len(pubs[0]) == 64, "parleyctl root-key printed no key: %r" % out)
    d.root = pubs[0]
    say("parleyctl root-key     the offline root key; clients pin its public half:")
    say("                       %s" % d.root)
    d.ctl("cert", "issue", "--root", os.path.join(d.dir, "root.key"),
          "--key", os.path.join(d.dir, "server.key"),
          "--out", os.path.join(d.dir, "server.cert"))
    expect(os.path.getsize(os.path.join(d.dir, "server.cert")) == 121,
           "the server certificate is not 121 bytes")
    say("parleyctl cert issue   a server static key and its 121-byte certificate")
    out = d.ctl("request-key", os.path.join(d.dir, "request.key"))
    m = re.search(r"public key[^:]*: (\S+)", out)
    expect(m is not None, "parleyctl request-key printed no public key: %r" % out)
    d.request_pub = m.group(1)
    with open(d.conf, "w") as f:
        f.write("[interop]\ngatekeeper_key_file = %s\ngatekeeper_key_id = %s\n" %
                (os.path.join(d.dir, "request.key"), GK_KEY_ID))
    say("parleyctl request-key  the key (%s) that signs the gatekeeper's calls to providers" %
        GK_KEY_ID)
    d.start_server()
    say("parleyd                listening on %s, store %s (SQLite)" %
        (d.address, os.path.basename(d.db)))


def step_accounts(d):
    """Accounts and first devices: parleyctl user add, parley register."""
    for user in (ALICE, BOB):
        out = d.ctl("user", "add", user)
        code = out.strip().splitlines()[-1].strip()
        expect(code != "", "parleyctl user add printed no code")
        d.codes[user] = code
        say("parleyctl user add %-17s -> registration code %s" % (user, code))
    for user, label in ((ALICE, "alice-phone"), (BOB, "bob-phone")):
        dev = d.device(user, label)
        out = dev.must("register", "--server", d.address, "--root-key", d.root,
                       "--code", d.codes[user])
        expect(out.startswith("Registered %s/1" % user), "%s: %r" % (label, out.strip()))
        dev.number = 1
        expect("(XX)" in open(dev.log).read(), "%s: the first connection was not Noise XX" % label)
        shows(label, out.strip() + "   (first contact: Noise XX, certificate checked)")
    out = d.ctl("user", "list")
    expect(ALICE in out and BOB in out, "parleyctl user list misses an account: %r" % out)


def step_link(d):
    """Alice links her laptop as a second device."""
    phone = d.devices["alice-phone"]
    rc, out = phone.run("link-code")
    expect(rc == 0 and out.strip() != "", "link-code failed (exit %d)" % rc)
    code = out.splitlines()[0].strip()
    shows(phone.label, "parley link-code -> %s  (also drawn as a QR code)" % code)
    laptop = d.device(ALICE, "alice-laptop")
    out = laptop.must("link", "--server", d.address, "--root-key", d.root, "--code", code)
    expect(out.startswith("Linked %s/2" % ALICE), "alice-laptop: %r" % out.strip())
    laptop.number = 2
    shows(laptop.label, out.strip())
    # The primary signs the new device list the next time it connects.
    before = open(phone.log).read()
    phone.receive(0.5)
    after = open(phone.log).read()[len(before):]
    expect("(IK)" in after, "alice-phone did not resume with Noise IK")
    expect("signed device list version" in after, "alice-phone did not sign the new list")
    shows(phone.label, "connects again (Noise IK, the server key cached), signs the new list")
    out = phone.must("devices")
    for line in out.strip().splitlines():
        shows(phone.label, "devices: " + line)
    expect(out.count("signed") == 2 and "unsigned" not in out,
           "both of alice's devices should be in the signed list: %r" % out)
    say("The phone (primary) signed the new list; senders encrypt only to signed devices.")


def step_conversation(d):
    """An end-to-end conversation with fan-out to every device."""
    phone, laptop, bob = d.devices["alice-phone"], d.devices["alice-laptop"], d.devices["bob-phone"]
    say("bob-phone and alice-laptop run `parley daemon` (connected, messages pushed);")
    say("alice-phone runs commands one at a time.")
    bob.start_daemon()
    laptop.start_daemon()
    mid = send(phone, "Hi Bob! Lunch on Friday?", BOB)

    def got(dev, kind, text):
        return lambda: (text in [t for _, t in messages(dev.events(), kind)])
    expect(wait_for(got(bob, "message", "Hi Bob! Lunch on Friday?")),
           "bob-phone did not receive alice's message")
    expect(wait_for(got(laptop, "sent", "Hi Bob! Lunch on Friday?")),
           "alice-laptop did not receive the copy of what alice-phone sent")
    for e in bob.events():
        if e["event"] == "message":
            shows(bob.label, "from %s: \"%s\"" % (e["from"], e["text"]))
            expect(e["from"] == ALICE + "/1", "the message should come from %s/1" % ALICE)
    for e in laptop.events():
        if e["event"] == "sent":
            shows(laptop.label, "copy of what %s sent to %s: \"%s\"" %
                  (e["from"], e["peer"], e["text"]))
    say("One stanza from alice-phone, one Signal ciphertext per device: bob's phone")
    say("and alice's own laptop each decrypted their copy.")

    send(bob, "Friday works. 12:30 at the usual place?", ALICE)
    expect(wait_for(got(laptop, "message", "Friday works. 12:30 at the usual place?")),
           "alice-laptop did not receive bob's reply")
    shows(laptop.label, "from %s: \"%s\"" % (BOB + "/1", "Friday works. 12:30 at the usual place?"))
    evs = phone.receive()
    got_phone = messages(evs)
    expect((BOB + "/1", "Friday works. 12:30 at the usual place?") in got_phone,
           "alice-phone did not receive bob's reply: %s" % evs)
    for e in evs:
        if e["event"] == "message":
            shows(phone.label, "from %s: \"%s\"" % (e["from"], e["text"]))
        elif e["event"] == "receipt":
            shows(phone.label, "%s receipt from %s for %s" % (e.get("detail", "delivery"),
                                                               e["from"], e["id"]))
    expect(any(e["event"] == "receipt" and e.get("id") == mid and e.get("from") == BOB + "/1"
               for e in evs), "alice-phone got no delivery receipt from bob-phone: %s" % evs)
    say("alice-phone was not connected when bob replied: the reply and bob's")
    say("delivery receipt waited in its queue on the server.")


def step_offline(d):
    """Offline delivery: bob's tablet, never run before, gets what was queued."""
    bob = d.devices["bob-phone"]
    phone = d.devices["alice-phone"]
    laptop = d.devices["alice-laptop"]
    signed_before = open(bob.log).read().count("signed device list version")
    rc, out = bob.run("link-code")
    expect(rc == 0 and out.strip() != "", "bob's link-code failed (exit %d)" % rc)
    tablet = d.device(BOB, "bob-tablet")
    out = tablet.must("link", "--server", d.address, "--root-key", d.root,
                      "--code", out.splitlines()[0].strip())
    expect(out.startswith("Linked %s/2" % BOB), "bob-tablet: %r" % out.strip())
    tablet.number = 2
    shows(tablet.label, out.strip() + ", then switched off")
    # bob-phone is running its daemon: the server tells it of the new device
    # and, being the primary, it signs the new list at once.
    expect(wait_for(lambda: any(e["event"] == "devices" for e in bob.events())),
           "bob-phone was not told of the new device")
    expect(wait_for(lambda: open(bob.log).read().count("signed device list version")
                    > signed_before), "bob-phone did not sign the new list")
    shows(bob.label, "told of a new device; signs the device list with the tablet in it")
    bob.stop_daemon()
    laptop.stop_daemon()
    out = bob.must("devices")
    for line in out.strip().splitlines():
        shows(bob.label, "devices: " + line)
    expect(out.count("signed") == 2 and "unsigned" not in out,
           "both of bob's devices should be in the signed list: %r" % out)
    say("bob-phone and alice-laptop go offline too. Nobody is connected now.")
    texts = ["See you Friday!", "I'll bring the photos from the trip."]
    for t in texts:
        send(phone, t, BOB)
    say("The server holds the ciphertexts until each device acknowledges its copy.")
    for dev in (tablet, bob):
        evs = dev.receive()
        got = [t for f, t in messages(evs) if f == ALICE + "/1"]
        for t in got:
            shows(dev.label, "from %s/1 (queued): \"%s\"" % (ALICE, t))
        expect(got == texts, "%s should get both queued messages in order, got %s" %
               (dev.label, got))
    evs = laptop.receive()
    copies = [t for _, t in messages(evs, "sent")]
    for t in copies:
        shows(laptop.label, "copy (queued) of what alice-phone sent: \"%s\"" % t)
    expect(copies == texts, "alice-laptop should get both copies, got %s" % copies)
    for dev in (tablet, bob, laptop):
        evs = dev.receive(0.5)
        expect(messages(evs) == [] and messages(evs, "sent") == [],
               "%s got something twice: %s" % (dev.label, evs))
    say("Each device acknowledged its copy; a second receive finds nothing left.")


def step_safety(d):
    """Safety numbers, compared on both sides."""
    phone, bob = d.devices["alice-phone"], d.devices["bob-phone"]
    a = phone.must("safety-number", BOB)
    b = bob.must("safety-number", ALICE)
    da = "".join(a.splitlines()[:2]).replace(" ", "")
    db = "".join(b.splitlines()[:2]).replace(" ", "")
    for dev, out in ((phone, a), (bob, b)):
        lines = out.splitlines()
        shows(dev.label, "safety number with %s:" % (BOB if dev is phone else ALICE))
        shows(dev.label, "  " + lines[0])
        shows(dev.label, "  " + lines[1])
    expect(len(da) == 60 and da.isdigit(), "alice's safety number is not 60 digits: %r" % da)
    expect(da == db, "the safety numbers differ")
    say("The 60 digits match: each side holds the other's real identity key.")
    say("alice-phone also draws it as a QR code for bob to scan:")
    for line in a.splitlines()[2:]:
        print("      " + line)
    expect(any("\u2580" in l or "\u2584" in l or "\u2588" in l for l in a.splitlines()[2:]),
           "no QR code was drawn")
    out = phone.must("verify", "--yes", BOB)
    expect("verified" in out, "verify did not confirm: %r" % out)
    out = phone.must("contacts")
    shows(phone.label, "contacts: " + out.strip())
    expect(BOB in out and "verified" in out, "bob should be a verified contact: %r" % out)


# ---- the interop story: a third-party provider on the same gatekeeper ----

def pwfile(d, name, password):
    path = os.path.join(d.dir, "clients", name + ".password")
    with open(path, "w") as f:
        f.write(password + "\n")
    os.chmod(path, 0o600)
    return path


def refusal(err):
    """The line in which parley names the server's reason for a refusal."""
    lines = [l for l in err.splitlines() if "refused" in l] or err.strip().splitlines()
    return lines[-1].strip() if lines else "(nothing on stderr)"


def refused(dev, text, to, reason):
    """dev tries to send; the gatekeeper refuses with reason, parley exits 3."""
    rc, out, err = dev.attempt("send", "-m", text, to)
    dev.demo.said.append(text)
    line = refusal(err)
    shows(dev.label, "sends to %s: \"%s\"" % (to, text))
    shows(dev.label, "  -> exit %d, %s" % (rc, line))
    expect(rc == 3 and reason in line,
           "%s: the send to %s should be refused with %r, got exit %d: %r" %
           (dev.label, to, reason, rc, err.strip()))


def tagged(e):
    """How a client names a third-party chat: [provider, protocol]."""
    return "[third-party chat: %s, protocol %s]" % (e.get("provider"), e.get("protocol"))


def show_received(dev, evs, sender):
    """Print dev's messages from sender with the chat's provider and protocol."""
    got = []
    for e in evs:
        if e.get("event") == "message" and e.get("peer") == sender:
            shows(dev.label, "from %s: \"%s\"" % (e["from"], e["text"]))
            shows(dev.label, "  " + tagged(e))
            got.append(e)
    return got


def step_provider(d):
    """A third-party provider: the operator records Birdy's agreement, Birdy starts."""
    birdy = Provider(d, PROVIDER, PROVIDER_NAME, PROVIDER_DOMAIN)
    d.providers[PROVIDER] = birdy
    birdy.keygen()
    say("Birdy Messenger, another messaging service, signs an interop agreement.")
    say("parley-provider keygen     Birdy's attestation key; Birdy hands the public half")
    say("                           to the operator: %s" % birdy.pub)
    d.ctl("provider", "add", PROVIDER, "--name", PROVIDER_NAME, "--domain", PROVIDER_DOMAIN,
          "--key", "1:" + birdy.pub, "--push", birdy.url + "/v1/push",
          "--verify", birdy.url + "/v1/verify", "--agreement", "2026-02-01")
    say("parleyctl provider add     the operator records it: id, domain, key 1, push URL")
    out = d.ctl("provider", "show", PROVIDER)
    for line in out.strip().splitlines():
        say("    " + line)
    expect("active" in out and PROVIDER_DOMAIN in out and birdy.url + "/v1/push" in out,
           "provider show should list birdy active with its domain and push URL: %r" % out)
    expect(wait_for(lambda: d.server_log_has("provider registry: 1 provider"), 10),
           "parleyd did not load the new provider into its registry")
    say("parleyd                    picks up the registry change: 1 provider")
    birdy.add_user("carol", CAROL_PASSWORD)
    say("parley-provider passwd     Birdy's own account \"carol\", with a password")
    birdy.start()
    say("parley-provider serve      Birdy's server on %s; it accepts push calls" % birdy.url)
    say("                           signed by the gatekeeper's key %s" % GK_KEY_ID)


def step_enlist(d):
    """Carol, a Birdy user, registers through her provider."""
    birdy = d.providers[PROVIDER]
    stranger = d.device(CAROL, "not-carol")
    rc, out, err = stranger.attempt("register", "--server", d.address, "--root-key", d.root,
                                    "--provider", birdy.url, "--password-file",
                                    pwfile(d, "not-carol", "guessed-password"))
    shows(stranger.label, "register as %s with a guessed password" % CAROL)
    shows(stranger.label, "  -> exit %d, %s" % (rc, (err.strip().splitlines() or ["?"])[-1]))
    expect(rc == 3 and "bad-login" in err,
           "a wrong Birdy password should be refused (exit 3, bad-login): %d %r" % (rc, err))
    carol = d.device(CAROL, "carol-birdy")
    out = carol.must("register", "--server", d.address, "--root-key", d.root,
                     "--provider", birdy.url, "--password-file",
                     pwfile(d, "carol", CAROL_PASSWORD))
    expect(out.startswith("Enlisted %s/1 through %s" % (CAROL, birdy.url)),
           "carol-birdy: %r" % out.strip())
    carol.number = 1
    shows(carol.label, out.strip())
    expect(wait_for(lambda: d.server_log_has("enlisted %s/1 (provider %s" % (CAROL, PROVIDER)), 5),
           "parleyd did not log carol's enlistment")
    for line in d.server_log_lines(r"enlisted %s/1" % re.escape(CAROL)):
        say(re.sub(r"^\S+ parleyd: ", "parleyd: ", line))
    say("Birdy checked carol's password and attested her device's keys; the gatekeeper")
    say("checked the attestation against Birdy's recorded key. No gatekeeper code, no")
    say("gatekeeper password: the account is Birdy's.")


def step_before_optin(d):
    """Before Alice opts in: refused both ways, with the reason, nothing queued."""
    phone, carol = d.devices["alice-phone"], d.devices["carol-birdy"]
    out = phone.must("providers")
    for line in out.strip().splitlines():
        shows(phone.label, line)
    expect(re.search(r"^%s\s+off\s+signal\s+%s" % (PROVIDER, re.escape(PROVIDER_DOMAIN)), out,
                     re.M) is not None, "alice should see birdy listed, off: %r" % out)
    before = d.queued("sender = ? OR user = ?", CAROL, CAROL)
    refused(carol, "Hi Alice! It's Carol, I'm on Birdy now.", ALICE, "403: consent-required")
    refused(phone, "Carol, is that you?", CAROL, "403: enable-provider-first")
    after = d.queued("sender = ? OR user = ?", CAROL, CAROL)
    expect(after == before, "the gatekeeper queued a refused message (%d -> %d)" % (before, after))
    evs = phone.receive(0.5)
    expect([m for m in messages(evs) if m[0].startswith(CAROL)] == [],
           "alice-phone received something from carol before opting in: %s" % evs)
    shows(phone.label, "receive: nothing from carol")
    logged = d.server_log_lines(r"message from (%s/1 refused: consent-required|"
                                r"%s/1 refused: enable-provider-first)" %
                                (re.escape(CAROL), re.escape(ALICE)))
    for line in logged:
        say(re.sub(r"^\S+ parleyd: ", "parleyd: ", line))
    expect(len(logged) == 2, "parleyd did not log both refusals: %s" % logged)
    say("The gatekeeper decides, not the clients: both sends were refused with their")
    say("reason, and its queue holds nothing to or from carol (%d rows)." % after)


def step_optin(d):
    """Alice opts in to Birdy; Carol's first message is a message request."""
    phone, carol = d.devices["alice-phone"], d.devices["carol-birdy"]
    out = phone.must("consent", PROVIDER, "on")
    shows(phone.label, "consent birdy on -> " + out.strip())
    expect(out.strip() == "%s enabled" % PROVIDER, "consent did not confirm: %r" % out)
    out = phone.must("providers")
    line = [l for l in out.splitlines() if l.startswith(PROVIDER + " ")]
    expect(line and re.match(r"%s\s+on\s+signal" % PROVIDER, line[0]) is not None,
           "birdy should now be on: %r" % out)
    shows(phone.label, line[0])
    text = "Hi Alice! It's Carol, I'm on Birdy now."
    send(carol, text, ALICE)
    evs = phone.receive()
    got = show_received(phone, evs, CAROL)
    expect([e["text"] for e in got] == [text], "alice-phone should get carol's message: %s" % evs)
    expect(got[0].get("provider") == PROVIDER and got[0].get("protocol") == "signal",
           "alice's client should name the chat's provider and protocol: %s" % got[0])
    out = phone.must("requests")
    for l in out.strip().splitlines():
        shows(phone.label, "requests: " + l)
    expect(CAROL in out and "(via %s, signal)" % PROVIDER in out,
           "carol should be a message request via birdy: %r" % out)
    out = phone.must("accept", CAROL)
    shows(phone.label, out.strip())
    expect(out.strip() == "Accepted " + CAROL, "accept did not confirm: %r" % out)
    out = phone.must("requests")
    expect(CAROL not in out, "carol is still a request after accepting: %r" % out)
    say("First contact from another messenger waits as a request until Alice answers;")
    say("accepted, carol's messages are ordinary messages.")


def step_interop_conversation(d):
    """A conversation across the two messengers, in both directions."""
    phone, carol = d.devices["alice-phone"], d.devices["carol-birdy"]
    say("carol-birdy runs `parley daemon` (connected to the gatekeeper directly).")
    carol.start_daemon()
    text = "Welcome, Carol! Lunch with Bob and me on Friday?"
    mid = send(phone, text, CAROL)
    expect(wait_for(lambda: text in [t for _, t in messages(carol.events())], 15),
           "carol-birdy did not receive alice's message")
    got = show_received(carol, carol.events(), ALICE)
    expect(got[0].get("provider") == PROVIDER_DOMAIN and got[0].get("protocol") == "signal",
           "carol's client should name the chat's provider and protocol: %s" % got[0])
    reply = "Love to! 12:30 works for me."
    send(carol, reply, ALICE)
    evs = phone.receive()
    got = show_received(phone, evs, CAROL)
    expect(reply in [e["text"] for e in got], "alice-phone did not get carol's reply: %s" % evs)
    expect(all(e.get("provider") == PROVIDER and e.get("protocol") == "signal" for e in got),
           "alice's client should tag carol's chat with birdy, signal: %s" % got)
    for e in evs:
        if e["event"] == "receipt" and e.get("id") == mid:
            shows(phone.label, "%s receipt from %s for %s" % (e.get("detail", "delivery"),
                                                               e["from"], e["id"]))
    expect(any(e["event"] == "receipt" and e.get("id") == mid and e.get("from") == CAROL + "/1"
               for e in evs), "alice-phone got no delivery receipt from carol: %s" % evs)
    say("Signal end to end across the two services: the gatekeeper routed ciphertext.")
    say("Each client marks the chat as third-party: Alice's names Birdy and its protocol")
    say("from the gatekeeper's provider list; Carol's names her own provider's domain.")

    carol.stop_daemon()
    d.gone(carol)
    say("carol-birdy goes offline; her client waits on Birdy for a wake-up instead.")
    text = "I'll book a table for three."
    send(phone, text, CAROL)
    rc, out, err = carol.attempt("wait", "--password-file", pwfile(d, "carol", CAROL_PASSWORD),
                                 "--timeout", "10")
    shows(carol.label, "parley wait -> " + (out.strip() or err.strip()))
    expect(rc == 0 and re.match(r"Wake-up: \d+ messages? waiting", out) is not None,
           "carol's client was not woken through Birdy: exit %d %r %r" % (rc, out, err))
    got = show_received(carol, carol.receive(), ALICE)
    expect(text in [e["text"] for e in got], "carol did not fetch the queued message: %s" % got)
    say("The gatekeeper signed a push to Birdy's push URL; Birdy relayed the wake-up")
    say("and carol's client connected and fetched its queue.")


def step_suspend(d):
    """The operator suspends Birdy, and then resumes it."""
    phone, carol = d.devices["alice-phone"], d.devices["carol-birdy"]
    carol.start_daemon()
    shows(carol.label, "parley daemon: connected")
    mark = len(open(carol.log).read())
    t0 = time.time()
    d.ctl("provider", "suspend", PROVIDER)
    say("parleyctl provider suspend birdy")
    closed = wait_for(lambda: any(e["event"] == "disconnected" for e in carol.events()), 5)
    took = time.time() - t0
    expect(closed, "carol's connection was not closed after the suspension")
    # The daemon reports the gatekeeper's closing error on its standard error.
    why = "server error 503: provider-suspended"
    expect(wait_for(lambda: why in open(carol.log).read()[mark:], 3),
           "carol's client was not told why its connection closed (%r)" % why)
    shows(carol.label, "parley: %s   (the gatekeeper's last word)" % why)
    for e in carol.events():
        if e["event"] == "disconnected":
            shows(carol.label, "disconnected: %s, %.2f s after the operator's command" %
                  (e.get("detail", "?"), took))
    expect(took < 2.5, "the gatekeeper took %.1f s to close carol's connection" % took)
    for line in d.server_log_lines(r"logout %s/1: provider not active" % re.escape(CAROL)):
        say(re.sub(r"^\S+ parleyd: ", "parleyd: ", line))
    carol.stop_daemon()
    out = d.ctl("provider", "list")
    line = [l for l in out.splitlines() if l.split()[:1] == [PROVIDER]]
    expect(line and "suspended" in line[0], "provider list should show birdy suspended: %r" % out)
    say("parleyctl provider list:  " + re.sub(r"\s+", " ", line[0]))
    before = d.queued("sender = ? OR user = ?", CAROL, CAROL)
    refused(phone, "Carol, are you still there?", CAROL, "503: provider-unavailable")
    refused(carol, "Hello? Anyone?", ALICE, "provider-suspended")
    after = d.queued("sender = ? OR user = ?", CAROL, CAROL)
    expect(after == before, "a message was queued during the suspension (%d -> %d)" %
           (before, after))
    say("While Birdy is suspended its users cannot log in, and nothing goes to them;")
    say("nothing was queued either way.")

    d.ctl("provider", "resume", PROVIDER)
    say("parleyctl provider resume birdy")
    text = "Back on Birdy. See you Friday!"
    before = d.queued("sender = ? OR user = ?", CAROL, CAROL)
    t0 = time.time()
    tries = 0
    early = []  # what the gatekeeper said to the tries before it caught up
    while True:
        # Each worker of the gatekeeper re-reads the registry every 200 ms;
        # until the one serving this connection has, the login or the
        # message is still refused (and nothing is queued).
        tries += 1
        rc, out, err = carol.attempt("send", "-m", text, ALICE)
        if rc == 0 or time.time() - t0 > 5 or not (
                "provider-suspended" in err or "provider-unavailable" in err):
            break
        early.append("%.2f s: %s" % (time.time() - t0, refusal(err).replace("parley: ", "")))
        time.sleep(0.2)
    d.said.append(text)
    expect(rc == 0, "after resume carol still cannot send: exit %d %r" % (rc, refusal(err)))
    if early:
        say("The gatekeeper re-reads its provider registry every 200 ms; a send before")
        say("that is still refused (and nothing queued), so carol sends again:")
    for e in early:
        shows(carol.label, "  (a try at %s)" % e)
    shows(carol.label, "sends to %s: \"%s\"  (id %s; try %d, %.2f s after resume)" %
          (ALICE, text, out.split()[-1] if out.split() else "?", tries, time.time() - t0))
    after = d.queued("sender = ? OR user = ?", CAROL, CAROL)
    expect(after - before == 2, "the queue should have grown by one copy for each of alice's "
           "two devices, not %d" % (after - before))
    got = show_received(phone, phone.receive(), CAROL)
    expect(text in [e["text"] for e in got], "alice-phone did not get carol's message: %s" % got)
    say("Resumed: Birdy's users log in again and the conversation goes on; the queue")
    say("grew by exactly one copy for each of alice's two devices.")


def step_server_sees_ciphertext(d):
    """What the gatekeeper stored: ciphertext only."""
    expect(os.path.exists(d.db), "no server database")
    n = 0
    try:
        con = sqlite3.connect("file:%s?mode=ro" % d.db, uri=True, timeout=5)
        n = len(con.execute("SELECT name FROM sqlite_master WHERE type='table'").fetchall())
        con.close()
    except sqlite3.Error:
        pass
    hits = []
    for dp, _, files in os.walk(d.dir):
        if os.path.join(d.dir, "logs") in dp:
            continue  # the clients' own output, where message bodies belong
        for f in files:
            try:
                data = open(os.path.join(dp, f), "rb").read()
            except OSError:
                continue
            hits += [(f, t) for t in d.said if t.encode() in data]
    expect(hits == [], "plaintext found on disk: %s" % hits[:3])
    say("None of the %d message texts (refused ones included) appears in the" % len(d.said))
    say("gatekeeper's database (%d tables), in the provider's files or in any client's" % n)
    say("store: the servers routed and queued only ciphertext.")
    if d.providers:
        leaks = [os.path.basename(f) for f in (d.db, d.db + "-wal", d.server_log)
                 if os.path.exists(f) and CAROL_PASSWORD.encode() in open(f, "rb").read()]
        expect(leaks == [], "carol's Birdy password reached the gatekeeper: %s" % leaks)
        say("Carol's Birdy password is not in the gatekeeper's database or log either.")


STEPS = [
    step_gatekeeper,
    step_accounts,
    step_link,
    step_conversation,
    step_offline,
    step_safety,
    step_provider,
    step_enlist,
    step_before_optin,
    step_optin,
    step_interop_conversation,
    step_suspend,
    step_server_sees_ciphertext,
]


def programs(args):
    if args.build:
        b = args.build
        return (os.path.join(b, "src", "server", "parleyd"),
                os.path.join(b, "src", "cli", "parleyctl", "parleyctl"),
                os.path.join(b, "src", "cli", "parley", "parley"),
                os.path.join(b, "src", "provider", "parley-provider"))
    return args.parleyd, args.parleyctl, args.parley, args.parley_provider


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("build", nargs="?", help="the CMake build directory")
    ap.add_argument("--parleyd")
    ap.add_argument("--parleyctl")
    ap.add_argument("--parley")
    ap.add_argument("--parley-provider")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = ap.parse_args()
    progs = programs(args)
    for p in progs:
        if not p or not os.access(p, os.X_OK):
            print("demo: %s is not built (run `make`)" % p, file=sys.stderr)
            return 2

    # SIGINT and SIGTERM unwind through the finally below like a failure.
    def interrupted(sig, _frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, interrupted)

    print("parley network demo: a gatekeeper, a third-party provider, three users,")
    print("five devices, all on 127.0.0.1")
    t_start = time.time()
    demo = Demo(*progs, keep=args.keep)
    failed = True
    try:
        for n, step in enumerate(STEPS, 1):
            heading(n, len(STEPS), step.__doc__.splitlines()[0].rstrip("."))
            step(demo)
        failed = False
    except DemoFailed as e:
        print("\nDEMO FAILED: %s" % e, file=sys.stderr)
    except KeyboardInterrupt:
        print("\ndemo interrupted", file=sys.stderr)
    except (OSError, subprocess.SubprocessError) as e:
        print("\nDEMO FAILED: %r" % e, file=sys.stderr)
    finally:
        demo.close(failed)
    if not failed:
        print("\nAll %d steps done in %.0f s; everything the demo started is stopped%s." %
              (len(STEPS), time.time() - t_start, "" if args.keep else " and removed"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
