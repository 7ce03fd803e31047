"""A fake GIR member: a tiny asyncio HTTP/1.1 server (keep-alive aware) that answers with its
name and the path it received. Run one process per member:

    python fake_member.py --name t1-rws-1 --port 9101 [--host 127.0.0.1] [--kind rws] [--route T1RWS1] [--tls CERT KEY]

Used by the live tests (on loopback) and by the lab (inside its backends namespace). `--kind`: the
service it stands in for (its key in blueprint/services.py; plain by default), `--route`: the
member's route, if it has one.

- `?hold=S` holds the request S seconds (an RWS long-poll); `GET /__stats` (direct, not through
  the balancer) reports {"served", "held", "connections"} (connections: those that carried a request).
- kind rcs behaves like Tomcat: sets `JSESSIONID=<id>.<route>; Path=/rcs` when the request has
  no session, and `/rcs/redirect` answers 302 with a Location on the member's own URL.
- SIGSTOP freezes it (the kernel still accepts connections, nothing answers).
Prints "ready" once listening.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import ssl
import sys
from urllib.parse import parse_qs, urlsplit

served = 0
held = 0
connections = 0  # TCP connections that carried a request (not the /__stats ones)
_session_ids = itertools.count(1)


def response(status: str, body: dict, headers: list[tuple[str, str]]) -> bytes:
    data = json.dumps(body).encode()
    head = [
        f"HTTP/1.1 {status}",
        "Content-Type: application/json",
        f"Content-Length: {len(data)}",
        *(f"{k}: {v}" for k, v in headers),
    ]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + data


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, args) -> None:
    global served, held, connections
    counted = False
    try:
        while True:
            line = await reader.readline()
            if not line:
                return
            method, target, _ = line.decode("latin-1").split(" ", 2)
            headers = {}
            while (h := await reader.readline()) not in (b"\r\n", b"\n", b""):
                k, _, v = h.decode("latin-1").partition(":")
                headers[k.strip().lower()] = v.strip()
            if int(headers.get("content-length", "0")):
                await reader.readexactly(int(headers["content-length"]))
            if target == "/__stats":
                writer.write(response("200 OK", {"served": served, "held": held, "connections": connections}, []))
                await writer.drain()
                continue
            served += 1
            if not counted:
                connections, counted = connections + 1, True
            query = parse_qs(urlsplit(target).query)
            if "hold" in query:
                held += 1
                try:
                    await asyncio.sleep(float(query["hold"][0]))
                finally:
                    held -= 1
            extra: list[tuple[str, str]] = []
            status = "200 OK"
            cookie = headers.get("cookie", "")
            if args.kind == "rcs":
                if "JSESSIONID=" not in cookie and ";jsessionid=" not in target:
                    extra.append(("Set-Cookie", f"JSESSIONID={next(_session_ids):08X}.{args.route}; Path=/rcs; HttpOnly"))
                if urlsplit(target).path.endswith("/redirect"):
                    status = "302 Found"
                    scheme = "https" if args.tls else "http"
                    extra.append(("Location", f"{scheme}://{args.host}:{args.port}/rcs/after"))
            # "via": the address the request came from, i.e. the lab node whose httpd proxied it.
            via = writer.get_extra_info("peername")[0]
            body = {"member": args.name, "path": target, "method": method, "cookie": cookie, "via": via}
            writer.write(response(status, body, extra))
            await writer.drain()
            if headers.get("connection", "").lower() == "close":
                return
    except (ConnectionError, ValueError, asyncio.IncompleteReadError):
        return
    finally:
        writer.close()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--name", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--route", default="")
    parser.add_argument("--kind", default="plain")
    parser.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
    args = parser.parse_args()
    context = None
    if args.tls:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(*args.tls)
    server = await asyncio.start_server(
        lambda r, w: handle(r, w, args), args.host, args.port, ssl=context, backlog=4096, reuse_address=True
    )
    print("ready", flush=True)
    sys.stdout.close()
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
