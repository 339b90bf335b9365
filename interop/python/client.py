#!/usr/bin/env python3
"""Interop peer: runs a test matrix with Python `websockets` against an ECHO server.

Usage: interop/python/.venv/bin/python interop/python/client.py ws://127.0.0.1:PORT
           [--mode plain|deflate|both] [--extended]

The server under test must echo text and binary messages, answer pings, echo
the client's close code and reason, and on a text message
`close-me:CODE:REASON` close with that code and reason instead of echoing.

Every case runs on its own connection, once without permessage-deflate
("plain/...") and once offering it ("deflate/..."; the server may decline).
Prints `ok <case>` or `FAIL <case>: <why>` per case, then a summary line;
exits 0 only when every case passed, 1 on a failure, 2 on bad usage.

--extended adds cases for a server that also (as ws-tokio/tests/interop.rs's
does): accepts permessage-deflate (checked: negotiated exactly in deflate
mode); echoes a 16 MiB message; chooses the subprotocol "ws-rs-test" when
offered; answers the text "header:NAME" with the value of its request header
NAME; and refuses requests for /reject?status=CODE with that status (a
`verify_client` refusal) and the body "rejected by verify_client".

Environment: INTEROP_CASE_TIMEOUT (seconds per case, default 10),
             INTEROP_TIMEOUT (seconds for the whole run, default 120).
"""

import argparse
import asyncio
import os
import sys

import websockets
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

CASE_TIMEOUT = float(os.environ.get("INTEROP_CASE_TIMEOUT", "10"))
TOTAL_TIMEOUT = float(os.environ.get("INTEROP_TIMEOUT", "120"))

UNICODE = "héllo wörld — καλημέρα — 你好 — 🌍🚀 — \U0010ffff"


class CaseFailed(Exception):
    pass


def describe(data):
    kind = "text" if isinstance(data, str) else "binary"
    if len(data) > 64:
        return f"{kind} of {len(data)} {'characters' if kind == 'text' else 'bytes'}"
    return f"{kind} {data!r}"


def close_str(close):
    if close is None:
        return "no close frame (abnormal closure)"
    return f"{close.code} {close.reason!r}"


async def recv(ws, waiting_for):
    try:
        return await asyncio.wait_for(ws.recv(), CASE_TIMEOUT / 2)
    except asyncio.TimeoutError:
        raise CaseFailed(f"timed out after {CASE_TIMEOUT / 2:g}s waiting for {waiting_for}") from None


async def expect_echo(ws, sent):
    got = await recv(ws, "the echo")
    if type(got) is not type(sent) or got != sent:
        raise CaseFailed(f"sent {describe(sent)}, got {describe(got)}")


# ------------------------------------------------------------------ the cases
# Each case gets an open connection; unless it closes the connection itself
# (closes=True), the runner then closes with 1000 and checks the echo.


async def text_round_trip(ws):
    await ws.send("Hello, WebSocket!")
    await expect_echo(ws, "Hello, WebSocket!")


async def binary_round_trip(ws):
    data = bytes([0x00, 0x01, 0x02, 0x7F, 0x80, 0xFE, 0xFF])
    await ws.send(data)
    await expect_echo(ws, data)


async def empty_message(ws):
    await ws.send("")
    await expect_echo(ws, "")
    await ws.send(b"")
    await expect_echo(ws, b"")


async def binary_1mib(ws):
    data = os.urandom(1024 * 1024)
    await ws.send(data)
    await expect_echo(ws, data)


async def unicode_text(ws):
    await ws.send(UNICODE)
    await expect_echo(ws, UNICODE)


async def fragmented_text(ws):
    # An iterable is sent as one fragmented message: text(fin=0), continuation..., continuation(fin=1).
    await ws.send(["fragment one, ", "fragment two, ", "and the end"])
    await expect_echo(ws, "fragment one, fragment two, and the end")


async def fragmented_binary(ws):
    parts = [os.urandom(1000), os.urandom(70000), os.urandom(3)]
    await ws.send(parts)
    await expect_echo(ws, b"".join(parts))


