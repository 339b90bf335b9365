#!/usr/bin/env node
'use strict';
// Interop peer: runs a test matrix with Node `ws` against an ECHO server.
//
// Usage: node interop/node/client.js ws://127.0.0.1:PORT [--mode plain|deflate|both] [--extended]
//
// The server under test must echo text and binary messages, answer pings,
// echo the client's close code and reason, and on a text message
// `close-me:CODE:REASON` close with that code and reason instead of echoing.
//
// Every case runs on its own connection, once without permessage-deflate
// ("plain/…") and once offering it ("deflate/…"; the server may decline).
// Prints `ok <case>` or `FAIL <case>: <why>` per case, then a summary line;
// exits 0 only when every case passed, 1 on a failure, 2 on bad usage.
//
// --extended adds cases for a server that also (as ws-tokio/tests/interop.rs's does):
// accepts permessage-deflate (checked: negotiated exactly in deflate mode); echoes a
// 16 MiB message; chooses the subprotocol "ws-rs-test" when offered; answers the text
// "header:NAME" with the value of its request header NAME; and refuses requests for
// /reject?status=CODE with that status (a `verify_client` refusal) and the body
// "rejected by verify_client".
//
// Environment: INTEROP_CASE_TIMEOUT (seconds per case, default 10),
//              INTEROP_TIMEOUT (seconds for the whole run, default 120).

const crypto = require('crypto');
const WebSocket = require('ws');

const CASE_TIMEOUT_MS = 1000 * Number(process.env.INTEROP_CASE_TIMEOUT || 10);
const TOTAL_TIMEOUT_MS = 1000 * Number(process.env.INTEROP_TIMEOUT || 120);

function usage(msg) {
  if (msg) console.error(`client.js: ${msg}`);
  console.error('usage: node client.js ws://127.0.0.1:PORT [--mode plain|deflate|both] [--extended]');
  process.exit(2);
}

const args = process.argv.slice(2);
let url = null;
let modes = ['plain', 'deflate'];
let extended = false;
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--extended') {
    extended = true;
  } else if (args[i] === '--mode') {
    const m = args[++i];
    if (m === 'both') modes = ['plain', 'deflate'];
    else if (m === 'plain' || m === 'deflate') modes = [m];
    else usage(`bad --mode ${m}`);
  } else if (args[i].startsWith('-')) {
    usage(`unknown option ${args[i]}`);
  } else if (url === null) {
    url = args[i];
  } else {
    usage('too many arguments');
  }
}
if (!url || !/^ws:\/\/[^/]+/.test(url)) usage('expected a ws:// URL');

// ------------------------------------------------------------------ helpers

function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms / 1000}s ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function describe(buf, isBinary) {
  const kind = isBinary ? 'binary' : 'text';
  if (buf.length > 64) return `${kind} of ${buf.length} bytes`;
  return `${kind} ${JSON.stringify(isBinary ? buf.toString('hex') : buf.toString('utf8'))}`;
}

