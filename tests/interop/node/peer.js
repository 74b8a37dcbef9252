#!/usr/bin/env node
// node-peer: the parley-peer JSON line protocol (docs/interop.md) over
// @signalapp/libsignal-client, as an independent reference for parley's
// interop tests.
//
//   node peer.js [--store DIR]
//
// Supported: init, sign, verify, fingerprint (libsignal's Fingerprint,
// version 2, 5200 iterations), group_create, group_process, group_encrypt,
// group_decrypt (sender keys). The 1:1 session ops (bundle, start, encrypt,
// decrypt, trust) answer bad_request: this package's sessions need PQXDH
// (Kyber prekeys), which parley does not speak yet.
'use strict';

const fs = require('fs');
const path = require('path');
const readline = require('readline');
const SignalClient = require('@signalapp/libsignal-client');

const ITERATIONS = 5200;
const FINGERPRINT_VERSION = 2;
const BLOB_MAX = 1 << 20;

class BadRequest extends Error {}

// In memory, optionally mirrored to DIR/state.json after every change.
class State extends SignalClient.SenderKeyStore {
  constructor(dir) {
    super();
    this.dir = dir;
    this.identity = null; // PrivateKey
    this.name = null;
    this.device = 0;
    this.registrationId = 0;
    this.senderKeys = new Map(); // "name\0device\0distribution" -> SenderKeyRecord
  }

  static key(address, distributionId) {
    return `${address.name()}\0${address.deviceId()}\0${distributionId}`;
  }

  async saveSenderKey(address, distributionId, record) {
    this.senderKeys.set(State.key(address, distributionId), record);
    this.save();
  }

  async getSenderKey(address, distributionId) {
    return this.senderKeys.get(State.key(address, distributionId)) || null;
  }

  save() {
    if (!this.dir || !this.identity) return;
    const out = {
      name: this.name,
      device: this.device,
      registration_id: this.registrationId,
      identity: Buffer.from(this.identity.serialize()).toString('base64'),
      sender_keys: [...this.senderKeys].map(([k, r]) => [k, Buffer.from(r.serialize()).toString('base64')]),
    };
    const file = path.join(this.dir, 'state.json');
    fs.writeFileSync(file + '.tmp', JSON.stringify(out));
    fs.renameSync(file + '.tmp', file);
  }

  load() {
    const file = path.join(this.dir, 'state.json');
    if (!fs.existsSync(file)) return;
    const s = JSON.parse(fs.readFileSync(file, 'utf8'));
    this.name = s.name;
    this.device = s.device;
    this.registrationId = s.registration_id;
    this.identity = SignalClient.PrivateKey.deserialize(Buffer.from(s.identity, 'base64'));
    for (const [k, r] of s.sender_keys) {
      this.senderKeys.set(k, SignalClient.SenderKeyRecord.deserialize(Buffer.from(r, 'base64')));
    }
  }
}

// ---- request helpers ----

function str(req, key) {
  const v = req[key];
  if (typeof v !== 'string' || v.length === 0 || v.length > 255 || v.includes('\0')) {
    throw new BadRequest(key);
  }
  return v;
}

function int(req, key, min, max) {
  const v = req[key];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw new BadRequest(key);
  return v;
}

const B64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function blob(req, key) {
  const v = req[key];
  if (typeof v !== 'string' || !B64.test(v) || v.length > (BLOB_MAX * 4) / 3 + 4) throw new BadRequest(key);
  return Buffer.from(v, 'base64');
}

function publicKey(req, key) {
  let b = blob(req, key);
  if (b.length === 32) b = Buffer.concat([Buffer.from([5]), b]);
  try {
    return SignalClient.PublicKey.deserialize(b);
  } catch (e) {
    throw new BadRequest(key);
  }
}

function uuid(req, key) {
  const v = req[key];
  if (typeof v !== 'string' || !/^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/.test(v)) {
    throw new BadRequest(key);
  }
  return v.toLowerCase();
}

const b64 = (u8) => Buffer.from(u8).toString('base64');

function requireInit(st) {
  if (!st.identity) throw new BadRequest('not initialized');
}

// ---- operations ----

