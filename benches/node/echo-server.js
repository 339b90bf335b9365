#!/usr/bin/env node
'use strict';
// Echo server with Node `ws` for the loopback load test (benches/src/echo.rs starts it).
// Binds a free loopback port and prints it alone on the first line of stdout.
//
// Usage: NODE_PATH=interop/node/node_modules node benches/node/echo-server.js [--deflate LEVEL]
//   --deflate LEVEL  permessage-deflate at this zlib level on every message (threshold 0),
//                    context takeover on: the settings ws-tokio's server uses in the same test.
const WebSocket = require('ws');

const args = process.argv.slice(2);
let perMessageDeflate = false;
if (args[0] === '--deflate') {
  const level = Number(args[1]);
  perMessageDeflate = { zlibDeflateOptions: { level }, threshold: 0 };
}
const wss = new WebSocket.WebSocketServer({
  host: '127.0.0.1',
  port: 0,
  perMessageDeflate,
  maxPayload: 64 * 1024 * 1024,
});
wss.on('listening', () => process.stdout.write(`${wss.address().port}\n`));
wss.on('error', (err) => {
  console.error(`echo-server.js: ${err.message}`);
  process.exit(1);
});
wss.on('connection', (ws) => {
  ws.on('error', () => {});
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
});
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));