// One client connection with a queue of received messages and the close event.
class Peer {
  constructor(deflate, options) {
    const opts = options || {};
    this.messages = [];
    this.waiters = [];
    this.pongs = [];
    this.pongWaiters = [];
    this.closeInfo = null;
    this.error = null;
    this.ws = new WebSocket(url + (opts.path || ''), opts.protocols || [], {
      perMessageDeflate: deflate,
      maxPayload: 64 * 1024 * 1024,
      handshakeTimeout: CASE_TIMEOUT_MS,
      headers: opts.headers || {},
    });
    this.ws.on('message', (data, isBinary) => {
      const msg = { data: Buffer.isBuffer(data) ? data : Buffer.concat(data), isBinary };
      const w = this.waiters.shift();
      if (w) w.resolve(w.orClose ? { msg } : msg);
      else this.messages.push(msg);
    });
    this.ws.on('pong', (data) => {
      const w = this.pongWaiters.shift();
      if (w) w.resolve(data);
      else this.pongs.push(data);
    });
    this.ws.on('error', (err) => {
      this.error = this.error || err;
    });
    this.closed = new Promise((resolve) => {
      this.ws.on('close', (code, reason) => {
        this.closeInfo = { code, reason: reason.toString('utf8') };
        const why = `connection closed (code ${code}${this.error ? `, ${this.error.message}` : ''})`;
        for (const w of this.waiters.splice(0)) {
          if (w.orClose) w.resolve({ close: this.closeInfo });
          else w.reject(new Error(`${why} while waiting for a message`));
        }
        for (const w of this.pongWaiters.splice(0)) w.reject(new Error(`${why} while waiting for a pong`));
        resolve(this.closeInfo);
      });
    });
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', resolve);
      this.ws.once('close', () => reject(new Error(`handshake failed: ${this.error ? this.error.message : 'closed'}`)));
    });
  }

  open() {
    return withTimeout(this.opened, CASE_TIMEOUT_MS, 'waiting for the handshake');
  }

  send(data, options) {
    return new Promise((resolve, reject) => {
      this.ws.send(data, options, (err) => (err ? reject(err) : resolve()));
    });
  }

  recv() {
    if (this.messages.length) return Promise.resolve(this.messages.shift());
    if (this.closeInfo) return Promise.reject(new Error(`connection closed (code ${this.closeInfo.code})`));
    return withTimeout(
      new Promise((resolve, reject) => this.waiters.push({ resolve, reject })),
      CASE_TIMEOUT_MS,
      'waiting for a message',
    );
  }

  // The next message ({msg}) or the end of the connection ({close}).
  recvOrClose() {
    if (this.messages.length) return Promise.resolve({ msg: this.messages.shift() });
    if (this.closeInfo) return Promise.resolve({ close: this.closeInfo });
    return withTimeout(
      new Promise((resolve, reject) => this.waiters.push({ resolve, reject, orClose: true })),
      CASE_TIMEOUT_MS,
      'waiting for the server to close',
    );
  }

  pong() {
    if (this.pongs.length) return Promise.resolve(this.pongs.shift());
    if (this.closeInfo) return Promise.reject(new Error(`connection closed (code ${this.closeInfo.code})`));
    return withTimeout(
      new Promise((resolve, reject) => this.pongWaiters.push({ resolve, reject })),
      CASE_TIMEOUT_MS,
      'waiting for a pong',
    );
  }

  waitClosed() {
    return withTimeout(this.closed, CASE_TIMEOUT_MS, 'waiting for the close handshake');
  }

  // Client-initiated close; checks the server echoed our code and reason.
  async closeAndCheck(code, reason) {
    this.ws.close(code, reason);
    const info = await this.waitClosed();
    if (info.code !== code || info.reason !== reason) {
      throw new Error(
        `sent close ${code} ${JSON.stringify(reason)}, server replied ${info.code} ${JSON.stringify(info.reason)}` +
          (info.code === 1006 ? ' (no close frame: abnormal closure)' : ''),
      );
    }
  }

  kill() {
    try {
      this.ws.terminate();
    } catch (_) {
      // already gone
    }
  }
}

async function expectEcho(peer, sent, isBinary) {
  const msg = await peer.recv();
  const want = Buffer.isBuffer(sent) ? sent : Buffer.from(sent, 'utf8');
  if (msg.isBinary !== isBinary || !msg.data.equals(want)) {
    throw new Error(`sent ${describe(want, isBinary)}, got ${describe(msg.data, msg.isBinary)}`);
  }
}

// --------------------------------------------------------------- the matrix
// Each case gets an open Peer; unless it closes the connection itself, the
// runner then closes with 1000 and checks that the server echoed it.

const UNICODE = 'héllo wörld — καλημέρα — 你好 — 🌍🚀 — \u{10FFFF}';

