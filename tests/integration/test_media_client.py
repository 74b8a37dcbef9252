#!/usr/bin/env python3
"""Attachments end to end: real parley clients, parleyd and parley-mediad.

Starts on 127.0.0.1 (ephemeral ports, a temporary directory): a provider's
media host (parley-mediad with a static token), the gatekeeper's media host
and media proxy (parley-mediad --token-key, the key parleyd mints tokens
with) and parleyd announcing both at login; then drives `parley` processes.
Usage:

    test_media_client.py PARLEYD PARLEYCTL PARLEY PARLEY_MEDIAD SCENARIO

Scenarios: files (1 KiB and 10 MiB with a caption, byte-identical in the
receiver's media dir, daemon downloads, no progress output without a
terminal and a progress bar with one), refusals (tampered, truncated and
extended blobs refused with a clear error and nothing saved, then saved
once the blob is whole; a bad upload token), thirdparty (a blob on another
host fetched through the gatekeeper's media proxy). Every wait is bounded;
nothing leaves loopback.
"""
import hashlib
import json
import os
import pty
import select
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_client as tc  # noqa: E402  (the Net/Client harness of the client tests)

check = tc.check


class MediaNet(tc.Net):
    """tc.Net with media: parley-mediad processes and a parleyd.ini announcing them."""

    def __init__(self, parleyd, parleyctl, parley, mediad):
        self.mediad = mediad
        self.media_procs = []
        self.media_conf = None
        super().__init__(parleyd, parleyctl, parley)

    def start_mediad(self, *args):
        log = open(os.path.join(self.dir, "mediad-%d.log" % len(self.media_procs)), "w")
        p = subprocess.Popen([self.mediad, "--bind", "127.0.0.1"] + list(args),
                             stdout=subprocess.PIPE, stderr=log)
        self.media_procs.append(p)
        ports = {}
        want = {"host" if a == "--host-dir" else "proxy" for a in args
                if a in ("--host-dir", "--proxy")}
        buf = b""
        deadline = time.time() + 15
        while set(ports) != want and time.time() < deadline:
            r, _, _ = select.select([p.stdout], [], [], 0.5)
            if not r:
                continue
            data = os.read(p.stdout.fileno(), 4096)
            if not data:
                break
            buf += data
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                words = line.decode().split()
                if len(words) >= 2 and words[1] == "listening":
                    ports[words[0]] = int(words[-1])
        if set(ports) != want:
            raise RuntimeError("parley-mediad did not start")
        return ports

    def start(self):
        if self.media_conf is None:
            key = os.urandom(32).hex()
            self.key_file = os.path.join(self.dir, "media.key")
            with open(self.key_file, "w") as f:
                f.write(key + "\n")
            os.chmod(self.key_file, 0o600)
            # the provider's host first: the gatekeeper's proxy allows it by port
            self.prov_dir = os.path.join(self.dir, "provider-media")
            self.prov_token = "provider-upload-token-" + os.urandom(8).hex()
            pp = self.start_mediad("--host-dir", self.prov_dir, "--token",
                                   self.prov_token + "=carol@prov.example")
            self.prov_url = "http://127.0.0.1:%d" % pp["host"]
            self.gk_dir = os.path.join(self.dir, "gk-media")
            gp = self.start_mediad("--host-dir", self.gk_dir, "--proxy", "--token-key",
                                   self.key_file, "--allow-host", "127.0.0.1:%d" % pp["host"],
                                   "--allow-loopback")
            self.gk_url = "http://127.0.0.1:%d" % gp["host"]
            self.proxy_url = "http://127.0.0.1:%d" % gp["proxy"]
            self.media_conf = os.path.join(self.dir, "parleyd.ini")
            with open(self.media_conf, "w") as f:
                f.write("[media]\nmedia_host = %s\nmedia_proxy = %s\nmedia_token_key = %s\n"
                        "media_token_ttl_s = 3600\n" % (self.gk_url, self.proxy_url, self.key_file))
        super().start()

    def server_args(self):
        return ["--config", self.media_conf]

    def close(self, keep=False):
        for p in self.media_procs:
            tc.stop_proc(p)
        super().close(keep)


