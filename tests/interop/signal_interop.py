#!/usr/bin/env python3
"""1:1 Signal sessions between two peers speaking the parley-peer JSON line
protocol: parley-peer against lsc-peer (libsignal-protocol-c 2.3.3), parley
on either side, or a reference against itself to validate the scenarios.

    signal_interop.py --parley PATH --lsc PATH --pairs parley:lsc,lsc:parley
    signal_interop.py --lsc PATH --pairs lsc:lsc --only too_far_ahead

In a pair X:Y, X plays alice (she fetches bob's bundle and starts) and Y
plays bob. Each scenario is a function below; the output ends with
`N passed, M failed`."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from peerlib import (b64, check, check_eq, flip, main, pb_field, pb_fields,  # noqa: E402
                     scenario, unb64)

BUNDLE_KEYS = ["registration_id", "device_id", "identity_key", "signed_prekey_id",
               "signed_prekey", "signed_prekey_signature"]


def text(i, who="m"):
    return ("%s-%d " % (who, i)).encode() + bytes(range(i % 7)) + b"\xff" * (i % 3)


def established(ctx, one_time=True, store=False):
    """alice starts from bob's bundle, sends a pkmsg, bob answers: a session
    both sides have acknowledged."""
    a = ctx.a(store=store)
    b = ctx.b(store=store)
    a.start_session(b, b.bundle(one_time))
    m = a.encrypt(b, b"hello bob")
    check_eq(m[0], "pkmsg", "first message type")
    b.decrypt_ok(a, m, b"hello bob")
    r = b.encrypt(a, b"hello alice")
    check_eq(r[0], "msg", "bob's reply type")
    a.decrypt_ok(b, r, b"hello alice")
    return a, b


def exchange(ctx, a, b, n, tag="x"):
    """n messages in order, random direction changes."""
    for i in range(n):
        s, r = (a, b) if ctx.rng.random() < 0.5 else (b, a)
        pt = text(i, tag)
        m = s.encrypt(r, pt)
        r.decrypt_ok(s, m, pt)


def signal_message_of(msg):
    """The SignalMessage bytes inside a msg or pkmsg, and a function that
    puts changed SignalMessage bytes back."""
    t, ct = msg
    if t == "msg":
        return ct, lambda inner: inner
    s, e = pb_field(ct[1:], 4)  # PreKeySignalMessage.message
    s += 1
    e += 1

    def rebuild(inner):
        check_eq(len(inner), e - s, "inner length")
        return ct[:s] + inner + ct[e:]
    return ct[s:e], rebuild


def check_bundle(bundle, one_time):
    for k in BUNDLE_KEYS:
        check(k in bundle, "bundle lacks %s" % k)
    check_eq(len(unb64(bundle["identity_key"])), 33, "identity key length")
    check_eq(unb64(bundle["identity_key"])[0], 5, "identity key type byte")
    check_eq(len(unb64(bundle["signed_prekey"])), 33, "signed prekey length")
    check_eq(len(unb64(bundle["signed_prekey_signature"])), 64, "signature length")
    if one_time:
        check("prekey" in bundle and "prekey_id" in bundle, "bundle lacks the one-time prekey")
        check_eq(len(unb64(bundle["prekey"])), 33, "one-time prekey length")
    else:
        check("prekey" not in bundle and "prekey_id" not in bundle,
              "one_time=false bundle carries a one-time prekey")


# ---------------------------------------------------------------- scenarios

@scenario
def session_with_one_time_prekey(ctx):
    a = ctx.a()
    b = ctx.b()
    bundle = b.bundle(True)
    check_bundle(bundle, True)
    check_eq(unb64(bundle["identity_key"]), b.identity_key, "bundle identity = init identity")
    second = b.bundle(True)
    check(second["prekey_id"] != bundle["prekey_id"] and second["prekey"] != bundle["prekey"],
          "each bundle call must hand out a fresh one-time prekey")
    a.start_session(b, bundle)
    first = [a.encrypt(b, text(i)) for i in range(3)]
    for m in first:
        check_eq(m[0], "pkmsg", "messages before an answer are pkmsg")
    for i, m in enumerate(first):
        b.decrypt_ok(a, m, text(i))
    r = b.encrypt(a, b"reply")
    check_eq(r[0], "msg", "responder's first message type")
    a.decrypt_ok(b, r, b"reply")
    m = a.encrypt(b, b"after reply")
    check_eq(m[0], "msg", "initiator's type once answered")
    b.decrypt_ok(a, m, b"after reply")


@scenario
def session_without_one_time_prekey(ctx):
    a = ctx.a()
    b = ctx.b()
    bundle = b.bundle(False)
    check_bundle(bundle, False)
    a.start_session(b, bundle)
    m = a.encrypt(b, b"no one-time prekey")
    check_eq(m[0], "pkmsg", "first message type")
    b.decrypt_ok(a, m, b"no one-time prekey")
    exchange(ctx, a, b, 20)


@scenario
def responder_side_starts(ctx):
    """The second kind fetches the first kind's bundle this time."""
    a = ctx.a()
    b = ctx.b()
    b.start_session(a, a.bundle(True))
    m = b.encrypt(a, b"from the other side")
    check_eq(m[0], "pkmsg", "first message type")
    a.decrypt_ok(b, m, b"from the other side")
    exchange(ctx, a, b, 20)


