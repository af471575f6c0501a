"""Memory browser page timings on a namespace of 10,000 memories, against same-run baselines.

One data dir holds 10,000 LoCoMo turns ("Speaker: text", metadata {"speaker": ...}) in one
namespace; `langmem-mcp serve --transport http` serves it. In interleaved rounds (so slow spells
of the shared machine hit every measurement alike) it times:

- opening the namespace (`GET /ui/memories?ns=…`: its newest 50 memories, counts, live version):
  the server time the page reports (`Server-Timing`) and the client's round trip, against the
  MCP client reading the same page of memories (`memory://list/…?limit=50`) from the same server;
- the same with a metadata filter (json_extract over all 10,000 rows) and the oldest page;
- search from the page (`&q=…`, 20 results with their reasons) against the `search_memory`
  tool (limit 20) with the same questions, over MCP on the same server;
- the namespace with superseded memories shown too (`&show=all`);
- a memory's page (its 22 versions after 20 corrections and a supersede, and its chain of 5
  memories) against an MCP client reading the same memory and its history
  (`memory://item/…` then `memory://history/…`);
- optionally (with Chromium), a real browser loading the namespace page: the navigation's
  server response and DOMContentLoaded.

    python -m tests.bench.ui_pages [--memories 10000] [--rounds 5] [--queries 40] [--out bench-results/ui_pages.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx2

from langmem_mcp.config import Settings
from langmem_mcp.service.container import open_services
from langmem_mcp.service.memories import NewItem
from tests.bench.locomo_data import load
from tests.http_server import http_server, mcp_session

NS = ["bench", "big"]
BATCH = 500
#: The memory whose page is timed: this many corrections, then superseded along a chain this long.
CORRECTIONS = 20
CHAIN = 5
#: The data dir and the server share these: no context vectors, so no idle refinement runs
#: while the timings are taken.
ENV = {"LANGMEM_MCP_LLM": "none", "LANGMEM_MCP_CONTEXT_VECTORS": "off"}


def corpus(n: int) -> tuple[list[NewItem], list[str]]:
    convs = load()
    items: list[NewItem] = []
    questions = [q.question for c in convs for q in c.questions]
    copy = 0
    while len(items) < n:
        for conv in convs:
            for turn in conv.turns:
                text = turn.memory if copy == 0 else f"{turn.memory} [{copy}]"
                items.append(NewItem(text, NS, {"speaker": turn.speaker, "conversation": conv.name}))
                if len(items) == n:
                    return items, questions
        copy += 1
    return items, questions


async def ingest(data_dir: Path, items: list[NewItem]) -> tuple[float, str]:
    """Store the corpus, then one memory with a history and a supersede chain; returns the time
    the corpus took and that memory's id."""
    started = time.perf_counter()
    settings = Settings(data_dir=data_dir, llm="none", context_vectors="off")
    async with open_services(settings) as svc:
        for i in range(0, len(items), BATCH):
            await svc.memories.create_many(items[i : i + BATCH])
        took = time.perf_counter() - started
        first = (await svc.memories.create("The bench fact, version 0", NS)).id
        for k in range(1, CORRECTIONS + 1):
            await svc.memories.update(first, NS, content=f"The bench fact, version {k}")
        latest = first
        for k in range(1, CHAIN):
            latest = (await svc.memories.supersede(latest, NS, f"The bench fact changed, step {k}")).id
    return took, first


def stats(xs: list[float]) -> dict[str, float]:
    xs = sorted(xs)
    return {
        "n": len(xs),
        "p50_ms": round(statistics.median(xs) * 1000, 2),
        "p95_ms": round(xs[min(len(xs) - 1, int(0.95 * len(xs)))] * 1000, 2),
    }


async def timed_page(client: httpx2.AsyncClient, path: str, params: dict[str, str]) -> tuple[float, float]:
    """(client round trip, server time from Server-Timing) in seconds."""
    started = time.perf_counter()
    res = await client.get(path, params=params)
    wall = time.perf_counter() - started
    assert res.status_code == 200, res.text[-500:]
    server = float(res.headers["server-timing"].split("dur=")[1]) / 1000
    return wall, server