def sha(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def make_png(path, size):
    """A PNG signature and IHDR (16 x 9) followed by random bytes."""
    import struct
    import zlib
    ihdr = struct.pack(">IIBBBBB", 16, 9, 8, 2, 0, 0, 0)
    chunk = struct.pack(">I", len(ihdr)) + b"IHDR" + ihdr + \
        struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    data = b"\x89PNG\r\n\x1a\n" + chunk
    with open(path, "wb") as f:
        f.write(data + os.urandom(size - len(data)))


def make_random(path, size):
    with open(path, "wb") as f:
        left = size
        while left:
            n = min(left, 1 << 20)
            f.write(os.urandom(n))
            left -= n


def events(out):
    return [json.loads(l) for l in out.splitlines() if l.startswith("{")]


def saved(evs):
    return [e for e in evs if e.get("event") == "attachment" and e.get("state") == "saved"]


def refused(evs):
    return [e for e in evs if e.get("event") == "attachment" and e.get("state") == "failed"]


def no_progress(err, what):
    check("\r" not in err and "%" not in err and "upload  " not in err, "no progress output " + what)


def run_tty(client, *args, timeout=60):
    """Runs parley with stderr on a pseudo-terminal; returns (rc, stdout, terminal output)."""
    master, slave = pty.openpty()
    cmd = [client.net.parley, "-a", client.account, "--config", client.path] + list(args)
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=slave, stdin=subprocess.DEVNULL)
    os.close(slave)
    got = b""
    deadline = time.time() + timeout
    while time.time() < deadline:
        r, _, _ = select.select([master], [], [], 0.2)
        if r:
            try:
                data = os.read(master, 65536)
            except OSError:
                break  # EIO: the last writer closed
            if not data:
                break
            got += data
        elif p.poll() is not None:
            break
    os.close(master)
    out = p.stdout.read().decode()
    p.stdout.close()
    try:
        rc = p.wait(timeout=10)
    except subprocess.TimeoutExpired:
        p.kill()
        rc = p.wait()
    return rc, out, got.decode(errors="replace")


def two_users(net):
    a = net.client("alice@gk.example", "alice")
    b = net.client("bob@gk.example", "bob")
    check(a.register(net.user("alice@gk.example")) == 0, "alice registers")
    check(b.register(net.user("bob@gk.example")) == 0, "bob registers")
    return a, b


def newest_blob(net, before):
    blobs = os.path.join(net.gk_dir, "blobs")
    new = [f for f in os.listdir(blobs) if f not in before]
    return os.path.join(blobs, new[0]) if len(new) == 1 else None


# ---- scenarios ----

