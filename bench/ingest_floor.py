"""The floor under the ingest benchmark: a do-nothing HTTP/1.1 server on httptools + uvloop.

`python -m bench.ingest_floor PORT`: parses each request with httptools (the ingest's parser) and
answers `200` with an empty body on keep-alive, nothing else (no decoding, no Redis). Driven by the
same wrk load as the ingest (bench/ingest.py runs it first, in the same run), it shows what the
machine, its loopback network and the load generator allow at that moment, so the ingest's
figures can be read against it: the part above the floor is the ingest's own work.
"""

from __future__ import annotations

import asyncio
import sys

import httptools
import uvloop

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"


class Floor(asyncio.Protocol):
    def __init__(self) -> None:
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            if self.transport is not None:
                self.transport.close()

    def on_message_complete(self) -> None:
        if self.transport is not None:
            self.transport.write(OK)


async def serve(port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Floor, "127.0.0.1", port, backlog=4096)
    print("listening", flush=True)
    async with server:
        await loop.run_in_executor(None, sys.stdin.read)   # until the parent closes stdin


if __name__ == "__main__":
    uvloop.run(serve(int(sys.argv[1])))