async def fragmented_text_split_code_point(ws):
    # "€" is E2 82 AC: its bytes are spread over two text fragments.
    data = "price: 5€ ok".encode()
    cut = data.index(0xE2) + 1
    await ws.send([data[:cut], data[cut:]], text=True)
    await expect_echo(ws, "price: 5€ ok")


async def many_messages_in_order(ws):
    n = 200
    for i in range(n):
        await ws.send(f"message {i}")
    for i in range(n):
        await expect_echo(ws, f"message {i}")


async def ping_pong_payload(ws):
    payload = "ping payload 🏓".encode()
    # websockets completes the waiter only for a pong carrying this exact payload.
    waiter = await ws.ping(payload)
    try:
        await asyncio.wait_for(waiter, CASE_TIMEOUT / 2)
    except asyncio.TimeoutError:
        raise CaseFailed(f"no pong with payload {payload!r} within {CASE_TIMEOUT / 2:g}s") from None
    await ws.send("after ping")
    await expect_echo(ws, "after ping")


async def client_close_4000_bye(ws):
    await ws.close(4000, "bye")
    if ws.protocol.close_rcvd is None or (ws.protocol.close_rcvd.code, ws.protocol.close_rcvd.reason) != (4000, "bye"):
        raise CaseFailed(f"sent close 4000 'bye', server replied {close_str(ws.protocol.close_rcvd)}")


async def server_close_me_4001_why(ws):
    await ws.send("close-me:4001:why")
    try:
        got = await recv(ws, "the server to close")
    except ConnectionClosed as exc:
        if exc.rcvd is None or (exc.rcvd.code, exc.rcvd.reason) != (4001, "why"):
            raise CaseFailed(f"expected the server to close with 4001 'why', got {close_str(exc.rcvd)}") from None
        if not exc.rcvd_then_sent:
            raise CaseFailed("the close handshake was not started by the server") from None
        await ws.wait_closed()
        return
    raise CaseFailed(f"server sent {describe(got)} instead of closing")


# ----------------------------------------------------- the extended cases
# Each is (name, body, closes, connect options); body gets (ws, mode).

TOKEN = "token-" + os.urandom(8).hex()


def repetitive(length):
    """Random 4 KiB blocks, each repeated with a counter: compressible, order-sensitive."""
    block = os.urandom(4096)
    out = bytearray()
    i = 0
    while len(out) < length:
        out += i.to_bytes(4, "big") + block[4:]
        i += 1
    return bytes(out[:length])


async def deflate_negotiated(ws, mode):
    names = [e.name for e in ws.protocol.extensions]
    if ("permessage-deflate" in names) != (mode == "deflate"):
        raise CaseFailed(f"negotiated extensions {names} in {mode} mode (the server accepts deflate)")


async def binary_16mib(ws, mode):
    data = repetitive(16 * 1024 * 1024)
    await ws.send(data)
    await expect_echo(ws, data)


async def subprotocol_selection(ws, mode):
    if ws.subprotocol != "ws-rs-test":
        raise CaseFailed(f"offered ws-rs-unknown, ws-rs-test; the server chose {ws.subprotocol!r}")
    await ws.send("with a subprotocol")
    await expect_echo(ws, "with a subprotocol")


async def custom_header(ws, mode):
    await ws.send("header:x-interop-token")
    got = await recv(ws, "the header value")
    if got != TOKEN:
        raise CaseFailed(f"sent X-Interop-Token: {TOKEN}; the server saw {describe(got)}")


async def verify_client_rejection_403(url, mode):
    try:
        ws = await connect(
            url + "/reject?status=403",
            compression="deflate" if mode == "deflate" else None,
            open_timeout=CASE_TIMEOUT,
        )
    except InvalidStatus as exc:
        status, body = exc.response.status_code, (exc.response.body or b"").decode("utf-8", "replace")
        if status != 403 or "rejected by verify_client" not in body:
            raise CaseFailed(f"expected InvalidStatus 403 'rejected by verify_client', got {status} {body!r}") from None
        return
    ws.transport.abort()
    raise CaseFailed("the server accepted /reject")


