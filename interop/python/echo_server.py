#!/usr/bin/env python3
"""Reference echo server with Python `websockets`, implementing the same
contract as the Rust echo-server examples: echo text and binary, answer pings
(websockets does), echo the client's close, and on a text message
`close-me:CODE:REASON` close with that code and reason instead of echoing.
Used to check the interop peers themselves (scripts/selftest-interop.sh).

Usage: interop/python/.venv/bin/python interop/python/echo_server.py PORT
Listens on 127.0.0.1 only; stops on SIGTERM/SIGINT.
"""

import asyncio
import signal
import sys

from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed


async def echo(ws):
    try:
        async for message in ws:
            if isinstance(message, str) and message.startswith("close-me:"):
                _, code, reason = message.split(":", 2)
                await ws.close(int(code), reason)
                return
            await ws.send(message)
    except ConnectionClosed:
        pass  # a close code other than 1000/1001 (the clients send 4000)


async def main(port):
    stop = asyncio.get_running_loop().create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set_result, None)
    async with serve(echo, "127.0.0.1", port, max_size=64 * 1024 * 1024, ping_interval=None) as server:
        print(f"python websockets echo server on 127.0.0.1:{server.sockets[0].getsockname()[1]}", flush=True)
        await stop


if __name__ == "__main__":
    if len(sys.argv) != 2 or not sys.argv[1].isdigit():
        sys.exit("usage: echo_server.py PORT")
    asyncio.run(main(int(sys.argv[1])))