async def run(n: int, rounds: int, queries: int, root: Path, browser: bool = True) -> dict[str, Any]:
    data_dir = root / "data"
    items, questions = corpus(n)
    questions = questions[:queries]
    ingest_s, chained = await ingest(data_dir, items)
    ns_text = "/".join(NS)
    listing = f"memory://list/{quote(ns_text, safe='')}?limit=50"
    item = f"memory://item/{quote(ns_text, safe='')}/{chained}"
    versions = f"memory://history/{quote(ns_text, safe='')}/{chained}"
    speaker = items[0].metadata["speaker"] if items[0].metadata else ""
    t: dict[str, list[float]] = {
        k: []
        for k in (
            "page_open_wall",
            "page_open_server",
            "mcp_list_wall",
            "page_filtered_wall",
            "page_filtered_server",
            "page_oldest_wall",
            "page_oldest_server",
            "page_search_wall",
            "page_search_server",
            "mcp_search_wall",
            "page_open_all_wall",
            "page_open_all_server",
            "page_memory_wall",
            "page_memory_server",
            "mcp_memory_and_history_wall",
        )
    }
    async with http_server(data_dir, **ENV) as server:
        async with httpx2.AsyncClient(base_url=server.url, timeout=120) as client, mcp_session(server) as mcp:
            # Warm up: the index and the model load after start; the first page sets the cookie.
            await mcp.call_tool("search_memory", {"query": "warm up", "namespace": NS})
            await client.get("/ui/memories", params={"ns": ns_text})
            await client.get("/ui/memories", params={"ns": ns_text, "q": "warm up"})
            oldest = await client.get("/ui/memories", params={"ns": ns_text, "limit": "100"})
            # the cursor of the last page: ask the service through the page's own links
            cursor = None
            while oldest.status_code == 200 and 'id="older"' in oldest.text:
                cursor = oldest.text.split('id="older" href="')[1].split("before=")[1].split('"')[0]
                oldest = await client.get(
                    "/ui/memories", params={"ns": ns_text, "limit": "100", "before": cursor}
                )
            for _ in range(rounds):
                for q in questions:
                    wall, srv = await timed_page(client, "/ui/memories", {"ns": ns_text})
                    t["page_open_wall"].append(wall)
                    t["page_open_server"].append(srv)
                    started = time.perf_counter()
                    await mcp.read_resource(listing)
                    t["mcp_list_wall"].append(time.perf_counter() - started)
                    wall, srv = await timed_page(client, "/ui/memories", {"ns": ns_text, "q": q})
                    t["page_search_wall"].append(wall)
                    t["page_search_server"].append(srv)
                    started = time.perf_counter()
                    res = await mcp.call_tool("search_memory", {"query": q, "namespace": NS, "limit": 20})
                    t["mcp_search_wall"].append(time.perf_counter() - started)
                    assert not res.is_error
                for _ in range(len(questions) // 4):
                    wall, srv = await timed_page(client, "/ui/memories", {"ns": ns_text, "show": "all"})
                    t["page_open_all_wall"].append(wall)
                    t["page_open_all_server"].append(srv)
                    wall, srv = await timed_page(client, f"/ui/memory/{chained}", {"ns": ns_text})
                    t["page_memory_wall"].append(wall)
                    t["page_memory_server"].append(srv)
                    started = time.perf_counter()
                    await mcp.read_resource(item)
                    history = json.loads((await mcp.read_resource(versions)).contents[0].text)  # type: ignore[union-attr]
                    t["mcp_memory_and_history_wall"].append(time.perf_counter() - started)
                    assert len(history["versions"]) == CORRECTIONS + 2, history
                wall, srv = await timed_page(
                    client, "/ui/memories", {"ns": ns_text, "filter": f"speaker={speaker}"}
                )
                t["page_filtered_wall"].append(wall)
                t["page_filtered_server"].append(srv)
                if cursor:
                    wall, srv = await timed_page(client, "/ui/memories", {"ns": ns_text, "before": cursor})
                    t["page_oldest_wall"].append(wall)
                    t["page_oldest_server"].append(srv)
        nav = await browser_timings(server.url, ns_text, 20) if browser else None
    out: dict[str, Any] = {
        "memories_in_namespace": n,
        "ingest_seconds": round(ingest_s, 1),
        "rounds": rounds,
        "queries": len(questions),
        **{k: stats(v) for k, v in t.items() if v},
    }
    out["ratios"] = {
        "page_open_wall_over_mcp_list": round(
            out["page_open_wall"]["p50_ms"] / out["mcp_list_wall"]["p50_ms"], 2
        ),
        "page_search_wall_over_search_memory": round(
            out["page_search_wall"]["p50_ms"] / out["mcp_search_wall"]["p50_ms"], 2
        ),
        "page_search_minus_search_memory_p50_ms": round(
            out["page_search_wall"]["p50_ms"] - out["mcp_search_wall"]["p50_ms"], 2
        ),
        "page_memory_wall_over_mcp_memory_and_history": round(
            out["page_memory_wall"]["p50_ms"] / out["mcp_memory_and_history_wall"]["p50_ms"], 2
        ),
    }
    out["targets"] = {
        "page_open_server_p95_within_300ms": out["page_open_server"]["p95_ms"] <= 300,
        "page_search_within_search_memory_plus_20ms": out["ratios"]["page_search_minus_search_memory_p50_ms"]
        <= 20,
    }
    if nav:
        out["browser"] = nav
    return out


async def browser_timings(base: str, ns_text: str, n: int) -> dict[str, Any] | None:
    from tests.browser import chromium, why_no_browser

    if why_no_browser() is not None:
        return None
    response, dom = [], []
    async with chromium() as b:
        context = await b.new_context(base_url=base)
        page = await context.new_page()
        for _ in range(n):
            await page.goto(f"/ui/memories?ns={quote(ns_text)}")
            timing = await page.evaluate(
                "() => { const e = performance.getEntriesByType('navigation')[0];"
                " return [e.responseEnd - e.requestStart, e.domContentLoadedEventEnd - e.startTime]; }"
            )
            response.append(timing[0] / 1000)
            dom.append(timing[1] / 1000)
        await context.close()
    return {"navigation_response": stats(response), "dom_content_loaded": stats(dom)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--memories", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--queries", type=int, default=40)
    parser.add_argument("--no-browser", action="store_true")
    parser.add_argument("--out", default="bench-results/ui_pages.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        result = asyncio.run(run(args.memories, args.rounds, args.queries, Path(tmp), not args.no_browser))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
