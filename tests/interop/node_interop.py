#!/usr/bin/env python3
"""XEdDSA signatures, safety numbers and sender keys between two peers
speaking the parley-peer JSON line protocol: parley-peer against node-peer
(@signalapp/libsignal-client), parley on either side, or node-peer against
itself to validate the scenarios.

    node_interop.py --parley PATH --node node --node-dir tests/interop/node \\
                    --pairs parley:node,node:parley

In a pair X:Y, X plays alice (she signs first, creates the first group
sender key) and Y plays bob. The output ends with `N passed, M failed`."""

import os
import sys
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from peerlib import (b64, check, check_eq, flip, main, pb_fields, scenario,  # noqa: E402
                     unb64)


def sign(p, msg):
    sig = unb64(p.ok("sign", message=b64(msg))["signature"])
    check_eq(len(sig), 64, "%s: signature length" % p.label)
    return sig


def verify(p, key, msg, sig):
    r = p.ok("verify", public_key=b64(key), message=b64(msg), signature=b64(sig))
    check(isinstance(r.get("valid"), bool), "%s: verify without a boolean valid" % p.label)
    return r["valid"]


# ---------------------------------------------------------------- XEdDSA

def xeddsa_one_way(ctx, make_signer, verifier, rounds):
    for i in range(rounds):
        # A fresh identity each round (a new process: init is done once per
        # peer), so that both values of the sign bit are all but certain to
        # occur.
        signer = make_signer("signer%d" % i)
        key = signer.identity_key
        for msg in (b"", b"x", os.urandom(100), os.urandom(1000) + bytes(10)):
            sig = sign(signer, msg)
            check(verify(verifier, key, msg, sig),
                  "%s did not accept %s's signature (round %d, %d bytes)"
                  % (verifier.label, signer.label, i, len(msg)))
            check(verify(signer, key, msg, sig), "%s rejects its own signature" % signer.label)
            if msg:
                check(not verify(verifier, key, flip(msg, ctx.rng.randrange(len(msg)), 4), sig),
                      "%s accepted a changed message" % verifier.label)
            for pos, bit in ((0, 0), (31, 5), (32, 0), (63, 0), (63, 6), (63, 7)):
                check(not verify(verifier, key, msg, flip(sig, pos, bit)),
                      "%s accepted a signature with byte %d bit %d flipped" % (verifier.label, pos, bit))
            other = verifier.identity_key
            check(not verify(verifier, other, msg, sig), "%s accepted the wrong key" % verifier.label)
        signer.close()
        ctx.peers.remove(signer)


@scenario
def xeddsa_both_ways(ctx):
    a = ctx.a()
    b = ctx.b()
    xeddsa_one_way(ctx, lambda name: ctx.a(name), b, 8)
    xeddsa_one_way(ctx, lambda name: ctx.b(name), a, 8)


@scenario
def xeddsa_malformed(ctx):
    a = ctx.a()
    b = ctx.b()
    msg = b"short signatures"
    sig = sign(a, msg)
    for bad in (sig[:63], sig + b"\x00", b""):
        r = b.call("verify", public_key=b64(a.identity_key), message=b64(msg), signature=b64(bad))
        check(r["ok"] is False or r.get("valid") is False,
              "%s: a %d-byte signature answered %r" % (b.label, len(bad), r))
    r = b.call("verify", public_key="%%%", message=b64(msg), signature=b64(sig))
    check_eq((r["ok"], r.get("error")), (False, "bad_request"), "%s: junk key" % b.label)
    r = b.raw(b"{not json")
    check_eq((r["ok"], r.get("error")), (False, "bad_request"), "%s: junk line" % b.label)
    check(verify(b, a.identity_key, msg, sig), "%s still answers" % b.label)


# ---------------------------------------------------------------- fingerprints

def fingerprint(p, local_id, remote_id, remote_key):
    r = p.ok("fingerprint", local_id=b64(local_id), remote_id=b64(remote_id),
             remote_identity_key=b64(remote_key))
    disp = r.get("displayable")
    check(isinstance(disp, str) and len(disp) == 60 and disp.isdigit(),
          "%s: displayable %r" % (p.label, disp))
    return disp, unb64(r["scannable"])


