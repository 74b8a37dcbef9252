#!/usr/bin/env python3
"""Third-party interop end to end: a gatekeeper (parleyd), two providers
(parley-provider) and real `parley` clients on 127.0.0.1.

    test_interop_e2e.py PARLEYD PARLEYCTL PARLEY PARLEY_PROVIDER

A third-party user registers with its provider (password login, the
provider attests the device's keys) and enlists with the gatekeeper; the
gatekeeper user opts in, answers message requests, blocks and reports;
messages go both ways, encrypted end to end by the real clients. The
gatekeeper's push wake-ups reach the provider signed, and a provider
whose HTTP endpoint is down does not slow the chat while the gatekeeper
retries. Every wait is bounded; nothing leaves loopback.
"""
import json
import os
import re
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_client as tc  # noqa: E402  (the harness: Net, Client, check)

check = tc.check


class GkNet(tc.Net):
    """parleyd with an [interop] config: the request signing key."""

    def server_args(self):
        if not hasattr(self, "conf"):
            key = os.path.join(self.dir, "gk-request.key")
            out = self.ctl("request-key", key)
            self.gk_pub = re.search(r"public key[^:]*: (\S+)", out).group(1)
            self.conf = os.path.join(self.dir, "parleyd.ini")
            with open(self.conf, "w") as f:
                f.write("[interop]\ngatekeeper_key_file = %s\ngatekeeper_key_id = gk-1\n" % key)
        return ["-c", self.conf]


class Provider:
    """parley-provider serve. With same_key, a second server that signs with
    another provider's attestation key but has users of its own."""

    def __init__(self, net, prog, pid, domain, users, same_key=None, tag=None):
        self.net, self.prog, self.id, self.domain = net, prog, pid, domain
        self.dir = os.path.join(net.dir, "provider-" + (tag or pid))
        os.makedirs(self.dir)
        self.key = os.path.join(self.dir, "attest.key")
        self.users = os.path.join(self.dir, "users")
        if same_key is not None:
            with open(same_key.key, "rb") as src, open(self.key, "wb") as dst:
                dst.write(src.read())
            os.chmod(self.key, 0o600)
            self.pub = same_key.pub
        else:
            r = subprocess.run([prog, "keygen", self.key], capture_output=True, text=True,
                               timeout=30)
            self.pub = r.stdout.strip()
        for name, pw in users.items():
            subprocess.run([prog, "passwd", self.users, name], input=pw + "\n", text=True,
                           capture_output=True, timeout=60, check=True)
        self.proc = None
        self.start()

    def start(self):
        self.out = open(os.path.join(self.dir, "out.log"), "a+")
        self.proc = subprocess.Popen(
            [self.prog, "serve", "--id", self.id, "--domain", self.domain, "--listen",
             "127.0.0.1", "--port", "0", "--key", self.key, "--users", self.users,
             "--gk-key", "gk-1:" + self.net.gk_pub],
            stdout=self.out, stderr=self.out)
        deadline = time.time() + 15
        while time.time() < deadline:
            self.out.flush()
            with open(os.path.join(self.dir, "out.log")) as f:
                m = re.search(r"listening on (http://127\.0\.0\.1:\d+)", f.read())
            if m:
                self.url = m.group(1)
                return
            time.sleep(0.05)
        raise RuntimeError("parley-provider did not start")

    def stop(self):
        tc.stop_proc(self.proc)
        self.proc = None

    def http(self, method, path, body=None, token=None, timeout=10):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("Content-Type", "application/json")
        if token:
            req.add_header("Authorization", "Bearer " + token)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.status, json.loads(r.read() or b"{}")
        except urllib.error.HTTPError as e:
            return e.code, {}


class Proxy:
    def __init__(self, proc, addr, root):
        self.proc, self.addr, self.root = proc, addr, root

    def stop(self):
        tc.stop_proc(self.proc)
        self.proc = None


