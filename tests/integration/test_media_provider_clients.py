#!/usr/bin/env python3
"""A third-party user's attachment reaches a gatekeeper user, with real programs.

    test_media_provider_clients.py PARLEYD PARLEYCTL PARLEY PARLEY_PROVIDER PARLEY_MEDIAD

On 127.0.0.1: parleyd announcing a media proxy (parley-mediad --proxy --db
on parleyd's own database, so the allow-list is the provider record's);
parley-provider with its media host; the provider recorded with
`parleyctl provider add ... --media 127.0.0.1`. bob@birdy.example enlists,
logs in to his provider, stores the media host and token its login
answer gives (`parley media-config`), and sends a file to
alice@gk.example; the blob is on the provider's host, and alice's client
fetches it through the gatekeeper's proxy, decrypts and saves it
byte-identical. Once the operator suspends the provider, the proxy
refuses the same download, and alice's client says why and saves
nothing. Every wait is bounded; nothing leaves loopback.
"""
import hashlib
import json
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_client as tc  # noqa: E402  (the harness: Net, Client, check)
import test_interop_e2e as ie  # noqa: E402  (GkNet, Provider, enlist)

check = tc.check


class MediaGkNet(ie.GkNet):
    """parleyd with the interop request key and a media proxy on its database."""

    def __init__(self, parleyd, parleyctl, parley, mediad):
        self.mediad = mediad
        self.mproc = None
        super().__init__(parleyd, parleyctl, parley)

    def server_args(self):
        if not hasattr(self, "conf"):
            key = os.path.join(self.dir, "gk-request.key")
            out = self.ctl("request-key", key)
            self.gk_pub = re.search(r"public key[^:]*: (\S+)", out).group(1)
            self.media_key = os.path.join(self.dir, "media.key")
            with open(self.media_key, "w") as f:
                f.write(os.urandom(32).hex() + "\n")
            os.chmod(self.media_key, 0o600)
            self.proxy_port = tc.free_port()
            self.conf = os.path.join(self.dir, "parleyd.ini")
            with open(self.conf, "w") as f:
                f.write("[interop]\ngatekeeper_key_file = %s\ngatekeeper_key_id = gk-1\n"
                        "[media]\nmedia_proxy = http://127.0.0.1:%d\nmedia_token_key = %s\n"
                        "media_token_ttl_s = 3600\n" % (key, self.proxy_port, self.media_key))
        return super().server_args()

    def start_proxy(self):
        log_path = os.path.join(self.dir, "mediad.log")
        log = open(log_path, "w")
        self.mproc = subprocess.Popen(
            [self.mediad, "--bind", "127.0.0.1", "--proxy", "--proxy-port", str(self.proxy_port),
             "--token-key", self.media_key, "--allow-loopback", "--db", self.db],
            stdout=log, stderr=subprocess.STDOUT)
        deadline = time.time() + 15
        while time.time() < deadline:
            with open(log_path) as f:
                if "proxy listening" in f.read():
                    return
            if self.mproc.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError("parley-mediad did not start")

    def close(self, keep=False):
        tc.stop_proc(self.mproc)
        super().close(keep)


class MediaProvider(ie.Provider):
    """ie.Provider with --media-dir: its serve command gets the media flags."""

    def start(self):
        real = subprocess.Popen
        media_dir = os.path.join(self.dir, "media")
        self.media_dir = media_dir

        def popen(cmd, **kw):
            if len(cmd) > 1 and cmd[0] == self.prog and cmd[1] == "serve":
                cmd = cmd + ["--media-dir", media_dir, "--media-port", "0"]
            return real(cmd, **kw)
        subprocess.Popen = popen
        try:
            super().start()
        finally:
            subprocess.Popen = real


def sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def events(out):
    return [json.loads(l) for l in out.splitlines() if l.startswith("{")]