@scenario
def long_conversation_random_directions(ctx):
    a, b = established(ctx)
    n = 1200
    print("    %d messages, seed %d" % (n, ctx.seed))
    i = 0
    while i < n:
        s, r = (a, b) if ctx.rng.random() < 0.5 else (b, a)
        for _ in range(ctx.rng.randint(1, 6)):
            pt = text(i, "long")
            m = s.encrypt(r, pt)
            check_eq(m[0], "msg", "message type in an acknowledged session")
            r.decrypt_ok(s, m, pt)
            i += 1


@scenario
def out_of_order_and_dropped(ctx):
    """Rounds of random direction; each receiver gets its messages shuffled,
    some held back for a later round (so they arrive after the next ratchet
    step) and some never delivered."""
    a, b = established(ctx)
    pending = {id(a): [], id(b): []}
    delivered = dropped = held_total = 0
    for rnd in range(150):
        s, r = (a, b) if ctx.rng.random() < 0.5 else (b, a)
        for k in range(ctx.rng.randint(1, 8)):
            pt = text(rnd * 10 + k, "ooo")
            pending[id(r)].append((rnd, pt, s.encrypt(r, pt)))
        q = pending[id(r)]
        ctx.rng.shuffle(q)
        keep = []
        for item in q:
            age = rnd - item[0]
            roll = ctx.rng.random()
            if roll < 0.1:
                dropped += 1
            elif roll < 0.35 and age < 2:
                keep.append(item)
                held_total += 1
            else:
                r.decrypt_ok(s, item[2], item[1])
                delivered += 1
        pending[id(r)] = keep
    for p, s in ((a, b), (b, a)):
        for item in pending[id(p)]:
            p.decrypt_ok(s, item[2], item[1])
            delivered += 1
    print("    delivered %d (%d held back a round), dropped %d" % (delivered, held_total, dropped))
    check(delivered > 300 and dropped > 10, "the scenario exercised too little")
    exchange(ctx, a, b, 10, "after")


@scenario
def skipped_keys_across_ratchet_steps(ctx):
    """Messages from an older sending chain arrive after the newer chain."""
    a, b = established(ctx)
    old = [a.encrypt(b, text(i, "old")) for i in range(5)]
    b.decrypt_ok(a, old[4], text(4, "old"))
    r = b.encrypt(a, b"ratchet")
    a.decrypt_ok(b, r, b"ratchet")
    new = [a.encrypt(b, text(i, "new")) for i in range(3)]
    b.decrypt_ok(a, new[2], text(2, "new"))
    for i in (0, 3, 1, 2):
        b.decrypt_ok(a, old[i], text(i, "old"))
    for i in (1, 0):
        b.decrypt_ok(a, new[i], text(i, "new"))
    b.decrypt_err(a, old[2], "duplicate")
    b.decrypt_err(a, new[1], "duplicate")