def start_proxy(net, prog, prov):
    """parley-provider proxy for prov, with a root and certificate of its own."""
    root_key = os.path.join(prov.dir, "proxy-root.key")
    out = net.ctl("root-key", root_key)
    root = re.search(r"root public key: (\S+)", out).group(1)
    key, cert = os.path.join(prov.dir, "proxy.key"), os.path.join(prov.dir, "proxy.cert")
    net.ctl("cert", "issue", "--root", root_key, "--key", key, "--out", cert)
    log = open(os.path.join(prov.dir, "proxy.log"), "a+")
    proc = subprocess.Popen(
        [prog, "proxy", "--id", prov.id, "--domain", prov.domain, "--key", prov.key, "--key-id",
         "1", "--listen", "127.0.0.1", "--port", "0", "--server-key", key, "--server-cert", cert,
         "--gatekeeper", net.server, "--gatekeeper-root", net.root],
        stdout=log, stderr=log)
    deadline = time.time() + 15
    while time.time() < deadline:
        log.flush()
        with open(os.path.join(prov.dir, "proxy.log")) as f:
            m = re.search(r"proxying on (127\.0\.0\.1:\d+)", f.read())
        if m:
            return Proxy(proc, m.group(1), root)
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError("the proxy did not start")


def pwfile(net, name, pw):
    p = os.path.join(net.dir, name + ".pw")
    with open(p, "w") as f:
        f.write(pw + "\n")
    os.chmod(p, 0o600)
    return p


def enlist(net, c, prov, pw):
    return c.run("register", "--server", net.server, "--root-key", net.root, "--provider",
                 prov.url, "--password-file", pwfile(net, c.account.split("@")[0], pw))


def send(c, text, to):
    rc, out, err = c.run("send", "-m", text, to)
    return rc, out, err


def received(c, timeout=1):
    rc, evs = c.receive(timeout)
    return [(e.get("peer"), e.get("text"), e.get("id")) for e in evs
            if e.get("event") == "message"]


