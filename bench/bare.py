"""The baseline: a bare httpx + httpx-sse client reading the fake upstream's streams directly,
with the same schedule and the same requests the server would make. It gives the fake's own
time to first token under that load, and the CPU a minimal relay reader needs per token.

Usage: python bench/bare.py CONFIG.json OUT.json (config: base_url, offsets, message)."""

import asyncio
import json
import sys
import time

import httpx
from httpx_sse import aconnect_sse


async def one(client: httpx.AsyncClient, config: dict, record: dict, t0: float) -> None:
    now = lambda: time.monotonic() - t0  # noqa: E731
    record["start"] = now()
    payload = {
        "model": "gpt-5.5",
        "input": config["message"].format(i=record["i"]),
        "truncation": "auto",
        "stream": True,
    }
    tokens = 0
    try:
        async with aconnect_sse(
            client, "POST", config["base_url"] + "/responses", json=payload
        ) as source:
            source.response.raise_for_status()
            async for event in source.aiter_sse():
                data = json.loads(event.data)
                kind = data.get("type")
                if kind == "response.output_text.delta":
                    tokens += 1
                    if tokens == 1:
                        record["first_token"] = now()
                elif kind == "response.completed":
                    record["complete"] = True
                    break
    except Exception as error:
        record["error"] = f"{type(error).__name__}: {error}"[:300]
        record["error_kind"] = getattr(error, "kind", type(error).__name__)
    record["tokens"] = tokens
    record["end"] = now()


async def run(config: dict) -> dict:
    offsets = config["offsets"]
    records = [{"i": i, "scheduled": offset} for i, offset in enumerate(offsets)]
    client = httpx.AsyncClient(
        limits=httpx.Limits(max_connections=None, max_keepalive_connections=100),
        timeout=httpx.Timeout(60.0),
        headers={"Authorization": "Bearer bench", "Accept": "text/event-stream"},
        trust_env=False,
    )
    async with client:
        cpu_start = time.process_time()
        t0 = time.monotonic()
        tasks = []
        for record, offset in zip(records, offsets, strict=True):
            delay = offset - (time.monotonic() - t0)
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(client, config, record, t0)))
        await asyncio.wait_for(asyncio.gather(*tasks), config.get("timeout", 120.0))
        cpu = time.process_time() - cpu_start
        wall = time.monotonic() - t0
    return {"wall_s": wall, "cpu_s": cpu, "records": records}


def main() -> None:
    with open(sys.argv[1]) as file:
        config = json.load(file)
    try:
        import uvloop

        runner = uvloop.run
    except ImportError:
        runner = asyncio.run
    result = runner(run(config))
    result["event_loop"] = runner.__module__
    with open(sys.argv[2], "w") as file:
        json.dump(result, file)


if __name__ == "__main__":
    main()