def scannable_parts(data):
    """CombinedFingerprints{version=1, local=2{content=1}, remote=3{content=1}}."""
    version = local = remote = None
    for f, wt, s, e in pb_fields(data):
        if f == 1 and wt == 0:
            version = data[s]
        elif f in (2, 3) and wt == 2:
            inner = data[s:e]
            content = [inner[cs:ce] for cf, cwt, cs, ce in pb_fields(inner) if cf == 1 and cwt == 2]
            check_eq(len(content), 1, "logical fingerprint content")
            if f == 2:
                local = content[0]
            else:
                remote = content[0]
    return version, local, remote


def pb_bytes(field, value):
    return bytes([field << 3 | 2, len(value)]) + value


def combined(version, local, remote):
    return (bytes([0x08, version]) + pb_bytes(2, pb_bytes(1, local)) + pb_bytes(3, pb_bytes(1, remote)))


@scenario
def safety_numbers_equal(ctx):
    a = ctx.a()
    b = ctx.b()
    ids = [(b"+14155550101", b"+14155550202"),
           (uuid.uuid4().bytes, uuid.uuid4().bytes),
           (b"\x00" * 16, b"\x00\x01" * 8),
           (b"alice@parley.example", b"bob@provider.example")]
    seen = set()
    for a_id, b_id in ids:
        da, sa = fingerprint(a, a_id, b_id, b.identity_key)
        db, sb = fingerprint(b, b_id, a_id, a.identity_key)
        check_eq(da, db, "displayable safety numbers of %s and %s" % (a.label, b.label))
        va, la, ra = scannable_parts(sa)
        vb, lb, rb = scannable_parts(sb)
        check_eq((va, vb), (2, 2), "scannable versions")
        check(la is not None and len(la) == 32 and ra is not None and len(ra) == 32,
              "%s: scannable fingerprint contents" % a.label)
        check_eq((la, ra), (rb, lb), "scannable fingerprints are each other's mirror")
        # byte for byte the same encoding on both sides
        check_eq(sa, combined(2, la, ra), "%s: scannable encoding" % a.label)
        check_eq(sb, combined(2, lb, rb), "%s: scannable encoding" % b.label)
        seen.add(da)
    check_eq(len(seen), len(ids), "distinct ids give distinct safety numbers")
    # A changed key changes the number.
    c = ctx.b("carol")
    dc, _ = fingerprint(a, ids[0][0], ids[0][1], c.identity_key)
    da, _ = fingerprint(a, ids[0][0], ids[0][1], b.identity_key)
    check(dc != da, "a different remote key must change the safety number")


# ---------------------------------------------------------------- sender keys

def new_dist():
    return str(uuid.uuid4())


def group_send(p, dist, pt):
    return unb64(p.ok("group_encrypt", distribution_id=dist, plaintext=b64(pt))["ciphertext"])


def group_recv(p, sender, ct):
    return p.call("group_decrypt", sender=sender.name, device=sender.device, ciphertext=b64(ct))


def group_recv_ok(p, sender, ct, want):
    r = group_recv(p, sender, ct)
    check(r["ok"], "%s: group_decrypt from %s failed: %r" % (p.label, sender.label, r.get("error")))
    check_eq(unb64(r["plaintext"]), want, "%s: group plaintext" % p.label)


def join(p, sender, skdm):
    p.ok("group_process", sender=sender.name, device=sender.device, skdm=b64(skdm))