const CASES = [
  ['text-round-trip', async (p) => {
    await p.send('Hello, WebSocket!');
    await expectEcho(p, 'Hello, WebSocket!', false);
  }],
  ['binary-round-trip', async (p) => {
    const data = Buffer.from([0x00, 0x01, 0x02, 0x7f, 0x80, 0xfe, 0xff]);
    await p.send(data, { binary: true });
    await expectEcho(p, data, true);
  }],
  ['empty-message', async (p) => {
    await p.send('');
    await expectEcho(p, '', false);
    await p.send(Buffer.alloc(0), { binary: true });
    await expectEcho(p, Buffer.alloc(0), true);
  }],
  ['binary-1MiB', async (p) => {
    const data = crypto.randomBytes(1024 * 1024);
    await p.send(data, { binary: true });
    await expectEcho(p, data, true);
  }],
  ['unicode-text', async (p) => {
    await p.send(UNICODE);
    await expectEcho(p, UNICODE, false);
  }],
  ['fragmented-text', async (p) => {
    // Three frames: text(fin=0), continuation(fin=0), continuation(fin=1).
    await p.send('fragment one, ', { fin: false });
    await p.send('fragment two, ', { fin: false });
    await p.send('and the end', { fin: true });
    await expectEcho(p, 'fragment one, fragment two, and the end', false);
  }],
  ['fragmented-binary', async (p) => {
    const parts = [crypto.randomBytes(1000), crypto.randomBytes(70000), crypto.randomBytes(3)];
    await p.send(parts[0], { binary: true, fin: false });
    await p.send(parts[1], { binary: true, fin: false });
    await p.send(parts[2], { binary: true, fin: true });
    await expectEcho(p, Buffer.concat(parts), true);
  }],
  ['fragmented-text-split-code-point', async (p) => {
    // "€" is E2 82 AC: its bytes are spread over two fragments.
    const bytes = Buffer.from('price: 5€ ok', 'utf8');
    const cut = bytes.indexOf(0xe2) + 1;
    await p.send(bytes.subarray(0, cut), { binary: false, fin: false });
    await p.send(bytes.subarray(cut), { binary: false, fin: true });
    await expectEcho(p, 'price: 5€ ok', false);
  }],
  ['many-messages-in-order', async (p) => {
    const n = 200;
    for (let i = 0; i < n; i++) p.ws.send(`message ${i}`);
    for (let i = 0; i < n; i++) await expectEcho(p, `message ${i}`, false);
  }],
  ['ping-pong-payload', async (p) => {
    const payload = Buffer.from('ping payload 🏓', 'utf8');
    p.ws.ping(payload);
    const got = await p.pong();
    if (!got.equals(payload)) {
      throw new Error(`ping ${describe(payload, true)} answered by pong ${describe(got, true)}`);
    }
    // The connection still works after the ping.
    await p.send('after ping');
    await expectEcho(p, 'after ping', false);
  }],
  ['client-close-4000-bye', async (p) => {
    await p.closeAndCheck(4000, 'bye');
  }, { closes: true }],
  ['server-close-me-4001-why', async (p) => {
    await p.send('close-me:4001:why');
    const got = await p.recvOrClose();
    if (got.msg) throw new Error(`server sent ${describe(got.msg.data, got.msg.isBinary)} instead of closing`);
    const info = got.close;
    if (info.code !== 4001 || info.reason !== 'why') {
      throw new Error(
        `expected the server to close with 4001 "why", got ${info.code} ${JSON.stringify(info.reason)}` +
          (info.code === 1006 ? ' (no close frame: abnormal closure)' : ''),
      );
    }
  }, { closes: true }],
];

// Extended cases (--extended). A case's options may give `connect` (path, protocols,
// headers for the connection) or `raw` (the case opens its own connections).
function repetitive(len) {
  // Random 4 KiB blocks, each repeated with a counter: compressible, order-sensitive.
  const block = crypto.randomBytes(4096);
  const out = Buffer.alloc(len);
  for (let off = 0, i = 0; off < len; off += block.length, i++) {
    block.copy(out, off);
    if (off + 8 <= len) out.writeUInt32BE(i, off);
  }
  return out;
}

const TOKEN = `token-${crypto.randomBytes(8).toString('hex')}`;

