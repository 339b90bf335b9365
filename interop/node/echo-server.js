#!/usr/bin/env node
'use strict';
// Reference echo server with Node `ws`, implementing the same contract as the
// Rust echo-server examples: echo text and binary, answer pings (ws does),
// echo the client's close, and on a text message `close-me:CODE:REASON` close
// with that code and reason instead of echoing. Used to check the interop
// peers themselves (scripts/selftest-interop.sh). Loopback only.
//
// Usage: node interop/node/echo-server.js PORT
const WebSocket = require('ws');

const port = Number(process.argv[2]);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error('usage: node echo-server.js PORT');
  process.exit(2);
}
const wss = new WebSocket.Server({ host: '127.0.0.1', port, perMessageDeflate: true, maxPayload: 64 * 1024 * 1024 });
wss.on('listening', () => console.log(`node ws echo server on 127.0.0.1:${wss.address().port}`));
wss.on('error', (err) => {
  console.error(`echo-server.js: ${err.message}`);
  process.exit(1);
});
wss.on('connection', (ws) => {
  ws.on('error', () => {});
  ws.on('message', (data, isBinary) => {
    if (!isBinary) {
      const m = /^close-me:(\d+):(.*)$/s.exec(data.toString('utf8'));
      if (m) {
        ws.close(Number(m[1]), m[2]);
        return;
      }
    }
    ws.send(data, { binary: isBinary });
  });
});
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));