@scenario
def too_far_ahead(ctx):
    a, b = established(ctx)
    m0 = a.encrypt(b, b"in step")
    b.decrypt_ok(a, m0, b"in step")
    burst = [a.encrypt(b, text(i, "burst")) for i in range(2500)]
    # 2400 keys would have to be skipped: more than the 2000 kept.
    b.decrypt_err(a, burst[2400], "too_far_ahead")
    b.decrypt_err(a, burst[2499], "too_far_ahead")
    # The refusal changed nothing: the chain still works from where it was.
    b.decrypt_ok(a, burst[0], text(0, "burst"))
    b.decrypt_ok(a, burst[1500], text(1500, "burst"))  # skips 1499: allowed
    b.decrypt_ok(a, burst[700], text(700, "burst"))
    b.decrypt_ok(a, burst[2400], text(2400, "burst"))  # now within reach
    r = b.encrypt(a, b"still here")
    a.decrypt_ok(b, r, b"still here")
    exchange(ctx, a, b, 10, "after")


@scenario
def tampered_ciphertext_and_mac(ctx):
    a, b = established(ctx)
    for sender, receiver in ((a, b), (b, a)):
        pt = b"tamper with me " * 3
        m = sender.encrypt(receiver, pt)
        check_eq(m[0], "msg", "type")
        ct = m[1]
        s, e = pb_field(ct[1:-8], 4)  # SignalMessage.ciphertext
        body = flip(ct, 1 + (s + e) // 2, 3)
        receiver.decrypt_err(sender, ("msg", body), "invalid_mac")
        mac = flip(ct, len(ct) - 1, 7)
        receiver.decrypt_err(sender, ("msg", mac), "invalid_mac")
        counter = flip(ct, 1 + pb_field(ct[1:-8], 2)[0], 0)  # SignalMessage.counter
        r = receiver.decrypt(sender, ("msg", counter))
        check(not r["ok"], "a message with a changed counter decrypted")
        receiver.decrypt_ok(sender, m, pt)
        pt2 = b"and the next one"
        m2 = sender.encrypt(receiver, pt2)
        receiver.decrypt_ok(sender, m2, pt2)


@scenario
def tampered_prekey_message(ctx):
    a = ctx.a()
    b = ctx.b()
    a.start_session(b, b.bundle(True))
    m = a.encrypt(b, b"first")
    inner, rebuild = signal_message_of(m)
    bad = ("pkmsg", rebuild(flip(inner, len(inner) - 1, 0)))
    b.decrypt_err(a, bad, "invalid_mac")
    b.decrypt_ok(a, m, b"first")
    exchange(ctx, a, b, 6)


@scenario
def replays_are_duplicates(ctx):
    a = ctx.a()
    b = ctx.b()
    a.start_session(b, b.bundle(True))
    pk = a.encrypt(b, b"pk")
    b.decrypt_ok(a, pk, b"pk")
    b.decrypt_err(a, pk, "duplicate")
    r = b.encrypt(a, b"r1")
    a.decrypt_ok(b, r, b"r1")
    a.decrypt_err(b, r, "duplicate")
    m = a.encrypt(b, b"m1")
    b.decrypt_ok(a, m, b"m1")
    b.decrypt_err(a, m, "duplicate")
    # A replay of the pkmsg after the session moved on is still a duplicate.
    b.decrypt_err(a, pk, "duplicate")
    exchange(ctx, a, b, 4)
    b.decrypt_err(a, m, "duplicate")


@scenario
def bad_signed_prekey_signature(ctx):
    a = ctx.a()
    b = ctx.b()
    bundle = b.bundle(True)
    bad = dict(bundle)
    bad["signed_prekey_signature"] = b64(flip(unb64(bundle["signed_prekey_signature"]), 10, 2))
    a.err("start", "invalid_signature", peer=b.name, device=b.device, bundle=bad)
    bad = dict(bundle)
    bad["signed_prekey"] = b64(flip(unb64(bundle["signed_prekey"]), 20, 1))
    a.err("start", "invalid_signature", peer=b.name, device=b.device, bundle=bad)
    bad = dict(bundle)
    other = ctx.b("mallory")
    bad["identity_key"] = b64(other.identity_key)
    a.err("start", "invalid_signature", peer=b.name, device=b.device, bundle=bad)
    # Nothing was stored by the refusals: a good bundle still works, and the
    # refused identity did not become the trusted one.
    a.start_session(b, bundle)
    m = a.encrypt(b, b"signed properly")
    b.decrypt_ok(a, m, b"signed properly")


@scenario
def identity_change(ctx):
    a, b = established(ctx)
    exchange(ctx, a, b, 4)
    # bob reinstalls: same name, new identity, and he starts towards alice.
    b2 = ctx.b("bob")
    check(b2.identity_key != b.identity_key, "a new identity")
    b2.start_session(a, a.bundle(True))
    m = b2.encrypt(a, b"new phone")
    a.decrypt_err(b2, m, "untrusted_identity")
    a.ok("trust", peer="bob", identity_key=b64(b2.identity_key))
    a.decrypt_ok(b2, m, b"new phone")
    r = a.encrypt(b2, b"welcome back")
    b2.decrypt_ok(a, r, b"welcome back")
    # bob reinstalls again; this time alice starts from his bundle.
    b3 = ctx.b("bob")
    bundle = b3.bundle(True)
    a.err("start", "untrusted_identity", peer="bob", device=1, bundle=bundle)
    a.ok("trust", peer="bob", identity_key=b64(b3.identity_key))
    a.start_session(b3, bundle)
    m = a.encrypt(b3, b"hello again")
    b3.decrypt_ok(a, m, b"hello again")
    exchange(ctx, a, b3, 6)


@scenario
def trust_is_per_name_for_all_devices(ctx):
    a, b = established(ctx)
    b_dev2 = ctx.b("bob", device=2)  # a different identity under the same name
    bundle = b_dev2.bundle(True)
    a.err("start", "untrusted_identity", peer="bob", device=2, bundle=bundle)
    a.ok("trust", peer="bob", identity_key=b64(b_dev2.identity_key))
    a.start_session(b_dev2, bundle)
    m = a.encrypt(b_dev2, b"to device 2")
    b_dev2.decrypt_ok(a, m, b"to device 2")
    # the name now trusts the second key, for every device
    a.err("start", "untrusted_identity", peer="bob", device=1, bundle=b.bundle(True))


@scenario
def late_messages_from_older_chains(ctx):
    """Messages of four successive sending chains held back and delivered
    last, newest chain first (libsignal-protocol-c keeps five receiving
    chains)."""
    a, b = established(ctx)
    held = []
    for step in range(4):
        batch = [a.encrypt(b, text(i, "c%d" % step)) for i in range(4)]
        b.decrypt_ok(a, batch[3], text(3, "c%d" % step))
        held.append((step, batch[:3]))
        r = b.encrypt(a, b"step %d" % step)
        a.decrypt_ok(b, r, b"step %d" % step)
    for step, batch in reversed(held):
        for i in (2, 0, 1):
            b.decrypt_ok(a, batch[i], text(i, "c%d" % step))
    exchange(ctx, a, b, 6)


@scenario
def restart_before_first_answer(ctx):
    """alice dies between her pkmsgs; the restarted alice still sends
    pkmsgs of the same session, and all of them decrypt."""
    a = ctx.a(store=True)
    b = ctx.b(store=True)
    a.start_session(b, b.bundle(True))
    m1 = a.encrypt(b, b"one")
    a.kill()
    a.restart()
    m2 = a.encrypt(b, b"two")
    check_eq((m1[0], m2[0]), ("pkmsg", "pkmsg"), "types before an answer")
    check_eq(parse_prekey_message(m1[1])[2], parse_prekey_message(m2[1])[2],
             "base key kept across the restart")
    b.decrypt_ok(a, m2, b"two")
    b.kill()
    b.restart()
    b.decrypt_ok(a, m1, b"one")
    b.decrypt_err(a, m2, "duplicate")
    r = b.encrypt(a, b"three")
    a.decrypt_ok(b, r, b"three")
    exchange(ctx, a, b, 6)


@scenario
def kill_and_restart_from_store(ctx):
    a, b = established(ctx, store=True)
    exchange(ctx, a, b, 20)
    # Messages in flight while both die.
    fly_ab = [a.encrypt(b, text(i, "fly-ab")) for i in range(3)]
    fly_ba = [b.encrypt(a, text(i, "fly-ba")) for i in range(2)]
    a.kill()
    b.kill()
    a.restart()
    b.restart()
    for i in (2, 0, 1):
        b.decrypt_ok(a, fly_ab[i], text(i, "fly-ab"))
    for i in (0, 1):
        a.decrypt_ok(b, fly_ba[i], text(i, "fly-ba"))
    exchange(ctx, a, b, 20, "after")
    # Killed right after a ciphertext left: the next message must use a new
    # key (a reused key would be refused as a duplicate).
    m1 = a.encrypt(b, b"just before the crash")
    a.kill()
    a.restart()
    m2 = a.encrypt(b, b"just after the crash")
    b.decrypt_ok(a, m2, b"just after the crash")
    b.decrypt_ok(a, m1, b"just before the crash")
    # The receiver dies after decrypting: the message stays consumed.
    m3 = b.encrypt(a, b"once")
    a.decrypt_ok(b, m3, b"once")
    a.kill()
    a.restart()
    a.decrypt_err(b, m3, "duplicate")
    exchange(ctx, a, b, 10, "end")


@scenario
def restart_keeps_prekeys_and_trust(ctx):
    a = ctx.a(store=True)
    b = ctx.b(store=True)
    bundle = b.bundle(True)
    b.kill()
    b.restart()
    a.start_session(b, bundle)
    m = a.encrypt(b, b"to a restarted bob")
    b.decrypt_ok(a, m, b"to a restarted bob")
    r = b.encrypt(a, b"hi")
    a.decrypt_ok(b, r, b"hi")
    a.kill()
    a.restart()
    # alice remembers bob's identity after the restart
    other = ctx.b("bob")
    a.err("start", "untrusted_identity", peer="bob", device=1, bundle=other.bundle(True))
    exchange(ctx, a, b, 6)


@scenario
def simultaneous_initiation(ctx):
    a = ctx.a()
    b = ctx.b()
    ba = a.bundle(True)
    bb = b.bundle(True)
    a.start_session(b, bb)
    b.start_session(a, ba)
    ma = a.encrypt(b, b"from alice")
    mb = b.encrypt(a, b"from bob")
    check_eq((ma[0], mb[0]), ("pkmsg", "pkmsg"), "both first messages")
    a.decrypt_ok(b, mb, b"from bob")
    b.decrypt_ok(a, ma, b"from alice")
    # Both now hold two sessions; the first reply settles on one of them.
    m = a.encrypt(b, b"settle")
    b.decrypt_ok(a, m, b"settle")
    r = b.encrypt(a, b"settled")
    a.decrypt_ok(b, r, b"settled")
    check_eq(r[0], "msg", "type once converged")
    exchange(ctx, a, b, 30)


@scenario
def simultaneous_initiation_crossing_again(ctx):
    a = ctx.a()
    b = ctx.b()
    a.start_session(b, b.bundle(True))
    b.start_session(a, a.bundle(False))
    ma = a.encrypt(b, b"a1")
    mb = b.encrypt(a, b"b1")
    b.decrypt_ok(a, ma, b"a1")
    a.decrypt_ok(b, mb, b"b1")
    # and they cross once more before either has heard the other's answer
    ma = a.encrypt(b, b"a2")
    mb = b.encrypt(a, b"b2")
    b.decrypt_ok(a, ma, b"a2")
    a.decrypt_ok(b, mb, b"b2")
    for i in range(10):  # then strict turns: they converge
        m = a.encrypt(b, text(i, "a"))
        b.decrypt_ok(a, m, text(i, "a"))
        r = b.encrypt(a, text(i, "b"))
        a.decrypt_ok(b, r, text(i, "b"))
    exchange(ctx, a, b, 20)

def pb_varint_value(data, s):
    v = shift = 0
    while True:
        b = data[s]
        s += 1
        v |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return v


def parse_signal_message(ct):
    """version byte, protobuf, 8-byte MAC -> {field: value}; fails on
    anything else."""
    check_eq(ct[0], 0x33, "SignalMessage version byte")
    body = ct[1:-8]
    out = {}
    for f, wt, s, e in pb_fields(body):
        check(f not in out, "SignalMessage field %d repeated" % f)
        check(f in (1, 2, 3, 4), "SignalMessage has unknown field %d" % f)
        check_eq(wt, 0 if f in (2, 3) else 2, "wire type of SignalMessage field %d" % f)
        out[f] = pb_varint_value(body, s) if wt == 0 else body[s:e]
    return out


def parse_prekey_message(ct):
    check_eq(ct[0], 0x33, "PreKeySignalMessage version byte")
    body = ct[1:]
    out = {}
    for f, wt, s, e in pb_fields(body):
        check(f not in out, "PreKeySignalMessage field %d repeated" % f)
        check(f in (1, 2, 3, 4, 5, 6), "PreKeySignalMessage has unknown field %d" % f)
        check_eq(wt, 0 if f in (1, 5, 6) else 2, "wire type of PreKeySignalMessage field %d" % f)
        out[f] = pb_varint_value(body, s) if wt == 0 else body[s:e]
    return out


def check_wire(sender, receiver, bundle, msgs, plaintexts, first_counter):
    """Every field of the messages one side produced, against what the
    protocol says they must hold."""
    for i, ((t, ct), pt) in enumerate(zip(msgs, plaintexts)):
        if t == "pkmsg":
            pk = parse_prekey_message(ct)
            for f in (2, 3, 4, 5, 6):
                check(f in pk, "%s: pkmsg lacks field %d" % (sender.label, f))
            check_eq(pk[5], sender.registration_id, "%s: pkmsg registrationId" % sender.label)
            check_eq(pk[3], sender.identity_key, "%s: pkmsg identityKey" % sender.label)
            check_eq(len(pk[2]), 33, "%s: pkmsg baseKey length" % sender.label)
            check_eq(pk[6], bundle["signed_prekey_id"], "%s: pkmsg signedPreKeyId" % sender.label)
            if "prekey_id" in bundle:
                check_eq(pk.get(1), bundle["prekey_id"], "%s: pkmsg preKeyId" % sender.label)
            else:
                check(1 not in pk, "%s: pkmsg carries a preKeyId without a one-time prekey" % sender.label)
            inner = pk[4]
        else:
            inner = ct
        sm = parse_signal_message(inner)
        for f in (1, 2, 4):
            check(f in sm, "%s: SignalMessage lacks field %d" % (sender.label, f))
        check_eq(len(sm[1]), 33, "%s: ratchetKey length" % sender.label)
        check_eq(sm[1][0], 5, "%s: ratchetKey type byte" % sender.label)
        check_eq(sm[2], first_counter + i, "%s: counter of message %d" % (sender.label, i))
        check_eq(len(sm[4]), (len(pt) // 16 + 1) * 16, "%s: AES-CBC/PKCS#7 length" % sender.label)


@scenario
def wire_format(ctx):
    a = ctx.a()
    b = ctx.b()
    for one_time in (True, False):
        bundle = b.bundle(one_time)
        a.start_session(b, bundle)
        pts = [b"", b"x" * 15, b"y" * 16, b"z" * 33]
        msgs = [a.encrypt(b, pt) for pt in pts]
        check_wire(a, b, bundle, msgs, pts, 0)
        base_keys = {parse_prekey_message(m[1])[2] for m in msgs}
        check_eq(len(base_keys), 1, "one base key for the pkmsgs of one session")
        for m, pt in zip(msgs, pts):
            b.decrypt_ok(a, m, pt)
        replies = [b.encrypt(a, pt) for pt in pts]
        check_wire(b, a, None, replies, pts, 0)
        for m, pt in zip(replies, pts):
            a.decrypt_ok(b, m, pt)
        more = [a.encrypt(b, pt) for pt in pts]
        check_eq({m[0] for m in more}, {"msg"}, "types once answered")
        check_wire(a, b, None, more, pts, 0)  # a new sending chain after the ratchet step
        prev = parse_signal_message(more[0][1]).get(3, 0)
        check_eq(prev, len(pts) - 1, "%s: previousCounter" % a.label)
        for m, pt in zip(more, pts):
            b.decrypt_ok(a, m, pt)


@scenario
def message_sizes(ctx):
    a, b = established(ctx)
    for n in (0, 1, 15, 16, 17, 255, 1000, 4096, 65536):
        pt = os.urandom(n)
        m = a.encrypt(b, pt)
        b.decrypt_ok(a, m, pt)
        m = b.encrypt(a, pt)
        a.decrypt_ok(b, m, pt)


@scenario
def too_far_ahead_boundary(ctx):
    """libsignal-protocol-c refuses a message more than 2000 ahead of the
    chain and keeps every key it skipped up to that."""
    a, b = established(ctx)
    m0 = a.encrypt(b, b"in step")
    b.decrypt_ok(a, m0, b"in step")
    burst = [a.encrypt(b, text(i, "b")) for i in range(2002)]
    b.decrypt_err(a, burst[2001], "too_far_ahead")   # 2001 to skip
    b.decrypt_ok(a, burst[2000], text(2000, "b"))   # exactly 2000 to skip
    b.decrypt_ok(a, burst[2001], text(2001, "b"))
    order = list(range(2000))
    ctx.rng.shuffle(order)
    for i in order:
        b.decrypt_ok(a, burst[i], text(i, "b"))
    r = b.encrypt(a, b"all there")
    a.decrypt_ok(b, r, b"all there")


@scenario
def skipped_keys_are_bounded(ctx):
    """Two jumps of 1500 in one chain: only the latest 2000 skipped keys are
    kept; the newest still decrypt, the oldest are refused."""
    a, b = established(ctx)
    m0 = a.encrypt(b, b"in step")
    b.decrypt_ok(a, m0, b"in step")
    burst = [a.encrypt(b, text(i, "k")) for i in range(3002)]
    b.decrypt_ok(a, burst[1500], text(1500, "k"))
    b.decrypt_ok(a, burst[3001], text(3001, "k"))
    # 3000 keys were skipped in all; the newest ones are certainly kept
    for i in (3000, 2500, 1501, 1499):
        b.decrypt_ok(a, burst[i], text(i, "k"))
    r = b.decrypt(a, burst[0])
    check(not r["ok"], "%s: kept more than 2000 skipped message keys" % b.label)
    print("    an evicted key answers %r" % r.get("error"))
    r = b.encrypt(a, b"fine")
    a.decrypt_ok(b, r, b"fine")


@scenario
def session_reset_with_messages_in_flight(ctx):
    """alice starts a new session while messages of the old one are still
    on their way both ways: the archived state decrypts them."""
    a, b = established(ctx)
    exchange(ctx, a, b, 6)
    old_ab = [a.encrypt(b, text(i, "old-ab")) for i in range(3)]
    old_ba = [b.encrypt(a, text(i, "old-ba")) for i in range(3)]
    a.start_session(b, b.bundle(True))
    p = a.encrypt(b, b"fresh start")
    check_eq(p[0], "pkmsg", "type after a reset")
    b.decrypt_ok(a, p, b"fresh start")
    for i in (1, 0, 2):
        b.decrypt_ok(a, old_ab[i], text(i, "old-ab"))
    for i in (2, 0, 1):
        a.decrypt_ok(b, old_ba[i], text(i, "old-ba"))
    r = b.encrypt(a, b"on the new session")
    a.decrypt_ok(b, r, b"on the new session")
    exchange(ctx, a, b, 10, "after")

def pb_varint(v):
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def pkmsg_with(ct, field, value):
    """ct with PreKeySignalMessage field replaced by value (int or bytes),
    every other field kept in place."""
    body = ct[1:]
    out = bytearray(ct[:1])
    for f, wt, s, e in pb_fields(body):
        if f == field:
            if isinstance(value, int):
                out += pb_varint(f << 3) + pb_varint(value)
            else:
                out += pb_varint(f << 3 | 2) + pb_varint(len(value)) + value
        else:
            start = s
            # the key (and length) bytes sit before s; re-emit them verbatim
            key = pb_varint(f << 3 | wt)
            if wt == 2:
                key += pb_varint(e - s)
            out += key + body[start:e]
    return bytes(out)


@scenario
def prekey_message_fields(ctx):
    a = ctx.a()
    b = ctx.b()
    bundle = b.bundle(True)
    a.start_session(b, bundle)
    m = a.encrypt(b, b"fields")
    ct = m[1]
    check_eq(pkmsg_with(ct, 99, 0)[:len(ct)], ct, "re-encoding keeps the message")
    b.decrypt_err(a, ("pkmsg", pkmsg_with(ct, 6, bundle["signed_prekey_id"] + 7)), "invalid_key_id")
    b.decrypt_err(a, ("pkmsg", pkmsg_with(ct, 1, bundle["prekey_id"] + 50)), "invalid_key_id")
    # another identity in the pkmsg: the MAC covers both identities
    c = ctx.a("carol")
    b.decrypt_err(a, ("pkmsg", pkmsg_with(ct, 3, c.identity_key)), "invalid_mac")
    b.decrypt_ok(a, m, b"fields")
    # now that alice is known, a pkmsg under her name with another identity
    c.start_session(b, b.bundle(True))
    mc = c.encrypt(b, b"i am alice")
    b.decrypt_err(a, mc, "untrusted_identity")
    r = b.encrypt(a, b"to the real alice")
    a.decrypt_ok(b, r, b"to the real alice")


@scenario
def consumed_one_time_prekey(ctx):
    a = ctx.a()
    b = ctx.b()
    bundle = b.bundle(True)
    a.start_session(b, bundle)
    m = a.encrypt(b, b"uses the prekey")
    b.decrypt_ok(a, m, b"uses the prekey")
    # carol got the same bundle (a directory bug): its prekey is gone now
    c = ctx.a("carol")
    c.start_session(b, bundle)
    mc = c.encrypt(b, b"too late")
    b.decrypt_err(c, mc, "invalid_key_id")


@scenario
def malformed_input(ctx):
    a, b = established(ctx)
    for line in (b"not json", b"{}", b'{"op":"no_such_op"}', b"[1,2]",
                 b'{"op":"encrypt","peer":"bob"}',
                 b'{"op":"decrypt","peer":"bob","device":1,"type":"msg","ciphertext":"%%%"}',
                 b'{"op":"decrypt","peer":"bob","device":1,"type":"weird","ciphertext":"AAAA"}',
                 b'{"op":"start","peer":"bob","device":1,"bundle":{"registration_id":1}}'):
        r = a.raw(line)
        check(not r["ok"] and r.get("error") == "bad_request",
              "%s: %r answered %r" % (a.label, line, r))
    m = a.encrypt(b, b"still running")
    b.decrypt_ok(a, m, b"still running")
    for junk in (b"", b"\x33", b"\x33\x0a\x05", os.urandom(60)):
        for t in ("msg", "pkmsg"):
            r = b.decrypt(a, (t, junk))
            check(not r["ok"] and r.get("error") in ("invalid_message", "legacy_version"),
                  "%s: junk %s %r answered %r" % (b.label, t, junk[:8], r))
    m = a.encrypt(b, b"and still")
    # Version 1 is legacy everywhere; version 2 is either legacy (a v3-only
    # implementation) or a version mismatch with the v3 session.
    b.decrypt_err(a, ("msg", bytes([0x11]) + m[1][1:]), "legacy_version")
    r = b.decrypt(a, ("msg", bytes([0x22]) + m[1][1:]))
    check(not r["ok"] and r.get("error") in ("legacy_version", "invalid_message"),
          "%s: a version 2 message answered %r" % (b.label, r))
    b.decrypt_ok(a, m, b"and still")
    # no session with carol
    carol = {"peer": "carol", "device": 1}
    a.err("encrypt", "no_session", plaintext=b64(b"x"), **carol)
    a.err("decrypt", "no_session", type="msg", ciphertext=b64(m[1]), **carol)


if __name__ == "__main__":
    sys.exit(main("Signal 1:1 interop scenarios", ["parley", "lsc"], "parley:lsc,lsc:parley"))
