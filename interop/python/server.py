#!/usr/bin/env python3
"""Interop peer: a Python `websockets` SERVER for testing WebSocket clients
(ws-tokio/tests/interop.rs).

Usage: interop/python/.venv/bin/python interop/python/server.py

Listens on two free loopback ports, one accepting permessage-deflate and one
declining it, and prints `listening deflate=PORT plain=PORT` once both accept
connections. Stops on SIGTERM/SIGINT, or by itself after INTEROP_TIMEOUT
seconds (default 300).

Per connection (both ports):
  - a request for /reject... is refused with 403 and the body
    "rejected by python websockets";
  - subprotocol: "ws-rs-test" is chosen when the client offers it, else none;
  - text "close-me:CODE:REASON": closes with that code and reason;
  - text "ping-me:PAYLOAD": sends a ping with PAYLOAD; once the pong with that
    payload arrived, sends the text "pong:PAYLOAD";
  - text "header:NAME": answers with the value of request header NAME
    ("(none)" if absent);
  - text "frag-me:N:TEXT": sends TEXT back as one text message in N fragments;
  - text "info": answers with JSON {protocol, extensions} as this server sees them;
  - anything else is echoed with the same type.
Each connection's end is logged as `closed CODE REASON` on stdout.
"""

import asyncio
import http
import json
import os
import signal
import sys

from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed

LIMIT = float(os.environ.get("INTEROP_TIMEOUT", "300"))
PING_TIMEOUT = 10.0


def process_request(connection, request):
    if request.path.startswith("/reject"):
        return connection.respond(http.HTTPStatus.FORBIDDEN, "rejected by python websockets")
    return None


def select_subprotocol(connection, subprotocols):
    return "ws-rs-test" if "ws-rs-test" in subprotocols else None


async def handler(ws):
    try:
        async for message in ws:
            if isinstance(message, str):
                if message.startswith("close-me:"):
                    _, code, reason = message.split(":", 2)
                    await ws.close(int(code), reason)
                    return
                if message.startswith("ping-me:"):
                    payload = message[len("ping-me:"):]
                    waiter = await ws.ping(payload.encode())
                    await asyncio.wait_for(waiter, PING_TIMEOUT)
                    await ws.send(f"pong:{payload}")
                    continue
                if message.startswith("header:"):
                    await ws.send(ws.request.headers.get(message[len("header:"):], "(none)"))
                    continue
                if message.startswith("frag-me:"):
                    _, n, text = message.split(":", 2)
                    n = max(1, int(n))
                    data = text.encode()
                    size = -(-len(data) // n)
                    await ws.send([data[i * size:(i + 1) * size] for i in range(n)], text=True)
                    continue
                if message == "info":
                    extensions = [e.name for e in ws.protocol.extensions]
                    await ws.send(json.dumps({"protocol": ws.subprotocol, "extensions": extensions}))
                    continue
            await ws.send(message)
    except ConnectionClosed:
        pass
    finally:
        rcvd = ws.protocol.close_rcvd
        print(f"closed {rcvd.code if rcvd else 1006} {rcvd.reason if rcvd else ''}", flush=True)


async def main():
    loop = asyncio.get_running_loop()
    stop = loop.create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set_result, None)
    loop.call_later(LIMIT, lambda: stop.done() or stop.set_result("timeout"))
    common = dict(
        max_size=64 * 1024 * 1024,
        ping_interval=None,
        process_request=process_request,
        select_subprotocol=select_subprotocol,
    )
    async with serve(handler, "127.0.0.1", 0, compression="deflate", **common) as deflate, serve(
        handler, "127.0.0.1", 0, compression=None, **common
    ) as plain:
        ports = [s.sockets[0].getsockname()[1] for s in (deflate, plain)]
        print(f"listening deflate={ports[0]} plain={ports[1]}", flush=True)
        if await stop == "timeout":
            print(f"server.py: stopping after {LIMIT:g}s", file=sys.stderr, flush=True)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