def scenario(net, prog):
    birdy = Provider(net, prog, "birdy", "birdy.example",
                     {"bob": "bobs-password-1", "dan": "dans-password-1"})
    parrot = Provider(net, prog, "parrot", "parrot.example", {"carol": "carols-password-1"})
    providers = [birdy, parrot]
    try:
        for p, kid in ((birdy, "1"), (parrot, "1")):
            net.ctl("provider", "add", p.id, "--name", p.id.capitalize() + " Messenger",
                    "--domain", p.domain, "--key", kid + ":" + p.pub,
                    "--push", p.url + "/v1/push", "--verify", p.url + "/v1/verify",
                    "--agreement", "2026-02-01")
        alice = net.client("alice@gk.example", "alice")
        check(alice.register(net.user("alice@gk.example")) == 0, "alice registers")

        # ---- enlistment through the provider ----
        bob = net.client("bob@birdy.example", "bob")
        rc, out, err = enlist(net, bob, birdy, "wrong-password")
        check(rc == 3 and "bad-login" in err, "a wrong provider password is refused: %r" % err)
        bob = net.client("bob@birdy.example", "bob2")
        rc, out, err = enlist(net, bob, birdy, "bobs-password-1")
        check(rc == 0 and "Enlisted bob@birdy.example/1" in out, "bob enlists: %r %r" % (out, err))
        carol = net.client("carol@parrot.example", "carol")
        rc, out, err = enlist(net, carol, parrot, "carols-password-1")
        check(rc == 0, "carol enlists: %r" % err)
        # A user the provider does not have cannot get an attestation.
        mallory = net.client("mallory@birdy.example", "mallory")
        rc, out, err = enlist(net, mallory, birdy, "whatever")
        check(rc == 3, "an unknown provider user is refused")
        # An attestation that verifies, for a user the provider's own
        # server does not have (its key used by another server): the
        # gatekeeper asks birdy's verification URL before it creates
        # anything, and refuses.
        shadow = Provider(net, prog, "birdy", "birdy.example",
                          {"mallory": "mallorys-password-1"}, same_key=birdy, tag="shadow")
        providers.append(shadow)
        mallory = net.client("mallory@birdy.example", "mallory-shadow")
        rc, out, err = enlist(net, mallory, shadow, "mallorys-password-1")
        check(rc == 3 and "unknown-user" in err,
              "an attested user the provider does not know is refused: %r" % err)

        # ---- refused before opt-in, nothing queued ----
        rc, out, err = send(bob, "hello before consent", "alice@gk.example")
        check(rc == 3 and "consent-required" in err, "refused before opt-in: %r" % err)
        rc, out, err = send(alice, "hi bob too early", "bob@birdy.example")
        check(rc == 3 and "enable-provider-first" in err, "gk side must enable first: %r" % err)
        check(received(alice) == [], "nothing was queued for alice")
        rc, out, err = alice.run("providers")
        check(rc == 0 and re.search(r"birdy\s+off\s+signal\s+birdy\.example", out) is not None,
              "providers lists birdy off, with its protocol: %r" % out)
        rc, out, err = alice.run("consent", "birdy", "on")
        check(rc == 0, "alice enables birdy")
        rc, out, err = alice.run("providers")
        check(re.search(r"birdy\s+on\s+signal", out) is not None, "birdy now on")

        # ---- both ways after opt-in; first contact as a request ----
        rc, out, err = send(bob, "hello alice from birdy", "alice@gk.example")
        check(rc == 0, "bob's first message is accepted: %r" % err)
        rc, evs = alice.receive(1)
        got = [(e.get("peer"), e.get("text")) for e in evs if e.get("event") == "message"]
        check(("bob@birdy.example", "hello alice from birdy") in got,
              "alice decrypts bob's message: %r" % got)
        check(any(e.get("provider") == "birdy" and e.get("protocol") == "signal" for e in evs
                  if e.get("event") == "message"),
              "the client names the chat's provider and protocol: %r" % evs)
        rc, out, err = alice.run("requests")
        check(rc == 0 and "bob@birdy.example" in out and "via birdy, signal" in out,
              "the request is listed with its provider and protocol: %r" % out)
        check(alice.run("accept", "bob@birdy.example")[0] == 0, "alice accepts")
        rc, out, err = alice.run("requests")
        check("bob@birdy.example" not in out, "no request left")
        rc, out, err = send(alice, "hi bob from the gatekeeper", "bob@birdy.example")
        check(rc == 0, "alice answers: %r" % err)
        got = received(bob)
        check(("alice@gk.example", "hi bob from the gatekeeper") in [(p, t) for p, t, _ in got],
              "bob decrypts alice's answer: %r" % got)

        # ---- the inbox mode decides how chats are listed ----
        rc, out, err = alice.run("contacts")
        lines = out.splitlines()
        check(rc == 0 and "Third-party chats (separate inbox):" in lines and
              any(l.startswith("bob@birdy.example ") and l.endswith("[birdy, protocol signal]")
                  for l in lines[lines.index("Third-party chats (separate inbox):") + 1:]),
              "a separate inbox lists third-party chats under their own heading: %r" % out)
        check(alice.run("inbox", "combined")[0] == 0, "alice combines her inboxes")
        rc, out, err = alice.run("contacts")
        check(rc == 0 and "Third-party chats" not in out and
              re.search(r"^bob@birdy\.example .*\[birdy, protocol signal\]$", out, re.M),
              "a combined inbox is one list, third-party chats still named: %r" % out)
        rc, out, err = alice.run("providers")
        check("inbox: combined" in out, "the server keeps the mode: %r" % out)
        check(alice.run("inbox", "separate")[0] == 0, "and back to separate")

        # ---- second provider: consent, decline, report ----
        rc, out, err = send(carol, "carol here", "alice@gk.example")
        check(rc == 3 and "consent-required" in err, "parrot not enabled yet")
        check(alice.run("consent", "parrot", "on")[0] == 0, "alice enables parrot")
        rc, out, err = send(carol, "buy cheap watches", "alice@gk.example")
        check(rc == 0, "carol's first message goes through as a request")
        got = received(alice)
        spam = [i for p, t, i in got if p == "carol@parrot.example" and t == "buy cheap watches"]
        check(len(spam) == 1, "alice got carol's message: %r" % got)
        rc, out, err = alice.run("report", "--reason", "spam", "--attach",
                                 spam[0] if spam else "none", "carol@parrot.example")
        check(rc == 0 and "1 message attached" in out, "alice reports carol: %r %r" % (out, err))
        reports = net.ctl("reports")
        check("alice@gk.example reported carol@parrot.example: spam" in reports
              and "buy cheap watches" in reports, "the operator sees the report: %r" % reports)
        check(alice.run("decline", "carol@parrot.example")[0] == 0, "alice declines")
        rc, out, err = send(carol, "again", "alice@gk.example")
        check(rc == 3 and "not-allowed" in err, "a declined sender is refused: %r" % err)

        # ---- block and unblock ----
        check(alice.run("block", "bob@birdy.example")[0] == 0, "alice blocks bob")
        rc, out, err = send(bob, "are you there?", "alice@gk.example")
        check(rc == 3 and "not-allowed" in err, "blocked: %r" % err)
        rc, out, err = send(alice, "x", "bob@birdy.example")
        check(rc == 3 and "you-blocked" in err, "the blocker is told: %r" % err)
        check(alice.run("unblock", "bob@birdy.example")[0] == 0, "alice unblocks bob")
        rc, out, err = send(bob, "thanks for unblocking", "alice@gk.example")
        check(rc == 0, "unblocked")
        received(alice)

        # ---- proxy mode: dan reaches the gatekeeper through birdy's proxy ----
        proxy = start_proxy(net, prog, birdy)
        providers.append(proxy)
        dan = net.client("dan@birdy.example", "dan")
        rc, out, err = dan.run("register", "--server", proxy.addr, "--root-key", proxy.root,
                               "--provider", birdy.url, "--password-file",
                               pwfile(net, "dan", "dans-password-1"))
        check(rc == 0 and "Enlisted dan@birdy.example/1" in out,
              "dan enlists through the proxy: %r %r" % (out, err))
        rc, out, err = send(dan, "hello through the proxy", "alice@gk.example")
        check(rc == 0, "dan writes through the proxy: %r" % err)
        got = received(alice)
        check(("dan@birdy.example", "hello through the proxy") in [(p, t) for p, t, _ in got],
              "alice gets dan's message: %r" % got)
        check(alice.run("accept", "dan@birdy.example")[0] == 0, "alice accepts dan")
        rc, out, err = send(alice, "hello dan behind the proxy", "dan@birdy.example")
        check(rc == 0, "alice answers dan")
        got = received(dan)
        check("hello dan behind the proxy" in [t for _, t, _ in got],
              "dan receives through the proxy: %r" % got)
        with open(os.path.join(net.dir, "parleyd.log")) as f:
            log = f.read()
        check("enlisted dan@birdy.example/1 (provider birdy, through its proxy for client "
              "127.0.0.1)" in log, "the gatekeeper saw the client's IP from the proxy")
        proxy.stop()

        # ---- a fresh attestation from the provider, used at the next login ----
        rc, out, err = bob.run("renew", "--password-file", pwfile(net, "bob", "bobs-password-1"))
        check(rc == 0 and "Attestation renewed" in out, "bob renews: %r %r" % (out, err))
        rc, out, err = send(bob, "after renewal", "alice@gk.example")
        check(rc == 0, "bob logs in with the renewed attestation: %r" % err)
        check("after renewal" in [t for _, t, _ in received(alice)], "alice gets it")

        # ---- the operator suspends birdy mid-conversation, then resumes it ----
        bob.start_daemon()
        check(tc.wait_for(lambda: any(e.get("event") == "connected"
                                      for e in bob.daemon_events()), 15), "bob's daemon is up")
        t0 = time.time()
        net.ctl("provider", "suspend", "birdy")
        check(tc.wait_for(lambda: any(e.get("event") == "disconnected"
                                      for e in bob.daemon_events()), 5)
              and time.time() - t0 < 1.5, "bob's connection is closed within a second")
        bob.kill_daemon()
        rc, out, err = send(alice, "during the suspension", "bob@birdy.example")
        check(rc == 3 and "provider-unavailable" in err, "sends to birdy refused: %r" % err)
        rc, out, err = send(bob, "let me in", "alice@gk.example")
        check(rc == 3 and "provider-suspended" in err, "birdy's users are refused: %r" % err)
        net.ctl("provider", "resume", "birdy")
        time.sleep(0.5)
        rc, out, err = send(bob, "back again", "alice@gk.example")
        check(rc == 0, "after resumption bob writes again: %r" % err)
        check("back again" in [t for _, t, _ in received(alice)], "and alice receives")

        # ---- push wake-ups reach the provider, signed ----
        st, body = birdy.http("POST", "/v1/login", {"user": "bob", "password": "bobs-password-1"})
        check(st == 200 and "token" in body, "bob logs in to birdy")
        token = body.get("token", "")
        rc, out, err = send(alice, "wake up, bob", "bob@birdy.example")
        check(rc == 0, "alice writes to offline bob")
        rc, out, err = bob.run("wait", "--password-file", pwfile(net, "bob", "bobs-password-1"),
                               "--timeout", "10")
        check(rc == 0 and re.match(r"Wake-up: \d+ messages? waiting", out) is not None,
              "bob's client is woken by its provider: %r %r" % (out, err))
        rc, out, err = send(alice, "and once more", "bob@birdy.example")
        st, body = birdy.http("GET", "/v1/wakeups?timeout=5", token=token, timeout=15)
        wakes = body.get("wakeups", [])
        check(st == 200 and any(w.get("device") == 1 for w in wakes),
              "the provider got a signed push for bob/1: %r" % body)
        got = received(bob)
        check("wake up, bob" in [t for _, t, _ in got], "bob fetches after the wake-up")

        # ---- provider HTTP down: chat unaffected, pushes retried ----
        birdy.stop()
        t0 = time.time()
        rc, out, err = send(alice, "while birdy's server is down", "bob@birdy.example")
        check(rc == 0 and time.time() - t0 < 5, "sending does not wait for the provider")
        rc, out, err = send(bob, "still here", "alice@gk.example")
        check(rc == 0, "bob still chats with the gatekeeper")
        check("still here" in [t for _, t, _ in received(alice)], "alice gets it")
        time.sleep(2.5)  # the retries (200 ms, 400 ms, 800 ms) run meanwhile
        got = received(bob)
        check("while birdy's server is down" in [t for _, t, _ in got], "nothing was lost")
        # An enlistment needs the provider's answer: with birdy's server
        # down it is refused (fail closed) once the retries are spent,
        # well within the client's own wait.
        mallory = net.client("mallory@birdy.example", "mallory-down")
        t0 = time.time()
        rc, out, err = enlist(net, mallory, shadow, "mallorys-password-1")
        check(rc == 3 and "provider-unavailable" in err and time.time() - t0 < 14,
              "enlistment refused while the provider cannot answer: %r (%.1f s)"
              % (err, time.time() - t0))

        # ---- a provider added while alice is offline: told at her next login ----
        net.ctl("provider", "add", "wren", "--name", "Wren Chat", "--domain", "wren.example",
                "--key", "1:" + birdy.pub, "--agreement", "2026-03-01")
        time.sleep(0.6)  # parleyd rereads the registry every 200 ms
        rc, evs = alice.receive(1)
        told = [e for e in evs if e.get("event") == "provider"]
        check(len(told) == 1 and told[0].get("id") == "wren" and told[0].get("name") == "Wren Chat"
              and told[0].get("protocol") == "signal",
              "alice hears of the new provider at her next connection: %r" % evs)
        rc, evs = alice.receive(1)
        check(not [e for e in evs if e.get("event") == "provider"], "and only once: %r" % evs)
    finally:
        for p in providers:
            p.stop()
    net.stop()
    with open(os.path.join(net.dir, "parleyd.log")) as f:
        log = f.read()
    check(re.search(r"push wake-up to birdy failed after [2-9] attempts", log) is not None,
          "the gatekeeper retried the push and gave up on the provider")
    m = re.findall(r"provider http \(worker \d+\): submitted=(\d+) succeeded=(\d+)", log)
    check(sum(int(s) for s, _ in m) >= 1 and sum(int(ok) for _, ok in m) >= 1,
          "pushes were submitted and some succeeded: %r" % m)
    check("bobs-password-1" not in log and "buy cheap watches" not in log,
          "no password or message text in the gatekeeper's log")
    check("enlistment of bob@birdy.example verified by provider birdy" in log and
          "enlistment of carol@parrot.example verified by provider parrot" in log,
          "the providers confirmed their users before enlistment")
    check("enlistment of mallory@birdy.example refused: provider birdy does not know" in log and
          "enlisted mallory@birdy.example" not in log,
          "the unknown user was refused on birdy's answer, and never enlisted")
    check(re.search(r"user verification by birdy failed after \d+ attempt", log) is not None,
          "the verification call was given up while birdy was down")


def main():
    if len(sys.argv) != 5:
        print(__doc__, file=sys.stderr)
        return 2
    net = GkNet(sys.argv[1], sys.argv[2], sys.argv[3])
    return tc.run_scenario(net, lambda n: scenario(n, sys.argv[4]), tails=("parleyd.log",))


if __name__ == "__main__":
    sys.exit(main())
