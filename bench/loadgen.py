"""The load generator: browsers sending a message and then reading the reply's SSE stream, as
one lean asyncio process with raw HTTP/1.1 over asyncio streams (no HTTP library, so that on a
2-core machine it takes as little CPU from the server as possible).

Usage: python bench/loadgen.py CONFIG.json OUT.json. The config gives the server's address
(`ports`: several worker processes take the conversations in turn, each conversation's send and
stream on one connection), the sessions, and `offsets`: when each conversation starts, in
seconds after the phase start (all 0 for a burst, whose connections are opened before it
starts). With `watch_ports`, each reply is also watched from those ports at the same time, and
every stream records when its text reached each point (`progress`). Times in the output are
seconds since the phase start."""

import asyncio
import base64
import json
import os
import re
import sys
import time
import uuid
from pathlib import Path
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


def multipart(fields: dict[str, str], files: list[tuple[str, str, bytes]]) -> tuple[str, bytes]:
    """A multipart/form-data body as a browser's form sends it: the fields, then each file
    under the name `attachments`."""
    boundary = uuid.uuid4().hex
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in fields.items()
    ]
    for name, content_type, data in files:
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="attachments"; '
            f'filename="{name}"\r\nContent-Type: {content_type}\r\n\r\n'.encode()
            + data
            + b"\r\n"
        )
    parts.append(f"--{boundary}--\r\n".encode())
    return f"multipart/form-data; boundary={boundary}", b"".join(parts)


def data_url(content_type: str, data: bytes) -> str:
    return f"data:{content_type};base64,{base64.b64encode(data).decode()}"


