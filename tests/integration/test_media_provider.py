#!/usr/bin/env python3
"""The provider's media host and the proxy's per-provider allow-lists.

    test_media_provider.py PARLEY_PROVIDER PARLEY_MEDIAD PARLEYCTL SCENARIO

Scenarios:

host      parley-provider serve --media-dir: a provider user logs in and gets
          the media host's URL and an upload token; uploads are refused
          without a token, with a forged or expired one and with the login
          token; an interrupted upload resumes from the offset the host
          reports; the blob is stored under its SHA-256; Range downloads;
          deletion by the owner only; expiry; a gatekeeper user fetches the
          blob through parley-mediad --proxy allowed for that host, and a
          proxy that does not allow it refuses. HTTPS when configured.
registry  parley-mediad --proxy --db: provider records made with
          `parleyctl provider add ... --media HOST`; a fetch is allowed for
          provider A's host, refused for provider B's host, for an unknown
          provider and for a suspended one, and allowed again once resumed,
          without restarting the proxy.

Everything listens on 127.0.0.1 or 127.0.0.2 with ephemeral ports; every
wait is bounded.
"""
import hashlib
import hmac
import http.client
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.parse

PASSES = [0]
FAILS = []


def check(cond, what):
    if cond:
        PASSES[0] += 1
    else:
        FAILS.append(what)
        print("FAIL:", what, file=sys.stderr)


class Procs:
    def __init__(self, tmp):
        self.tmp = tmp
        self.procs = []

    def start(self, argv, pattern, name, timeout=15):
        """Start argv, wait for every regex in pattern on its output."""
        log_path = os.path.join(self.tmp, name + ".log")
        log = open(log_path, "w")
        p = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        p.name, p.log_path = name, log_path
        self.procs.append(p)
        deadline = time.time() + timeout
        pats = pattern if isinstance(pattern, list) else [pattern]
        while time.time() < deadline:
            with open(log_path) as f:
                text = f.read()
            found = [re.search(x, text) for x in pats]
            if all(found):
                return p, found
            if p.poll() is not None:
                break
            time.sleep(0.05)
        with open(log_path) as f:
            sys.stderr.write(f.read())
        raise RuntimeError(name + " did not start")

    def stop(self, p):
        """SIGTERM; a clean exit is 0 (under ASan, a leak or error is not)."""
        if getattr(p, "checked", False):
            return
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        p.checked = True
        check(p.returncode == 0, "%s exits cleanly (%s)" % (p.name, p.returncode))
        if p.returncode != 0:
            with open(p.log_path) as f:
                sys.stderr.write(f.read()[-4000:])

    def close(self):
        for p in self.procs:
            self.stop(p)


def request(base, method, path, headers=None, body=None, ctx=None, timeout=20):
    """One HTTP request; (status, headers dict lower-cased, body bytes)."""
    u = urllib.parse.urlsplit(base)
    if u.scheme == "https":
        c = http.client.HTTPSConnection(u.hostname, u.port, timeout=timeout, context=ctx)
    else:
        c = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    try:
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        data = r.read()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, data
    finally:
        c.close()


def bearer(t):
    return {"Authorization": "Bearer " + t}


def path_of(url):
    u = urllib.parse.urlsplit(url)
    return u.path + ("?" + u.query if u.query else "")


def media_token(key, user, expires):
    """pmt1 token as docs/media.md "Media credentials" defines it."""
    exp = str(expires)
    mac = hmac.new(key, b"parley media token v1\x00" + user.encode() + b"\x00" + exp.encode(),
                   hashlib.sha256).hexdigest()
    return "pmt1.%s.%s.%s" % (user.encode().hex(), exp, mac)