const ops = {
  async init(st, req) {
    const name = str(req, 'name');
    const device = int(req, 'device', 0, 0x7fffffff);
    st.identity = SignalClient.PrivateKey.generate();
    st.name = name;
    st.device = device;
    st.registrationId = 1 + Math.floor(Math.random() * 16380);
    st.senderKeys.clear();
    st.save();
    return { identity_key: b64(st.identity.getPublicKey().serialize()), registration_id: st.registrationId };
  },

  async sign(st, req) {
    requireInit(st);
    return { signature: b64(st.identity.sign(blob(req, 'message'))) };
  },

  async verify(st, req) {
    const key = publicKey(req, 'public_key');
    const message = blob(req, 'message');
    const signature = blob(req, 'signature');
    let valid = false;
    try {
      valid = key.verify(message, signature);
    } catch (e) {
      valid = false;
    }
    return { valid };
  },

  async fingerprint(st, req) {
    requireInit(st);
    const localId = blob(req, 'local_id');
    const remoteId = blob(req, 'remote_id');
    const remote = publicKey(req, 'remote_identity_key');
    const fp = SignalClient.Fingerprint.new(ITERATIONS, FINGERPRINT_VERSION, localId,
      st.identity.getPublicKey(), remoteId, remote);
    return {
      displayable: fp.displayableFingerprint().toString(),
      scannable: b64(fp.scannableFingerprint().toBuffer()),
    };
  },

  async group_create(st, req) {
    requireInit(st);
    const dist = uuid(req, 'distribution_id');
    const me = SignalClient.ProtocolAddress.new(st.name, st.device);
    const skdm = await SignalClient.SenderKeyDistributionMessage.create(me, dist, st);
    return { skdm: b64(skdm.serialize()) };
  },

  async group_process(st, req) {
    requireInit(st);
    const sender = SignalClient.ProtocolAddress.new(str(req, 'sender'), int(req, 'device', 0, 0x7fffffff));
    const bytes = blob(req, 'skdm');
    let skdm;
    try {
      skdm = SignalClient.SenderKeyDistributionMessage.deserialize(bytes);
    } catch (e) {
      return { error: errorName(e) };
    }
    await SignalClient.processSenderKeyDistributionMessage(sender, skdm, st);
    return {};
  },

  async group_encrypt(st, req) {
    requireInit(st);
    const dist = uuid(req, 'distribution_id');
    const pt = blob(req, 'plaintext');
    const me = SignalClient.ProtocolAddress.new(st.name, st.device);
    const msg = await SignalClient.groupEncrypt(me, dist, st, pt);
    return { ciphertext: b64(msg.serialize()) };
  },

  async group_decrypt(st, req) {
    requireInit(st);
    const sender = SignalClient.ProtocolAddress.new(str(req, 'sender'), int(req, 'device', 0, 0x7fffffff));
    const ct = blob(req, 'ciphertext');
    const pt = await SignalClient.groupDecrypt(sender, st, ct);
    return { plaintext: b64(pt) };
  },
};

// libsignal's errors, in the protocol's words. Several arrive as generic
// errors that only their message tells apart.
function errorName(e) {
  if (e instanceof BadRequest) return 'bad_request';
  switch (e.code) {
    case SignalClient.ErrorCode.DuplicatedMessage:
      return 'duplicate';
    case SignalClient.ErrorCode.UntrustedIdentity:
      return 'untrusted_identity';
    case SignalClient.ErrorCode.InvalidSenderKeySession:
    case SignalClient.ErrorCode.InvalidSession:
      return 'no_session';
    default:
      break;
  }
  const text = String(e && e.message);
  if (/missing sender key state|no sender key state/i.test(text)) return 'no_session';
  if (/version was too old|legacy/i.test(text)) return 'legacy_version';
  if (/invalid signature/i.test(text)) return 'invalid_signature';
  return 'invalid_message';
}

async function handle(st, line) {
  let req;
  try {
    req = JSON.parse(line);
  } catch (e) {
    return { ok: false, error: 'bad_request' };
  }
  if (req === null || typeof req !== 'object' || Array.isArray(req) || !Object.hasOwn(ops, req.op)) {
    return { ok: false, error: 'bad_request' };
  }
  try {
    const r = await ops[req.op](st, req);
    if (r.error) return { ok: false, error: r.error };
    return Object.assign({ ok: true }, r);
  } catch (e) {
    if (process.env.NODE_PEER_DEBUG) process.stderr.write(`node-peer: ${req.op}: ${e.stack}\n`);
    return { ok: false, error: errorName(e) };
  }
}

function main() {
  const args = process.argv.slice(2);
  let dir = null;
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--store' && i + 1 < args.length) {
      dir = args[++i];
    } else {
      process.stderr.write('usage: node peer.js [--store DIR]\n');
      process.exit(2);
    }
  }
  const st = new State(dir);
  if (dir) {
    fs.mkdirSync(dir, { recursive: true });
    st.load();
  }
  const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
  // Requests are answered strictly in order, one line each.
  let chain = Promise.resolve();
  rl.on('line', (line) => {
    if (line.trim() === '') return;
    chain = chain.then(async () => {
      const answer = await handle(st, line);
      process.stdout.write(JSON.stringify(answer) + '\n');
    });
  });
  rl.on('close', () => {
    chain.then(() => process.exit(0));
  });
}

main();