def scenario_files(net):
    a, b = two_users(net)
    d = net.dir
    small = os.path.join(d, "photo.png")
    big = os.path.join(d, "big clip.dat")
    make_png(small, 1024)
    make_random(big, 10 << 20)
    media = os.path.join(d, "bob-media")

    rc, out, err = a.run("send", "-a", small, "--attach", big, "-m", "caption: two files",
                         "bob@gk.example", timeout=120)
    check(rc == 0 and out.startswith("bob@gk.example "), "alice sends two files: %d %s %s" % (rc, out, err))
    no_progress(err, "when sending without a terminal")
    msg_id = out.split()[1] if rc == 0 else "?"
    # the host holds ciphertext only
    sample = open(small, "rb").read()[64:128]
    check(tc.grep_tree(net.gk_dir, []) == [] and not any(
        sample in open(os.path.join(net.gk_dir, "blobs", f), "rb").read()
        for f in os.listdir(os.path.join(net.gk_dir, "blobs"))), "no plaintext on the media host")

    rc, out, err = b.run("receive", "--timeout", "1", "--json", "--media-dir", media, timeout=120)
    evs = events(out)
    no_progress(err, "when receiving without a terminal")
    msgs = [e for e in evs if e.get("event") == "message"]
    check(rc == 0 and len(msgs) == 1 and msgs[0].get("text") == "caption: two files"
          and msgs[0].get("attachments") == 2 and msgs[0].get("id") == msg_id,
          "bob gets the caption with 2 attachments: %d %s %s" % (rc, evs, err))
    sv = saved(evs)
    check(len(sv) == 2, "both attachments saved: %s" % evs)
    by_name = {os.path.basename(e["path"]): e for e in sv}
    check(set(by_name) == {"photo.png", "big clip.dat"}, "saved under the sender's names: %s" % by_name)
    if "photo.png" in by_name:
        e = by_name["photo.png"]
        check(e["mime_type"] == "image/png" and e["size"] == 1024, "png detected: %s" % e)
        check(sha(e["path"]) == sha(small), "1 KiB file byte-identical")
    if "big clip.dat" in by_name:
        e = by_name["big clip.dat"]
        check(e["mime_type"] == "application/octet-stream" and e["size"] == 10 << 20,
              "10 MiB file: %s" % e)
        check(sha(e["path"]) == sha(big), "10 MiB file byte-identical")
    check(sorted(os.listdir(media)) == ["big clip.dat", "photo.png"],
          "nothing else in the media dir: %s" % os.listdir(media))
    check(oct(os.stat(media).st_mode & 0o777) == "0o700", "media dir is private")

    # the same name again gets a name of its own, never overwriting
    rc, out, _ = a.run("send", "-a", small, "bob@gk.example")
    check(rc == 0, "alice sends the png again without a caption")
    rc, out, err = b.run("receive", "--timeout", "1", "--json", "--media-dir", media)
    sv = saved(events(out))
    check(len(sv) == 1 and os.path.basename(sv[0]["path"]) == "photo (1).png"
          and sha(sv[0]["path"]) == sha(small), "second copy saved beside the first: %s" % sv)

    # --no-download leaves it for `download`, which says where it put it
    rc, out, _ = a.run("send", "-a", small, "-m", "later", "bob@gk.example")
    later_id = out.split()[1] if rc == 0 else "?"
    rc, out, _ = b.run("receive", "--timeout", "1", "--json", "--no-download", "--media-dir", media)
    av = [e for e in events(out) if e.get("event") == "attachment"]
    check(len(av) == 1 and av[0]["state"] == "available", "announced, not fetched: %s" % av)
    rc, out, err = b.run("download", "--media-dir", media, later_id)
    check(rc == 0 and "saved to " + os.path.join(media, "photo (2).png") in out,
          "download on demand says where: %d %s %s" % (rc, out, err))
    rc, out, _ = b.run("download", "--media-dir", media, later_id)
    check(rc == 0 and "already saved" in out, "a second download has nothing to do: " + out)
    rc, out, err = b.run("download", "--media-dir", media, "0123456789abcdef01234567")
    check(rc == 1 and "no attachment" in err, "unknown message id: %d %s" % (rc, err))

    # the default media dir lives in the account's directory; daemon downloads too
    b.start_daemon()
    time.sleep(0.5)
    rc, out, _ = a.run("send", "-a", small, "-m", "to the daemon", "bob@gk.example")
    check(rc == 0, "alice sends to bob's daemon")
    check(tc.wait_for(lambda: len(saved(b.daemon_events())) == 1, 20), "daemon saved it")
    sv = saved(b.daemon_events())
    check(len(sv) == 1 and sv[0]["path"] == os.path.join(b.path, "media", "photo.png")
          and sha(sv[0]["path"]) == sha(small), "daemon: default media dir: %s" % sv)
    b.kill_daemon()

    # progress bars on a terminal, for the upload and the download
    rc, out, tty = run_tty(a, "send", "-a", big, "-m", "on a terminal", "bob@gk.example")
    check(rc == 0 and "upload" in tty and "100%" in tty and "big clip.dat" in tty,
          "upload progress on a terminal: %d %r" % (rc, tty[-300:]))
    rc, out, tty = run_tty(b, "receive", "--timeout", "1", "--media-dir", media)
    check(rc == 0 and "download" in tty and "100%" in tty and "saved to" in out,
          "download progress on a terminal: %d %r %s" % (rc, tty[-300:], out))