class Provider:
    """parley-provider serve with a media host and a few users."""

    def __init__(self, procs, prog, tmp, name, domain, users, extra=()):
        self.dir = os.path.join(tmp, name)
        os.makedirs(self.dir)
        self.key = os.path.join(self.dir, "attest.key")
        self.users = os.path.join(self.dir, "users")
        subprocess.run([prog, "keygen", self.key], capture_output=True, check=True, timeout=30)
        self.pub = subprocess.run([prog, "pubkey", self.key], capture_output=True, text=True,
                                  check=True, timeout=30).stdout.strip()
        for u, pw in users.items():
            subprocess.run([prog, "passwd", self.users, u], input=pw + "\n", text=True,
                           capture_output=True, check=True, timeout=60)
        self.media_dir = os.path.join(self.dir, "media")
        self.proc, m = procs.start(
            [prog, "serve", "--id", name, "--domain", domain, "--listen", "127.0.0.1",
             "--port", "0", "--key", self.key, "--users", self.users, "--media-dir",
             self.media_dir, "--media-port", "0"] + list(extra),
            [r"listening on (http://127\.0\.0\.1:\d+)", r"media host on (\S+)"], name)
        self.url = m[0].group(1)
        self.media_url = m[1].group(1)

    def login(self, user, pw):
        st, _, body = request(self.url, "POST", "/v1/login",
                              {"Content-Type": "application/json"},
                              json.dumps({"user": user, "password": pw}))
        return st, json.loads(body or b"{}")


def upload(base, token, blob, ctx=None, cut_at=None):
    """tus-core upload of blob; with cut_at, the first PATCH is cut off after
    that many body bytes and the upload resumed from the host's offset.
    Returns (status of the last request, headers, body)."""
    sha = hashlib.sha256(blob).hexdigest()
    st, h, body = request(base, "POST", "/v1/uploads",
                          dict(bearer(token), **{"Upload-Length": str(len(blob)),
                                                 "Upload-Sha256": sha}), ctx=ctx)
    if st != 201:
        return st, h, body
    loc = h["location"]
    offset = 0
    if cut_at is not None:
        # send the headers for the whole body, then only part of it, then drop
        u = urllib.parse.urlsplit(loc)
        s = socket.create_connection((u.hostname, u.port), timeout=10)
        s.sendall(("PATCH %s HTTP/1.1\r\nHost: %s:%d\r\nAuthorization: Bearer %s\r\n"
                   "Upload-Offset: 0\r\nContent-Type: application/offset+octet-stream\r\n"
                   "Content-Length: %d\r\n\r\n" % (u.path, u.hostname, u.port, token,
                                                   len(blob))).encode() + blob[:cut_at])
        time.sleep(0.3)
        s.close()
        deadline = time.time() + 10
        while time.time() < deadline:
            st, h, _ = request(base, "HEAD", path_of(loc), bearer(token), ctx=ctx)
            if st == 200 and int(h.get("upload-offset", "-1")) > 0:
                offset = int(h["upload-offset"])
                break
            time.sleep(0.1)
        check(0 < offset <= cut_at, "the host kept the bytes before the cut (%d)" % offset)
    deadline = time.time() + 10
    while True:
        st, h, body = request(base, "PATCH", path_of(loc),
                              dict(bearer(token), **{"Upload-Offset": str(offset),
                                                     "Content-Type":
                                                     "application/offset+octet-stream"}),
                              blob[offset:], ctx=ctx)
        # the host may not have noticed the dropped connection yet
        if st == 409 and h.get("parley-error") == "upload_busy" and time.time() < deadline:
            time.sleep(0.1)
            continue
        return st, h, body