const EXTENDED = [
  ['deflate-negotiated', async (p, mode) => {
    const got = p.ws.extensions;
    const want = mode === 'deflate';
    if (got.includes('permessage-deflate') !== want) {
      throw new Error(`negotiated extensions ${JSON.stringify(got)} in ${mode} mode (the server accepts deflate)`);
    }
  }],
  ['binary-16MiB', async (p) => {
    const data = repetitive(16 * 1024 * 1024);
    await p.send(data, { binary: true });
    await expectEcho(p, data, true);
  }],
  ['subprotocol-selection', async (p) => {
    if (p.ws.protocol !== 'ws-rs-test') {
      throw new Error(`offered ws-rs-unknown, ws-rs-test; the server chose ${JSON.stringify(p.ws.protocol)}`);
    }
    await p.send('with a subprotocol');
    await expectEcho(p, 'with a subprotocol', false);
  }, { connect: { protocols: ['ws-rs-unknown', 'ws-rs-test'] } }],
  ['custom-header', async (p) => {
    await p.send('header:x-interop-token');
    const msg = await p.recv();
    if (msg.isBinary || msg.data.toString('utf8') !== TOKEN) {
      throw new Error(`sent X-Interop-Token: ${TOKEN}; the server saw ${describe(msg.data, msg.isBinary)}`);
    }
  }, { connect: { headers: { 'X-Interop-Token': TOKEN } } }],
  ['verify-client-rejection-403', async (_p, mode) => {
    const ws = new WebSocket(`${url}/reject?status=403`, { perMessageDeflate: mode === 'deflate', handshakeTimeout: CASE_TIMEOUT_MS });
    const seen = new Promise((resolve, reject) => {
      ws.on('unexpected-response', (req, res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => {
          resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString('utf8') });
          req.destroy();
        });
      });
      ws.on('open', () => reject(new Error('the server accepted /reject')));
      ws.on('error', (err) => reject(new Error(`error instead of unexpected-response: ${err.message}`)));
    });
    try {
      const got = await withTimeout(seen, CASE_TIMEOUT_MS, 'waiting for the unexpected-response event');
      if (got.status !== 403 || !got.body.includes('rejected by verify_client')) {
        throw new Error(`expected unexpected-response 403 "rejected by verify_client", got ${got.status} ${JSON.stringify(got.body)}`);
      }
    } finally {
      ws.terminate();
    }
  }, { raw: true }],
];

async function runCase(mode, name, body, opts) {
  if (opts && opts.raw) {
    try {
      await body(null, mode);
      return null;
    } catch (err) {
      return err && err.message ? err.message : String(err);
    }
  }
  const peer = new Peer(mode === 'deflate', opts && opts.connect);
  try {
    await peer.open();
    await body(peer, mode);
    if (!(opts && opts.closes)) await peer.closeAndCheck(1000, '');
    return null;
  } catch (err) {
    return err && err.message ? err.message : String(err);
  } finally {
    peer.kill();
  }
}

async function main() {
  console.log(`# node ${process.version}, ws ${require('ws/package.json').version}, server ${url}`);
  let passed = 0;
  let failed = 0;
  const cases = extended ? CASES.concat(EXTENDED) : CASES;
  for (const mode of modes) {
    for (const [name, body, opts] of cases) {
      const label = `${mode}/${name}`;
      const why = await runCase(mode, name, body, opts);
      if (why === null) {
        passed++;
        console.log(`ok ${label}`);
      } else {
        failed++;
        console.log(`FAIL ${label}: ${why}`);
      }
    }
  }
  console.log(`node-ws: ${passed} passed, ${failed} failed`);
  return failed === 0 ? 0 : 1;
}

const watchdog = setTimeout(() => {
  console.log(`FAIL (whole run): not finished after ${TOTAL_TIMEOUT_MS / 1000}s`);
  process.exit(1);
}, TOTAL_TIMEOUT_MS);

main().then(
  (code) => {
    clearTimeout(watchdog);
    process.exit(code);
  },
  (err) => {
    console.log(`FAIL (internal): ${err && err.stack ? err.stack : err}`);
    process.exit(1);
  },
);