def scenario_refusals(net):
    a, b = two_users(net)
    d = net.dir
    media = os.path.join(d, "bob-media")
    blobs = os.path.join(net.gk_dir, "blobs")

    def send_and_find(name, size):
        path = os.path.join(d, name)
        make_random(path, size)
        before = set(os.listdir(blobs)) if os.path.isdir(blobs) else set()
        rc, out, err = a.run("send", "-a", path, "-m", "about " + name, "bob@gk.example")
        check(rc == 0, "alice sends %s: %s" % (name, err))
        return path, (out.split()[1] if rc == 0 else "?"), newest_blob(net, before)

    for how in ("tampered", "truncated", "extended"):
        path, mid, blob = send_and_find(how + ".bin", 3000)
        check(blob is not None, "the %s blob is on the host" % how)
        if blob is None:
            continue
        orig = open(blob, "rb").read()
        if how == "tampered":
            bad = bytearray(orig)
            bad[1500] ^= 0x01
            bad = bytes(bad)
        elif how == "truncated":
            bad = orig[:-7]
        else:
            bad = orig + b"0123456789abcdef"
        with open(blob, "wb") as f:
            f.write(bad)
        rc, out, err = b.run("receive", "--timeout", "1", "--json", "--media-dir", media)
        evs = events(out)
        msgs = [e for e in evs if e.get("event") == "message"]
        rf = refused(evs)
        check(len(msgs) == 1 and msgs[0].get("text") == "about %s.bin" % how,
              "%s: the message itself arrives: %s" % (how, evs))
        check(rc == 7 and len(rf) == 1 and not saved(evs), "%s blob refused (exit 7): %d %s" % (how, rc, evs))
        check("REFUSED" in err and ("does not match its hashes" in err or "longer than announced" in err
                                    or "refused the download" in err),
              "%s: a clear error on stderr: %s" % (how, err))
        check(not os.path.exists(os.path.join(media, how + ".bin")), "%s: nothing saved" % how)
        check([f for f in os.listdir(media) if f.startswith(".")] == [] if os.path.isdir(media) else True,
              "%s: no partial file left" % how)
        # again on demand: still refused
        rc, out, err = b.run("download", "--media-dir", media, mid)
        check(rc == 7 and "REFUSED" in out + err, "%s: download refuses too: %d %s" % (how, rc, err))
        # the blob made whole again: the message lost nothing
        with open(blob, "wb") as f:
            f.write(orig)
        rc, out, err = b.run("download", "--media-dir", media, mid)
        saved_path = os.path.join(media, how + ".bin")
        check(rc == 0 and os.path.exists(saved_path) and sha(saved_path) == sha(path),
              "%s: saved once the blob is whole: %d %s %s" % (how, rc, out, err))

    # a bad upload token: the host says why, nothing is sent
    rc, out, err = a.run("media-config", "--host", net.gk_url, "--token", "pmt1.bad.1.00")
    check(rc == 0 and net.gk_url in out, "alice overrides her media host: %s" % out)
    path = os.path.join(d, "denied.bin")
    make_random(path, 100)
    rc, out, err = a.run("send", "-a", path, "-m", "never sent", "bob@gk.example")
    check(rc == 7 and "unauthorized" in err and out == "", "upload refused: %d %s" % (rc, err))
    rc, out, err = a.run("media-config", "--clear")
    check(rc == 0 and net.gk_url in out, "override cleared, the announced host back: " + out)
    rc, out, err = b.run("receive", "--timeout", "1", "--json", "--media-dir", media)
    check("never sent" not in out, "nothing arrived for the refused upload")
    # a file that cannot be read
    rc, out, err = a.run("send", "-a", os.path.join(d, "missing.bin"), "bob@gk.example")
    check(rc == 7 and "cannot attach" in err, "missing file: %d %s" % (rc, err))
    rc, out, err = a.run("send", "-a", d, "bob@gk.example")
    check(rc == 7 and "not a regular file" in err, "a directory: %d %s" % (rc, err))