def scenario_host(prov_prog, mediad, ctl, tmp):
    procs = Procs(tmp)
    try:
        tkey = os.urandom(32)
        tkey_file = os.path.join(tmp, "prov-media-token.key")
        with open(tkey_file, "w") as f:
            f.write(tkey.hex() + "\n")
        os.chmod(tkey_file, 0o600)
        prov = Provider(procs, prov_prog, tmp, "prov", "prov.example",
                        {"bob": "bob-password-1", "dan": "dan-password-2"},
                        ["--media-ttl", "600", "--media-token-ttl", "3600",
                         "--media-token-key", tkey_file])
        st, j = prov.login("bob", "bob-password-1")
        check(st == 200, "login")
        m = j.get("media", {})
        check(m.get("host") == prov.media_url, "the login answer names the media host")
        check(m.get("token", "").startswith("pmt1."), "the login answer carries a media token")
        check(abs(m.get("expires", 0) - (time.time() + 3600)) < 120, "token lifetime as set")
        tok = m["token"]
        # a fresh token for a logged-in user, without the password
        st, _, body = request(prov.url, "POST", "/v1/media/token", bearer(j["token"]))
        check(st == 200 and json.loads(body)["media"]["token"].startswith("pmt1."),
              "POST /v1/media/token mints a token for the logged-in user")
        st, _, _ = request(prov.url, "POST", "/v1/media/token", bearer("00" * 32))
        check(st == 401, "POST /v1/media/token without a login token is refused")

        blob = os.urandom(300 * 1024 + 26)
        sha = hashlib.sha256(blob).hexdigest()
        base = prov.media_url
        # refusals: no credential, a forged token, the login token, an
        # expired token, a token for a user the provider does not have
        hdr = {"Upload-Length": str(len(blob))}
        st, h, _ = request(base, "POST", "/v1/uploads", hdr)
        check(st == 401 and h.get("parley-error") == "unauthorized", "no token: 401")
        forged = tok[:-1] + ("0" if tok[-1] != "0" else "1")
        st, _, _ = request(base, "POST", "/v1/uploads", dict(bearer(forged), **hdr))
        check(st == 401, "a forged token: 401")
        st, _, _ = request(base, "POST", "/v1/uploads", dict(bearer(j["token"]), **hdr))
        check(st == 401, "the login token is not an upload credential")
        st, _, _ = request(base, "POST", "/v1/uploads",
                           dict(bearer(media_token(os.urandom(32), "bob@prov.example",
                                                   int(time.time()) + 600)), **hdr))
        check(st == 401, "a token under another key: 401")
        st, _, _ = request(base, "POST", "/v1/uploads", dict(bearer("garbage"), **hdr))
        check(st == 401, "a malformed token: 401")
        # tokens under the provider's key (--media-token-key): expired, for a
        # user it does not have, for another domain; and a good one
        st, _, _ = request(base, "POST", "/v1/uploads",
                           dict(bearer(media_token(tkey, "bob@prov.example",
                                                   int(time.time()) - 5)), **hdr))
        check(st == 401, "an expired token: 401")
        st, _, _ = request(base, "POST", "/v1/uploads",
                           dict(bearer(media_token(tkey, "zed@prov.example",
                                                   int(time.time()) + 600)), **hdr))
        check(st == 401, "a token for a user the provider does not have: 401")
        st, _, _ = request(base, "POST", "/v1/uploads",
                           dict(bearer(media_token(tkey, "bob@other.example",
                                                   int(time.time()) + 600)), **hdr))
        check(st == 401, "a token for another domain: 401")
        st, _, _ = request(base, "POST", "/v1/uploads",
                           dict(bearer(media_token(tkey, "bob@prov.example",
                                                   int(time.time()) + 600)),
                                **{"Upload-Length": "64"}))
        check(st == 201, "a token minted with the configured key file is accepted")
        # size limit
        st, h, _ = request(base, "POST", "/v1/uploads",
                           dict(bearer(tok), **{"Upload-Length": str(1 << 40)}))
        check(st == 413, "an upload over the size limit: 413")

        # an interrupted upload, resumed
        st, h, body = upload(base, tok, blob, cut_at=100 * 1024)
        check(st == 201, "the resumed upload completes (%d %r)" % (st, body[:80]))
        url = h.get("location", "")
        check(url.startswith(base + "/v1/media/") and len(url) == len(base) + 10 + 64,
              "a capability URL on the announced host")
        check(h.get("parley-blob-sha256") == sha, "the host reports the blob's SHA-256")
        check(os.path.exists(os.path.join(prov.media_dir, "blobs", sha)),
              "the blob is stored under its SHA-256")
        with open(os.path.join(prov.media_dir, "blobs", sha), "rb") as f:
            check(f.read() == blob, "the stored blob is byte-identical")
        check(url.split("/")[-1] not in "".join(os.listdir(os.path.join(prov.media_dir,
                                                                          "caps"))),
              "the capability itself is not stored")

        # a wrong hash is refused and discarded
        st, h, _ = request(base, "POST", "/v1/uploads",
                           dict(bearer(tok), **{"Upload-Length": "100",
                                                "Upload-Sha256": "00" * 32}))
        loc = h.get("location", "")
        st, h, _ = request(base, "PATCH", path_of(loc),
                           dict(bearer(tok), **{"Upload-Offset": "0", "Content-Type":
                                                "application/offset+octet-stream"}),
                           os.urandom(100))
        check(st == 422 and h.get("parley-error") == "hash_mismatch", "a wrong hash: 422")

        # downloads need no token; Range
        st, h, body = request(base, "GET", path_of(url))
        check(st == 200 and body == blob, "GET the whole blob")
        st, h, body = request(base, "GET", path_of(url), {"Range": "bytes=1000-1999"})
        check(st == 206 and body == blob[1000:2000] and
              h.get("content-range") == "bytes 1000-1999/%d" % len(blob), "Range a-b: 206")
        st, h, body = request(base, "GET", path_of(url), {"Range": "bytes=-26"})
        check(st == 206 and body == blob[-26:], "suffix Range: 206")
        st, h, body = request(base, "GET", path_of(url), {"Range": "bytes=%d-" % (len(blob) - 5)})
        check(st == 206 and body == blob[-5:], "open Range: 206")
        st, h, _ = request(base, "GET", path_of(url), {"Range": "bytes=%d-" % len(blob)})
        check(st == 416 and h.get("content-range") == "bytes */%d" % len(blob), "past the end: 416")
        st, _, _ = request(base, "GET", "/v1/media/" + "ab" * 32)
        check(st == 404, "an unknown capability: 404")

        # a gatekeeper user through the gatekeeper's proxy
        gk_key = os.urandom(32)
        key_file = os.path.join(tmp, "gk-media.key")
        with open(key_file, "w") as f:
            f.write(gk_key.hex() + "\n")
        os.chmod(key_file, 0o600)
        port = urllib.parse.urlsplit(base).port
        px, pm = procs.start([mediad, "--bind", "127.0.0.1", "--proxy", "--proxy-port", "0",
                              "--token-key", key_file, "--allow-loopback",
                              "--allow-host", "127.0.0.1:%d" % port],
                             r"proxy listening on \S+ port (\d+)", "proxy-allowing")
        purl = "http://127.0.0.1:%s" % pm[0].group(1)
        alice = media_token(gk_key, "alice@gk.example", int(time.time()) + 600)
        q = "/v1/proxy?url=%s&provider=prov.example" % urllib.parse.quote(url, safe="")
        st, _, body = request(purl, "GET", q, bearer(alice))
        check(st == 200 and body == blob, "a gatekeeper user fetches the blob through the proxy")
        st, _, _ = request(purl, "GET", q)
        check(st == 401, "the proxy wants the gatekeeper user's token")
        qx, qm = procs.start([mediad, "--bind", "127.0.0.1", "--proxy", "--proxy-port", "0",
                              "--token-key", key_file, "--allow-loopback",
                              "--allow-host", "127.0.0.1:%d" % (port ^ 1)],
                             r"proxy listening on \S+ port (\d+)", "proxy-refusing")
        st, h, _ = request("http://127.0.0.1:%s" % qm[0].group(1), "GET", q, bearer(alice))
        check(st == 403 and h.get("parley-error") == "host_not_allowed",
              "a proxy whose allow-list lacks the host refuses")

        # deletion: the owner only
        st, dj = prov.login("dan", "dan-password-2")
        dan = dj["media"]["token"]
        st, h, _ = request(base, "DELETE", path_of(url), bearer(dan))
        check(st == 403 and h.get("parley-error") == "not_owner", "another user cannot delete")
        st, _, _ = request(base, "DELETE", path_of(url))
        check(st == 401, "DELETE without a token: 401")
        st, _, _ = request(base, "DELETE", path_of(url), bearer(tok))
        check(st == 204, "the owner deletes")
        st, _, _ = request(base, "GET", path_of(url))
        check(st == 404, "a deleted blob is gone")
        check(not os.path.exists(os.path.join(prov.media_dir, "blobs", sha)),
              "its bytes are removed")
        procs.stop(prov.proc)

        # expiry, on a provider whose blobs live 2 seconds
        short = Provider(procs, prov_prog, tmp, "prov-short", "short.example",
                         {"erin": "erin-password-3"}, ["--media-ttl", "2"])
        st, ej = short.login("erin", "erin-password-3")
        small = os.urandom(4096 + 26)
        st, h, _ = upload(short.media_url, ej["media"]["token"], small)
        surl = h.get("location", "")
        st1, _, _ = request(short.media_url, "GET", path_of(surl))
        time.sleep(3.2)
        st2, _, _ = request(short.media_url, "GET", path_of(surl))
        check(st1 == 200 and st2 == 404, "a blob past its lifetime: 404 (%d, %d)" % (st1, st2))
        procs.stop(short.proc)

        # HTTPS where configured
        cert, key = os.path.join(tmp, "media.crt"), os.path.join(tmp, "media.pem")
        r = subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                            "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out",
                            cert, "-days", "1", "-subj", "/CN=127.0.0.1", "-addext",
                            "subjectAltName=IP:127.0.0.1"], capture_output=True, timeout=60)
        if r.returncode != 0:
            check(False, "openssl could not make a test certificate")
            return
        tls = Provider(procs, prov_prog, tmp, "prov-tls", "tls.example",
                       {"fay": "fay-password-4"},
                       ["--media-cert", cert, "--media-cert-key", key])
        check(tls.media_url.startswith("https://127.0.0.1:"), "the HTTPS host is announced")
        ctx = ssl.create_default_context(cafile=cert)
        st, fj = tls.login("fay", "fay-password-4")
        check(fj.get("media", {}).get("host") == tls.media_url, "login names the HTTPS host")
        tblob = os.urandom(70000)
        st, h, _ = upload(tls.media_url, fj["media"]["token"], tblob, ctx=ctx)
        check(st == 201, "upload over HTTPS")
        st, _, body = request(tls.media_url, "GET", path_of(h.get("location", "")),
                              {"Range": "bytes=5-9"}, ctx=ctx)
        check(st == 206 and body == tblob[5:10], "Range over HTTPS")
    finally:
        procs.close()