class Phase:
    def __init__(self, config: dict) -> None:
        self.config = config
        self.host = config["host"]
        self.ports = config.get("ports") or [config["port"]]
        self.sessions = config.get("sessions") or [{"user": ""}]
        self.offsets = config["offsets"]
        # The server's processes (its workers, and Redis): their CPU time is summed.
        self.server_pids = config.get("server_pids") or []
        words = config.get("progress_words")
        # The fake's words are numbered (alpha1 bravo2 ...): the highest number in a message
        # is how far the reply's text has got on that stream.
        self.progress = (
            re.compile(rb"\b(?:" + b"|".join(w.encode() for w in words) + rb")(\d+)\b")
            if words
            else None
        )
        self.records = [{"i": i, "scheduled": offset} for i, offset in enumerate(self.offsets)]
        self.in_flight = 0
        self.t0 = 0.0
        self.cpu_marks: list[tuple[float, float]] = []  # (time, server cpu s) at first tokens
        self.timeout = config.get("conversation_timeout", 60.0)
        # With `files`, every `files_every`-th send carries them (multipart, as the page's
        # form sends them); the others are plain.
        self.files = [
            (f["name"], f["content_type"], Path(f["path"]).read_bytes())
            for f in config.get("files", [])
        ]
        # What the server sends on for them (the direct baseline): the photo downscaled.
        self.files_as_sent = [
            (f["name"], f["content_type"], Path(f.get("as_sent", f["path"])).read_bytes())
            for f in config.get("files", [])
        ]
        self.files_every = config.get("files_every", 0)

    def now(self) -> float:
        return time.monotonic() - self.t0

    def port(self, i: int) -> int:
        """Where conversation i is sent: the worker processes in turn."""
        return self.ports[i % len(self.ports)]

    def direct_parts(self, message: str) -> list[dict]:
        parts: list[dict] = [{"type": "input_text", "text": message}]
        for name, content_type, data in self.files_as_sent:
            if content_type.startswith("image/"):
                parts.append({"type": "input_image", "image_url": data_url(content_type, data)})
            else:
                parts.append(
                    {
                        "type": "input_file",
                        "filename": name,
                        "file_data": data_url(content_type, data),
                    }
                )
        return parts

    def server_cpu(self) -> float | None:
        if not self.server_pids:
            return None
        total = 0
        for pid in self.server_pids:
            with open(f"/proc/{pid}/stat") as stat:
                fields = stat.read().rpartition(")")[2].split()
            total += int(fields[11]) + int(fields[12])
        return total / CLOCK_TICKS

    def _common_headers(self, session: dict, port: int) -> str:
        return (
            f"Host: {self.host}:{port}\r\n"
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
        port = self.port(record["i"])
        if conn is None:
            conn = await Connection.open(self.host, port)
            record["connected"] = self.now()
        # The other tabs watching the reply, open before the send (no connect time after it).
        watchers = [
            (await Connection.open(self.host, watch_port), watch_port)
            for watch_port in self.config.get("watch_ports", [])
        ]
        try:
            if self.config.get("direct"):
                await self._direct(record, conn, port)
            else:
                await self._send_and_stream(record, session, conn, port, watchers)
        finally:
            conn.close()
            for watcher, _ in watchers:
                watcher.close()

    async def _direct(self, record: dict, conn: Connection, port: int) -> None:
        """Straight to the fake upstream, the request the server would make: for the fake's
        own time to first token under the same load, read by a client that costs little. A
        send with files carries them as the server sends them (content parts, base64)."""
        message = self.config["message"].format(i=record["i"])
        request_input: str | list = message
        if self.files and record["i"] % self.files_every == self.files_every - 1:
            record["with_files"] = True
            request_input = [{"role": "user", "content": self.direct_parts(message)}]
        body = json.dumps(
            {
                "model": "gpt-5.5",
                "input": request_input,
                "truncation": "auto",
                "stream": True,
            }
        ).encode()
        conn.send(
            f"POST {self.config['direct']} HTTP/1.1\r\nHost: {self.host}:{port}\r\n"
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

    async def _send_and_stream(
        self,
        record: dict,
        session: dict,
        conn: Connection,
        port: int,
        watchers: list[tuple[Connection, int]],
    ) -> None:
        config = self.config
        fields = {
            "message": config["message"].format(i=record["i"]),
            "conversation": "",
            "client_token": str(uuid.uuid4()),
            "model": "gpt-5.5",
            "truncation": "auto",
        }
        if self.files and record["i"] % self.files_every == self.files_every - 1:
            record["with_files"] = True
            content_type, form = multipart(fields, self.files)
        else:
            content_type, form = "application/x-www-form-urlencoded", urlencode(fields).encode()
        conn.send(
            "POST /send/ HTTP/1.1\r\n"
            + self._common_headers(session, port)
            + f"X-CSRFToken: {session['csrftoken']}\r\n"
            f"Origin: http://{self.host}:{port}\r\n"
            "HX-Request: true\r\n"
            f"Content-Type: {content_type}\r\n"
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
        streams = [self._stream(record, session, conn, port, url, main=True)] + [
            self._stream(record, session, watcher, watch_port, url, main=False)
            for watcher, watch_port in watchers
        ]
        progress = await asyncio.gather(*streams)
        if self.progress is not None:
            record["progress"] = progress  # per stream, the sending port's first

    async def _stream(
        self, record: dict, session: dict, conn: Connection, port: int, url: str, main: bool
    ) -> list[tuple[float, int]]:
        """Reads the reply's stream to its end; the main one (on the sending connection) sets
        the record's times. Returns (time, word reached) each time the text went further."""
        conn.send(
            f"GET {url} HTTP/1.1\r\n"
            + self._common_headers(session, port)
            + "Accept: text/event-stream\r\nCache-Control: no-cache\r\n\r\n"
        )
        status, _ = await conn.head()
        if main:
            record["stream_status"] = status
        if status != 200:
            raise HTTPError(f"stream answered {status}" + ("" if main else f" on port {port}"))
        if main:
            record["stream_open"] = self.now()
        config, progress, reached = self.config, [], 0
        messages, first_marker, last_marker = 0, config["first_marker"], config["last_marker"]
        async for chunk in conn.chunks():
            messages += 1
            if self.progress is not None:
                words = [int(number) for number in self.progress.findall(chunk)]
                if words and max(words) > reached:
                    reached = max(words)
                    progress.append((self.now(), reached))
            if not main:
                if FINAL in chunk:
                    record.setdefault("watcher_final", []).append(self.now())
                    record["watchers_complete"] = record.get("watchers_complete", 0) + (
                        last_marker in chunk
                    )
                continue
            if "first_token" not in record and first_marker in chunk:
                record["first_token"] = self.now()
                if config.get("sample_cpu_on_first_token"):
                    self.cpu_marks.append((record["first_token"], self.server_cpu()))
            if FINAL in chunk:
                record["final"] = self.now()
                record["complete"] = last_marker in chunk
        if main:
            record["messages"] = messages
        return progress

    async def run(self) -> dict:
        pre_connect = self.config.get("pre_connect", False)
        conns: list[Connection | None] = [None] * len(self.offsets)
        if pre_connect:
            conns = list(
                await asyncio.gather(
                    *(Connection.open(self.host, self.port(i)) for i in range(len(self.offsets)))
                )
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