def sender_keys_one_way(ctx, s, r):
    dist = new_dist()
    skdm = unb64(s.ok("group_create", distribution_id=dist)["skdm"])
    early = group_send(s, dist, b"before the receiver joined")
    join(r, s, skdm)
    group_recv_ok(r, s, early, b"before the receiver joined")
    msgs = [(b"g%d" % i + os.urandom(i % 50), None) for i in range(40)]
    msgs = [(pt, group_send(s, dist, pt)) for pt, _ in msgs]
    for pt, ct in msgs[:10]:
        group_recv_ok(r, s, ct, pt)
    rest = msgs[10:]
    ctx.rng.shuffle(rest)
    for pt, ct in rest:
        group_recv_ok(r, s, ct, pt)
    r_dup = group_recv(r, s, msgs[3][1])
    check(not r_dup["ok"] and r_dup.get("error") == "duplicate",
          "%s: replayed group message answered %r" % (r.label, r_dup))
    # tampered body and tampered signature are refused (the signature
    # covers the whole message); the next one decrypts
    pt = b"tamper"
    ct = group_send(s, dist, pt)
    for bad in (flip(ct, len(ct) - 70, 1), flip(ct, len(ct) - 1, 0)):
        rb = group_recv(r, s, bad)
        check(not rb["ok"] and rb.get("error") == "invalid_signature",
              "%s: a tampered group message answered %r" % (r.label, rb))
    # byte 8 lies in the distribution id: a group the receiver has no key for
    rb = group_recv(r, s, flip(ct, 8, 0))
    check(not rb["ok"] and rb.get("error") == "no_session",
          "%s: a message for an unknown distribution answered %r" % (r.label, rb))
    rb = group_recv(r, s, bytes([0x22]) + ct[1:])
    check(not rb["ok"] and rb.get("error") == "legacy_version",
          "%s: a version 2 group message answered %r" % (r.label, rb))
    group_recv_ok(r, s, ct, pt)
    # processing the same distribution message again changes nothing
    join(r, s, skdm)
    r_dup = group_recv(r, s, ct)
    check(not r_dup["ok"] and r_dup.get("error") == "duplicate",
          "%s: replay after re-processing the SKDM answered %r" % (r.label, r_dup))
    # a skip forward of a few hundred messages
    for i in range(300):
        group_send(s, dist, b"lost")
    group_recv_ok(r, s, group_send(s, dist, b"after a gap"), b"after a gap")
    return dist


@scenario
def sender_keys_first_to_second(ctx):
    a = ctx.a()
    b = ctx.b()
    sender_keys_one_way(ctx, a, b)


@scenario
def sender_keys_second_to_first(ctx):
    a = ctx.a()
    b = ctx.b()
    sender_keys_one_way(ctx, b, a)


@scenario
def sender_keys_group_both_ways(ctx):
    """One group, both members send under the same distribution id."""
    a = ctx.a()
    b = ctx.b()
    dist = new_dist()
    join(b, a, unb64(a.ok("group_create", distribution_id=dist)["skdm"]))
    join(a, b, unb64(b.ok("group_create", distribution_id=dist)["skdm"]))
    pending = []
    for i in range(60):
        s, r = (a, b) if ctx.rng.random() < 0.5 else (b, a)
        pt = b"turn %d" % i
        pending.append((s, r, pt, group_send(s, dist, pt)))
        if ctx.rng.random() < 0.4:
            ctx.rng.shuffle(pending)
            for s2, r2, pt2, ct2 in pending:
                group_recv_ok(r2, s2, ct2, pt2)
            pending = []
    for s2, r2, pt2, ct2 in pending:
        group_recv_ok(r2, s2, ct2, pt2)


@scenario
def sender_keys_late_joiner_and_unknown(ctx):
    a = ctx.a()
    b = ctx.b()
    dist = new_dist()
    a.ok("group_create", distribution_id=dist)
    missed = [group_send(a, dist, b"missed %d" % i) for i in range(5)]
    # a distribution message made now starts at the current iteration
    skdm = unb64(a.ok("group_create", distribution_id=dist)["skdm"])
    r = group_recv(b, a, missed[0])
    check(not r["ok"] and r.get("error") == "no_session",
          "%s: a message without a sender key answered %r" % (b.label, r))
    carol = {"sender": "carol", "device": 1}
    join(b, a, skdm)
    ct = group_send(a, dist, b"now")
    group_recv_ok(b, a, ct, b"now")
    r = group_recv(b, a, missed[1])
    check(not r["ok"], "%s: decrypted a message from before its sender key" % b.label)
    r = b.call("group_decrypt", ciphertext=b64(ct), **carol)
    check(not r["ok"] and r.get("error") == "no_session",
          "%s: alice's message claimed by carol answered %r" % (b.label, r))
    for junk in (b"", b"\x33", os.urandom(80)):
        r = group_recv(b, a, junk)
        check(not r["ok"], "%s: junk group message accepted" % b.label)
    r = b.call("group_process", sender=a.name, device=a.device, skdm=b64(b"\x33\x0a\x01"))
    check(not r["ok"], "%s: junk distribution message accepted" % b.label)
    r = b.call("group_create", distribution_id="not-a-uuid")
    check_eq((r["ok"], r.get("error")), (False, "bad_request"), "%s: bad distribution id" % b.label)
    group_recv_ok(b, a, group_send(a, dist, b"still"), b"still")


if __name__ == "__main__":
    sys.exit(main("XEdDSA, safety number and sender key interop scenarios", ["parley", "node", "lsc"],
                  "parley:node,node:parley"))