def scenario_registry(prov_prog, mediad, ctl, tmp):
    procs = Procs(tmp)
    try:
        db = os.path.join(tmp, "gk.db")

        def ctl_run(*args):
            r = subprocess.run([ctl, "--db", db] + list(args), capture_output=True, text=True,
                               timeout=60)
            if r.returncode != 0:
                sys.stderr.write(r.stdout + r.stderr)
            return r.returncode

        # provider A: a parley-provider media host on 127.0.0.1
        prov = Provider(procs, prov_prog, tmp, "prova", "a.example", {"bob": "bob-password-1"})
        st, j = prov.login("bob", "bob-password-1")
        blob_a = os.urandom(50000)
        st, h, _ = upload(prov.media_url, j["media"]["token"], blob_a)
        url_a = h.get("location", "")
        check(st == 201, "provider A's user uploads")
        # provider B: a media host on 127.0.0.2
        bdir = os.path.join(tmp, "provb-media")
        _, bm = procs.start([mediad, "--bind", "127.0.0.2", "--host-dir", bdir, "--host-port",
                             "0", "--token", "b-token=carol@b.example"],
                            r"host listening on \S+ port (\d+)", "provb-host")
        base_b = "http://127.0.0.2:%s" % bm[0].group(1)
        blob_b = os.urandom(40000)
        st, h, _ = upload(base_b, "b-token", blob_b)
        url_b = h.get("location", "")
        check(st == 201, "provider B's user uploads")

        check(ctl_run("provider", "add", "prova", "--name", "Provider A", "--domain",
                      "a.example", "--key", "1:" + prov.pub, "--media", "127.0.0.1") == 0,
              "parleyctl provider add A --media 127.0.0.1")
        check(ctl_run("provider", "add", "provb", "--name", "Provider B", "--domain",
                      "b.example", "--key", "1:" + prov.pub, "--media", "127.0.0.2") == 0,
              "parleyctl provider add B --media 127.0.0.2")

        gk_key = os.urandom(32)
        key_file = os.path.join(tmp, "gk-media.key")
        with open(key_file, "w") as f:
            f.write(gk_key.hex() + "\n")
        # bad setups are refused with a reason
        r = subprocess.run([mediad, "--proxy", "--token-key", key_file, "--db",
                            os.path.join(tmp, "missing.db")], capture_output=True, text=True,
                           timeout=30)
        check(r.returncode != 0 and "missing.db" in r.stderr and
              not os.path.exists(os.path.join(tmp, "missing.db")),
              "a missing database is an error, not a new empty one")
        r = subprocess.run([mediad, "--proxy", "--token-key", key_file, "--db", db,
                            "--allow-host", "x.example"], capture_output=True, text=True,
                           timeout=30)
        check(r.returncode == 2 and "--db" in r.stderr, "--db with --allow-host is refused")

        _, pm = procs.start([mediad, "--bind", "127.0.0.1", "--proxy", "--proxy-port", "0",
                             "--token-key", key_file, "--allow-loopback", "--db", db],
                            r"proxy listening on \S+ port (\d+)", "proxy-db")
        purl = "http://127.0.0.1:%s" % pm[0].group(1)
        alice = media_token(gk_key, "alice@gk.example", int(time.time()) + 600)

        def fetch(url, provider):
            q = "/v1/proxy?url=" + urllib.parse.quote(url, safe="")
            if provider is not None:
                q += "&provider=" + urllib.parse.quote(provider)
            st, h, body = request(purl, "GET", q, bearer(alice))
            return st, h.get("parley-error"), body

        st, err, body = fetch(url_a, "a.example")
        check(st == 200 and body == blob_a, "A's blob for provider A (%s %s)" % (st, err))
        st, err, body = fetch(url_a, "prova")
        check(st == 200 and body == blob_a, "the provider named by its id")
        st, err, body = fetch(url_a, "A.Example")
        check(st == 200, "domains compare without case")
        st, err, _ = fetch(url_b, "a.example")
        check(st == 403 and err == "host_not_allowed", "B's host for provider A: refused")
        st, err, body = fetch(url_b, "b.example")
        check(st == 200 and body == blob_b, "B's blob for provider B")
        st, err, _ = fetch(url_a, "b.example")
        check(st == 403 and err == "host_not_allowed", "A's host for provider B: refused")
        st, err, _ = fetch(url_a, "c.example")
        check(st == 403 and err == "unknown_provider", "an unknown provider: refused")
        st, err, _ = fetch(url_a, None)
        check(st == 403 and err == "unknown_provider", "no provider named: refused")
        st, err, _ = fetch(url_a, "bad domain/..")
        check(st == 403 and err == "unknown_provider", "a malformed provider name: refused")

        # suspension applies to the next request, and so does resumption
        check(ctl_run("provider", "suspend", "prova") == 0, "parleyctl provider suspend A")
        st, err, _ = fetch(url_a, "a.example")
        check(st == 403 and err == "provider_inactive", "a suspended provider: refused")
        st, err, body = fetch(url_b, "b.example")
        check(st == 200, "other providers unaffected")
        check(ctl_run("provider", "resume", "prova") == 0, "parleyctl provider resume A")
        st, err, body = fetch(url_a, "a.example")
        check(st == 200 and body == blob_a, "resumed: allowed again without a restart")
        check(ctl_run("provider", "terminate", "provb") == 0, "parleyctl provider terminate B")
        st, err, _ = fetch(url_b, "b.example")
        check(st == 403 and err == "provider_inactive", "a terminated provider: refused")
    finally:
        procs.close()


def main():
    if len(sys.argv) != 5:
        print(__doc__, file=sys.stderr)
        return 2
    prov, mediad, ctl, scenario = sys.argv[1:]
    tmp = tempfile.mkdtemp(prefix="parley-media-provider-")
    ok = False
    try:
        {"host": scenario_host, "registry": scenario_registry}[scenario](prov, mediad, ctl, tmp)
        ok = not FAILS and PASSES[0] > 0
    except Exception as e:  # report, keep the directory
        FAILS.append(repr(e))
        print("ERROR:", repr(e), file=sys.stderr)
    print("%s: %d checks passed, %d failed" % (scenario, PASSES[0], len(FAILS)))
    if ok:
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        print("logs kept in", tmp, file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