def scenario(net, prog):
    birdy = MediaProvider(net, prog, "birdy", "birdy.example", {"bob": "bobs-password-1"})
    try:
        net.ctl("provider", "add", "birdy", "--name", "Birdy Messenger", "--domain",
                "birdy.example", "--key", "1:" + birdy.pub, "--push", birdy.url + "/v1/push",
                "--verify", birdy.url + "/v1/verify", "--media", "127.0.0.1")
        net.start_proxy()
        alice = net.client("alice@gk.example", "alice")
        check(alice.register(net.user("alice@gk.example")) == 0, "alice registers")
        bob = net.client("bob@birdy.example", "bob")
        rc, out, err = ie.enlist(net, bob, birdy, "bobs-password-1")
        check(rc == 0, "bob enlists: %r" % err)
        check(alice.run("consent", "birdy", "on")[0] == 0, "alice enables birdy")
        rc, _, err = ie.send(bob, "hello alice", "alice@gk.example")
        check(rc == 0, "bob's first message: %r" % err)
        ie.received(alice)
        check(alice.run("accept", "bob@birdy.example")[0] == 0, "alice accepts bob")

        # bob learns his media host and token from his provider's login answer
        st, body = birdy.http("POST", "/v1/login", {"user": "bob", "password": "bobs-password-1"})
        media = body.get("media", {})
        check(st == 200 and media.get("host", "").startswith("http://127.0.0.1:")
              and media.get("token", "").startswith("pmt1."),
              "the provider's login answer names its media host and a token: %r" % media)
        rc, out, err = bob.run("media-config", "--host", media.get("host", ""), "--token",
                               media.get("token", ""))
        check(rc == 0, "bob stores them: %r" % err)

        path = os.path.join(net.dir, "report.pdf")
        with open(path, "wb") as f:
            f.write(b"%PDF-1.4\n" + os.urandom(300 * 1024))
        blobs = os.path.join(birdy.media_dir, "blobs")
        rc, out, err = bob.run("send", "-a", path, "-m", "the report", "alice@gk.example",
                               timeout=120)
        check(rc == 0, "bob sends a file: %r" % err)
        stored = os.listdir(blobs) if os.path.isdir(blobs) else []
        check(len(stored) == 1, "the blob is on bob's provider's media host: %r" % stored)

        mdir = os.path.join(net.dir, "alice-media")
        rc, out, err = alice.run("receive", "--timeout", "1", "--json", "--media-dir", mdir,
                                 timeout=120)
        evs = events(out)
        msgs = [e for e in evs if e.get("event") == "message"]
        saved = [e for e in evs if e.get("event") == "attachment" and e.get("state") == "saved"]
        check(any(m.get("text") == "the report" for m in msgs), "alice gets the caption: %r" % evs)
        check(len(saved) == 1 and sha(saved[0]["path"]) == sha(path),
              "alice's client fetched it through the proxy and saved it byte-identical: %r %r"
              % (evs, err))
        with open(os.path.join(net.dir, "mediad.log")) as f:
            mlog = f.read()
        check("report" not in mlog and media.get("token", "x") not in mlog,
              "the proxy logs no file names or tokens")

        # the operator suspends birdy: the proxy refuses its media at once
        rc, out, err = ie.send(bob, "one more file", "alice@gk.example")
        rc, out, err = bob.run("send", "-a", path, "alice@gk.example", timeout=120)
        check(rc == 0, "bob sends the file again: %r" % err)
        net.ctl("provider", "suspend", "birdy")
        mdir2 = os.path.join(net.dir, "alice-media-2")
        rc, out, err = alice.run("receive", "--timeout", "1", "--json", "--media-dir", mdir2,
                                 timeout=120)
        evs = events(out)
        failed = [e for e in evs if e.get("event") == "attachment" and e.get("state") == "failed"]
        saved = [e for e in evs if e.get("event") == "attachment" and e.get("state") == "saved"]
        check(not saved and len(failed) == 1 and "provider_inactive" in json.dumps(failed[0]),
              "a suspended provider's media is refused with the reason: %r" % evs)
        check(not os.path.isdir(mdir2) or os.listdir(mdir2) == [], "nothing saved")
    finally:
        birdy.stop()


def main():
    if len(sys.argv) != 6:
        print(__doc__, file=sys.stderr)
        return 2
    net = MediaGkNet(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[5])
    return tc.run_scenario(net, lambda n: scenario(n, sys.argv[4]),
                           tails=("parleyd.log", "mediad.log"), tail_bytes=4000)


if __name__ == "__main__":
    sys.exit(main())