def scenario_thirdparty(net):
    """alice's uploads go to another host (as a third-party user's go to its
    provider's); bob, a gatekeeper user, fetches them through the proxy."""
    a, b = two_users(net)
    d = net.dir
    media = os.path.join(d, "bob-media")
    rc, out, err = a.run("media-config", "--host", net.prov_url, "--token", net.prov_token)
    check(rc == 0 and net.prov_url in out, "alice uses the provider's host: " + out)
    path = os.path.join(d, "voice.ogg")
    with open(path, "wb") as f:
        f.write(b"OggS" + b"\0" * 24 + b"OpusHead" + os.urandom(4000))
    rc, out, err = a.run("send", "-a", path, "-m", "from afar", "bob@gk.example")
    check(rc == 0, "alice sends through the provider's host: %s" % err)
    check(os.listdir(os.path.join(net.prov_dir, "blobs")) != [], "the blob is on the provider's host")
    rc, out, err = b.run("receive", "--timeout", "1", "--json", "--media-dir", media)
    sv = saved(events(out))
    check(rc == 0 and len(sv) == 1 and sha(sv[0]["path"]) == sha(path)
          and sv[0]["mime_type"] == "audio/ogg; codecs=opus", "bob saved it: %d %s %s" % (rc, out, err))
    check("through the media proxy" in err, "fetched through the gatekeeper's proxy: " + err)
    # the other way: gatekeeper media reaches alice (whose own host is the
    # provider's) straight from the gatekeeper's host, not through the proxy
    gk_file = os.path.join(d, "from the gatekeeper.txt")
    with open(gk_file, "w") as f:
        f.write("plain text from a gatekeeper user\n" * 40)
    rc, out, err = b.run("send", "-a", gk_file, "alice@gk.example")
    check(rc == 0, "bob sends through the gatekeeper's host: %s" % err)
    rc, out, err = a.run("receive", "--timeout", "1", "--json", "--media-dir",
                         os.path.join(d, "alice-media"))
    sv = saved(events(out))
    check(rc == 0 and len(sv) == 1 and sha(sv[0]["path"]) == sha(gk_file)
          and sv[0]["mime_type"] == "text/plain", "alice saved it: %d %s" % (rc, out))
    check("through the media proxy" not in err, "gatekeeper media fetched directly: " + err)
    # without the proxy's allow-list entry the same fetch is refused: a
    # proxy with no allowed hosts, announced through bob's own override
    pp = net.start_mediad("--proxy", "--token-key", net.key_file, "--allow-loopback",
                          "--allow-host", "192.0.2.1")
    rc, out, err = b.run("media-config", "--proxy", "http://127.0.0.1:%d" % pp["proxy"])
    check(rc == 0, "bob points at the strict proxy")
    rc, out, err = a.run("send", "-a", path, "-m", "refused by the proxy", "bob@gk.example")
    rc, out, err = b.run("receive", "--timeout", "1", "--json", "--media-dir", media)
    rf = refused(events(out))
    check(rc == 7 and len(rf) == 1 and "host_not_allowed" in rf[0].get("error", ""),
          "the proxy's allow-list applies: %d %s" % (rc, out))


SCENARIOS = {"files": scenario_files, "refusals": scenario_refusals,
             "thirdparty": scenario_thirdparty}


def main():
    if len(sys.argv) != 6 or sys.argv[5] not in SCENARIOS:
        print(__doc__, file=sys.stderr)
        return 2
    net = MediaNet(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4])
    return tc.run_scenario(net, SCENARIOS[sys.argv[5]],
                           scan=lambda f: (".stderr" in f or f == "parleyd.log"
                                           or f.startswith("mediad-")))


if __name__ == "__main__":
    sys.exit(main())