EXTENDED = [
    ("deflate-negotiated", deflate_negotiated, False, {}),
    ("binary-16MiB", binary_16mib, False, {}),
    ("subprotocol-selection", subprotocol_selection, False, {"subprotocols": ["ws-rs-unknown", "ws-rs-test"]}),
    ("custom-header", custom_header, False, {"additional_headers": {"X-Interop-Token": TOKEN}}),
    ("verify-client-rejection-403", verify_client_rejection_403, None, None),
]


CASES = [
    ("text-round-trip", text_round_trip, False),
    ("binary-round-trip", binary_round_trip, False),
    ("empty-message", empty_message, False),
    ("binary-1MiB", binary_1mib, False),
    ("unicode-text", unicode_text, False),
    ("fragmented-text", fragmented_text, False),
    ("fragmented-binary", fragmented_binary, False),
    ("fragmented-text-split-code-point", fragmented_text_split_code_point, False),
    ("many-messages-in-order", many_messages_in_order, False),
    ("ping-pong-payload", ping_pong_payload, False),
    ("client-close-4000-bye", client_close_4000_bye, True),
    ("server-close-me-4001-why", server_close_me_4001_why, True),
]


async def run_case(url, mode, body, closes, options=None, extended=False):
    if extended and options is None:
        # The case opens its own connections.
        await body(url, mode)
        return
    ws = await connect(
        url,
        compression="deflate" if mode == "deflate" else None,
        max_size=64 * 1024 * 1024,
        open_timeout=CASE_TIMEOUT,
        close_timeout=CASE_TIMEOUT / 2,
        ping_interval=None,  # no keepalive pings of our own in the middle of a case
        **(options or {}),
    )
    try:
        if extended:
            await body(ws, mode)
        else:
            await body(ws)
        if not closes:
            await ws.close(1000, "")
            if ws.protocol.close_rcvd is None or ws.protocol.close_rcvd.code != 1000:
                raise CaseFailed(f"sent close 1000, server replied {close_str(ws.protocol.close_rcvd)}")
    finally:
        if ws.transport is not None:
            ws.transport.abort()


async def run_all(url, modes, extended):
    print(f"# python {sys.version.split()[0]}, websockets {websockets.__version__}, server {url}", flush=True)
    passed = failed = 0
    cases = [(n, b, c, None, False) for n, b, c in CASES]
    if extended:
        cases += [(n, b, c, o, True) for n, b, c, o in EXTENDED]
    for mode in modes:
        for name, body, closes, options, ext in cases:
            label = f"{mode}/{name}"
            try:
                await asyncio.wait_for(run_case(url, mode, body, closes, options, ext), CASE_TIMEOUT)
            except CaseFailed as exc:
                why = str(exc)
            except asyncio.TimeoutError:
                why = f"timed out after {CASE_TIMEOUT:g}s"
            except ConnectionClosed as exc:
                why = f"connection closed unexpectedly: received {close_str(exc.rcvd)}"
            except Exception as exc:  # noqa: BLE001 - any error fails the case, with its type
                why = f"{type(exc).__name__}: {exc}"
            else:
                why = None
            if why is None:
                passed += 1
                print(f"ok {label}", flush=True)
            else:
                failed += 1
                print(f"FAIL {label}: {why}", flush=True)
    print(f"python-websockets: {passed} passed, {failed} failed", flush=True)
    return 0 if failed == 0 else 1


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url", help="ws://127.0.0.1:PORT of the echo server under test")
    parser.add_argument("--mode", choices=["plain", "deflate", "both"], default="both")
    parser.add_argument("--extended", action="store_true", help="also the cases of the ws-tokio interop server")
    args = parser.parse_args()
    if not args.url.startswith("ws://"):
        parser.error("expected a ws:// URL")
    modes = ["plain", "deflate"] if args.mode == "both" else [args.mode]
    try:
        return asyncio.run(asyncio.wait_for(run_all(args.url, modes, args.extended), TOTAL_TIMEOUT))
    except asyncio.TimeoutError:
        print(f"FAIL (whole run): not finished after {TOTAL_TIMEOUT:g}s", flush=True)
        return 1


if __name__ == "__main__":
    sys.exit(main())
