"""The load generator: browsers sending a message and then reading the reply's SSE stream, as
one lean asyncio process with raw HTTP/1.1 over asyncio streams (no HTTP library, so that on a
2-core machine it takes as little CPU from the server as possible).

Usage: python bench/loadgen.py CONFIG.json OUT.json. The config gives the server's address,
the sessions, and `offsets`: when each conversation starts, in seconds after the phase start
(all 0 for a burst, whose connections are opened before it starts). Times in the output are
seconds since the phase start."""

import asyncio
import json
import os
import re
import sys
import time
import uuid
from urllib.parse import urlencode

REPLY_ID = re.compile(rb'id="reply-([0-9a-f-]{36})"')
# The stream's address as the page gives it to the browser.
STREAM_URL = re.compile(rb'hx-sse:connect="([^"]+)"')
FINAL = b'aria-busy="false"'
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


class HTTPError(Exception):
    """An answer that is not the expected one; `kind` groups them in the summary."""

    def __init__(self, kind: str, detail: str = "") -> None:
        super().__init__(f"{kind}: {detail}" if detail else kind)
        self.kind = kind


class Connection:
    """One keep-alive HTTP/1.1 connection: a request and a whole answer, or a chunked stream."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, host: str, port: int) -> "Connection":
        reader, writer = await asyncio.open_connection(host, port, limit=1 << 20)
        return cls(reader, writer)

    def close(self) -> None:
        self.writer.close()

    def send(self, head: str, body: bytes = b"") -> None:
        self.writer.write(head.encode("latin-1") + body)

    async def head(self) -> tuple[int, dict[bytes, bytes]]:
        raw = await self.reader.readuntil(b"\r\n\r\n")
        lines = raw.split(b"\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            if name:
                headers[name.strip().lower()] = value.strip()
        return status, headers

    async def body(self, headers: dict[bytes, bytes]) -> bytes:
        if b"content-length" in headers:
            return await self.reader.readexactly(int(headers[b"content-length"]))
        if headers.get(b"transfer-encoding", b"").lower() == b"chunked":
            return b"".join([chunk async for chunk in self.chunks()])
        return await self.reader.read()

    async def chunks(self):
        """The chunks of a chunked body, as they arrive (one SSE message is one chunk)."""
        while True:
            line = await self.reader.readline()
            if not line:
                raise HTTPError("connection closed mid-body")
            size = int(line.split(b";")[0], 16)
            if size == 0:
                await self.reader.readline()
                return
            data = await self.reader.readexactly(size + 2)
            yield data[:-2]


class Phase:
    def __init__(self, config: dict) -> None:
        self.config = config
        self.host, self.port = config["host"], config["port"]
        self.sessions = config.get("sessions") or [{"user": ""}]
        self.offsets = config["offsets"]
        self.server_pid = config.get("server_pid")
        self.records = [{"i": i, "scheduled": offset} for i, offset in enumerate(self.offsets)]
        self.in_flight = 0
        self.t0 = 0.0
        self.cpu_marks: list[tuple[float, float]] = []  # (time, server cpu s) at first tokens
        self.timeout = config.get("conversation_timeout", 60.0)

    def now(self) -> float:
        return time.monotonic() - self.t0

    def server_cpu(self) -> float | None:
        if not self.server_pid:
            return None
        with open(f"/proc/{self.server_pid}/stat") as stat:
            fields = stat.read().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS

    def _common_headers(self, session: dict) -> str:
        return (
            f"Host: {self.host}:{self.port}\r\n"
            f"Cookie: sessionid={session['sessionid']}; csrftoken={session['csrftoken']}\r\n"
        )

    async def conversation(self, i: int, conn: Connection | None) -> None:
        record = self.records[i]
        session = self.sessions[i % len(self.sessions)]
        record["user"] = session["user"]
        record["start"] = self.now()
        record["in_flight_at_start"] = self.in_flight
        self.in_flight += 1
        try:
            await asyncio.wait_for(self._converse(record, session, conn), self.timeout)
        except Exception as error:
            record["error"] = f"{type(error).__name__}: {error}"[:300]
            record["error_kind"] = getattr(error, "kind", type(error).__name__)
        finally:
            self.in_flight -= 1
            record["end"] = self.now()

    async def _converse(self, record: dict, session: dict, conn: Connection | None) -> None:
        if conn is None:
            conn = await Connection.open(self.host, self.port)
            record["connected"] = self.now()
        try:
            if self.config.get("direct"):
                await self._direct(record, conn)
            else:
                await self._send_and_stream(record, session, conn)
        finally:
            conn.close()

    async def _direct(self, record: dict, conn: Connection) -> None:
        """Straight to the fake upstream, the request the server would make: for the fake's
        own time to first token under the same load, read by a client that costs little."""
        body = json.dumps(
            {
                "model": "gpt-5.5",
                "input": self.config["message"].format(i=record["i"]),
                "truncation": "auto",
                "stream": True,
            }
        ).encode()
        conn.send(
            f"POST {self.config['direct']} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            "Authorization: Bearer bench\r\nAccept: text/event-stream\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n",
            body,
        )
        status, _headers = await conn.head()
        record["send_status"] = record["stream_status"] = status
        record["sent"] = record["stream_open"] = self.now()
        if status != 200:
            raise HTTPError(f"fake answered {status}")
        tokens = 0
        async for chunk in conn.chunks():
            if b'"response.output_text.delta"' in chunk:
                tokens += chunk.count(b'"response.output_text.delta"')
                if "first_token" not in record:
                    record["first_token"] = self.now()
            if b'"response.completed"' in chunk:
                record["final"] = self.now()
                record["complete"] = True
        record["tokens"] = tokens

    async def _send_and_stream(self, record: dict, session: dict, conn: Connection) -> None:
        config = self.config
        form = urlencode(
            {
                "message": config["message"].format(i=record["i"]),
                "conversation": "",
                "client_token": str(uuid.uuid4()),
                "model": "gpt-5.5",
                "truncation": "auto",
            }
        ).encode()
        conn.send(
            "POST /send/ HTTP/1.1\r\n"
            + self._common_headers(session)
            + f"X-CSRFToken: {session['csrftoken']}\r\n"
            f"Origin: http://{self.host}:{self.port}\r\n"
            "HX-Request: true\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n"
            f"Content-Length: {len(form)}\r\n\r\n",
            form,
        )
        status, headers = await conn.head()
        body = await conn.body(headers)
        record["sent"] = self.now()
        record["send_status"] = status
        match = REPLY_ID.search(body)
        if status != 200 or match is None:
            raise HTTPError(f"send answered {status}", repr(body[:300]))
        reply_id = match.group(1).decode()
        record["reply_id"] = reply_id
        if config.get("no_viewer"):  # experiments: the reply is generated with nobody watching
            return
        stream = STREAM_URL.search(body)
        url = stream.group(1).decode().replace("&amp;", "&") if stream else f"/r/{reply_id}/stream/"
        conn.send(
            f"GET {url} HTTP/1.1\r\n"
            + self._common_headers(session)
            + "Accept: text/event-stream\r\nCache-Control: no-cache\r\n\r\n"
        )
        status, headers = await conn.head()
        record["stream_status"] = status
        if status != 200:
            raise HTTPError(f"stream answered {status}")
        record["stream_open"] = self.now()
        messages, first_marker, last_marker = 0, config["first_marker"], config["last_marker"]
        async for chunk in conn.chunks():
            messages += 1
            if "first_token" not in record and first_marker in chunk:
                record["first_token"] = self.now()
                if config.get("sample_cpu_on_first_token"):
                    self.cpu_marks.append((record["first_token"], self.server_cpu()))
            if FINAL in chunk:
                record["final"] = self.now()
                record["complete"] = last_marker in chunk
        record["messages"] = messages

    async def run(self) -> dict:
        pre_connect = self.config.get("pre_connect", False)
        conns: list[Connection | None] = [None] * len(self.offsets)
        if pre_connect:
            conns = list(
                await asyncio.gather(*(Connection.open(self.host, self.port) for _ in self.offsets))
            )
        cpu_start = time.process_time()
        server_cpu_start = self.server_cpu()
        self.t0 = time.monotonic()
        t0_wall = time.time()
        tasks = []
        for i, offset in enumerate(self.offsets):
            delay = offset - self.now()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(self.conversation(i, conns[i])))
        await asyncio.gather(*tasks)
        return {
            "wall_s": self.now(),
            "t0_wall": t0_wall,
            "loadgen_cpu_s": time.process_time() - cpu_start,
            "server_cpu_start": server_cpu_start,
            "server_cpu_end": self.server_cpu(),
            "cpu_marks": self.cpu_marks,
            "records": self.records,
        }


def main() -> None:
    config_path, out_path = sys.argv[1], sys.argv[2]
    with open(config_path) as file:
        config = json.load(file)
    for key in ("first_marker", "last_marker"):
        config[key] = config.get(key, "").encode()
    try:
        import uvloop

        runner = uvloop.run
    except ImportError:
        runner = asyncio.run
    result = runner(Phase(config).run())
    result["event_loop"] = runner.__module__
    with open(out_path, "w") as file:
        json.dump(result, file)


if __name__ == "__main__":
    main()
