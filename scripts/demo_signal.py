#!/usr/bin/env python3
"""The Signal core on its own: two parties, Alice and Bob, each a
parley-peer process with its own on-disk store. Alice fetches Bob's prekey
bundle and starts a session; they exchange messages, some delivered out of
order; Bob is restarted from his store mid-conversation; both compare
safety numbers."""
import atexit, base64, json, os, shutil, signal, subprocess, sys, tempfile

PEER = sys.argv[1]
work = tempfile.mkdtemp(prefix="parley-demo-")
peers = []


def cleanup():
    """Stop every peer and remove the directory, on success or failure."""
    for p in peers:
        if p.p.poll() is None:
            p.kill()
    shutil.rmtree(work, ignore_errors=True)


atexit.register(cleanup)
signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))


def b64(s):
    return base64.b64encode(s.encode()).decode()


class Peer:
    def __init__(self, name, device):
        self.name, self.device = name, device
        self.store = os.path.join(work, name)
        self.start()
        peers.append(self)

    def start(self):
        self.p = subprocess.Popen([PEER, "--store", self.store], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True)

    def kill(self):
        self.p.kill()
        self.p.wait()

    def call(self, **req):
        self.p.stdin.write(json.dumps(req) + "\n")
        self.p.stdin.flush()
        line = self.p.stdout.readline()
        if not line:
            sys.exit(f"{self.name}: peer exited")
        r = json.loads(line)
        if not r.get("ok"):
            sys.exit(f"{self.name}: {req['op']} failed: {r.get('error')}")
        return r


def say(who, text):
    print(f"  {who:>5} | {text}")


print("== Two parties, each with an identity key and prekeys on disk")
alice, bob = Peer("alice", 1), Peer("bob", 1)
ida = alice.call(op="init", name="alice", device=1)
idb = bob.call(op="init", name="bob", device=1)
print(f"  alice identity {ida['identity_key'][:16]}…  registration id {ida['registration_id']}")
print(f"  bob   identity {idb['identity_key'][:16]}…  registration id {idb['registration_id']}")

print("== Alice fetches Bob's prekey bundle and starts a session (X3DH)")
bundle = bob.call(op="bundle", one_time=True)["bundle"]
alice.call(op="start", peer="bob", device=1, bundle=bundle)


def send(src, dst, text):
    r = src.call(op="encrypt", peer=dst.name, device=dst.device, plaintext=b64(text))
    return (r["type"], r["ciphertext"], text)


def deliver(dst, src, msg):
    kind, ct, _ = msg
    r = dst.call(op="decrypt", peer=src.name, device=src.device, type=kind, ciphertext=ct)
    text = base64.b64decode(r["plaintext"]).decode()
    say(dst.name, f"got [{kind:5}] {text}")


m = send(alice, bob, "Hi Bob, this is the first message (a PreKeySignalMessage).")
deliver(bob, alice, m)
m = send(bob, alice, "Hello Alice! Our session is set up.")
deliver(alice, bob, m)

print("== Alice sends three messages; the network delivers them 3, 1, 2")
msgs = [send(alice, bob, f"message {i} of 3") for i in (1, 2, 3)]
for i in (2, 0, 1):
    deliver(bob, alice, msgs[i])

print("== A replayed message is refused")
kind, ct, _ = msgs[0]
bob.p.stdin.write(json.dumps(dict(op="decrypt", peer="alice", device=1, type=kind,
                                  ciphertext=ct)) + "\n")
bob.p.stdin.flush()
say("bob", f"replay of message 1 refused: {json.loads(bob.p.stdout.readline())['error']}")

print("== Bob's process is killed and restarted from its store")
bob.kill()
bob.start()
m = send(alice, bob, "Still there after your restart?")
deliver(bob, alice, m)
m = send(bob, alice, "Yes: the session survived on disk.")
deliver(alice, bob, m)

print("== Safety numbers: both sides compute the same 60 digits")
fa = alice.call(op="fingerprint", local_id=b64("alice"), remote_id=b64("bob"),
                remote_identity_key=idb["identity_key"])
fb = bob.call(op="fingerprint", local_id=b64("bob"), remote_id=b64("alice"),
              remote_identity_key=ida["identity_key"])
for who, f in (("alice", fa), ("bob", fb)):
    d = f["displayable"]
    say(who, " ".join(d[i:i + 5] for i in range(0, 60, 5)))
print("  match:", "yes" if fa["displayable"] == fb["displayable"] else "NO")

if fa["displayable"] != fb["displayable"]:
    sys.exit(1)
