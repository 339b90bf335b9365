#!/usr/bin/env node
'use strict';
// Interop peer: a Node `ws` SERVER for testing WebSocket clients (ws-tokio/tests/interop.rs).
//
// Usage: node interop/node/server.js
// Listens on two free loopback ports, one accepting permessage-deflate and one declining
// it, and prints `listening deflate=PORT plain=PORT` once both accept connections. Stops on
// SIGTERM/SIGINT, or by itself after INTEROP_TIMEOUT seconds (default 300).
//
// Per connection (both ports):
//   - a request for /reject... is refused with 403 and the body "rejected by node ws";
//   - subprotocol: "ws-rs-test" is chosen when the client offers it, else none;
//   - text "close-me:CODE:REASON": closes with that code and reason;
//   - text "ping-me:PAYLOAD": sends a ping with PAYLOAD; when the pong arrives, sends the text
//     "pong:<the pong's payload>";
//   - text "header:NAME": answers with the value of request header NAME ("(none)" if absent);
//   - text "frag-me:N:TEXT": sends TEXT back as one text message in N fragments;
//   - text "info": answers with JSON {protocol, extensions} as this server sees them;
//   - anything else is echoed with the same type.
// Each connection's end is logged as `closed CODE REASON` on stdout.

const http = require('http');
const WebSocket = require('ws');

const LIMIT_MS = 1000 * Number(process.env.INTEROP_TIMEOUT || 300);

function handleProtocols(protocols) {
  return protocols.has('ws-rs-test') ? 'ws-rs-test' : false;
}

function verifyClient(info, done) {
  if (info.req.url.startsWith('/reject')) done(false, 403, 'rejected by node ws');
  else done(true);
}

function onConnection(ws, req) {
  ws.on('error', (err) => console.log(`error ${err.message}`));
  ws.on('close', (code, reason) => console.log(`closed ${code} ${reason.toString('utf8')}`));
  ws.on('message', (data, isBinary) => {
    if (!isBinary) {
      const text = data.toString('utf8');
      let m;
      if ((m = /^close-me:(\d+):(.*)$/s.exec(text))) {
        ws.close(Number(m[1]), m[2]);
        return;
      }
      if ((m = /^ping-me:(.*)$/s.exec(text))) {
        ws.once('pong', (payload) => ws.send(`pong:${payload.toString('utf8')}`));
        ws.ping(Buffer.from(m[1], 'utf8'));
        return;
      }
      if ((m = /^header:(.*)$/s.exec(text))) {
        const value = req.headers[m[1].toLowerCase()];
        ws.send(value === undefined ? '(none)' : String(value));
        return;
      }
      if ((m = /^frag-me:(\d+):(.*)$/s.exec(text))) {
        const n = Math.max(1, Number(m[1]));
        const bytes = Buffer.from(m[2], 'utf8');
        const size = Math.ceil(bytes.length / n);
        for (let i = 0; i < n; i++) {
          ws.send(bytes.subarray(i * size, Math.min(bytes.length, (i + 1) * size)), {
            binary: false,
            fin: i === n - 1,
          });
        }
        return;
      }
      if (text === 'info') {
        ws.send(JSON.stringify({ protocol: ws.protocol, extensions: ws.extensions }));
        return;
      }
    }
    ws.send(data, { binary: isBinary });
  });
}

function listen(perMessageDeflate) {
  return new Promise((resolve, reject) => {
    const server = http.createServer((req, res) => {
      res.writeHead(426, { 'Content-Type': 'text/plain' });
      res.end('WebSocket only\n');
    });
    const wss = new WebSocket.Server({
      server,
      perMessageDeflate,
      maxPayload: 64 * 1024 * 1024,
      handleProtocols,
      verifyClient,
    });
    wss.on('connection', onConnection);
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(server.address().port));
  });
}

Promise.all([listen(true), listen(false)]).then(
  ([deflate, plain]) => console.log(`listening deflate=${deflate} plain=${plain}`),
  (err) => {
    console.error(`server.js: ${err.message}`);
    process.exit(1);
  },
);
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));
setTimeout(() => {
  console.error(`server.js: stopping after ${LIMIT_MS / 1000}s`);
  process.exit(1);
}, LIMIT_MS).unref();
