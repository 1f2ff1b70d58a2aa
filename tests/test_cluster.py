"""Two Rivulet instances + Redis + nginx from deploy/nginx.conf, all real processes on 127.0.0.1 (deploy/cluster.py).

Streaming through nginx, the page and its websocket through nginx, sticky browsers, failover after a kill -9,
and one model server shared by every instance (`--base-url`).
"""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import time
from collections.abc import Iterator
from typing import Any

import httpx
import psutil
import pytest

from deploy.cluster import INSTALL_HINT, Cluster, missing_programs
from deploy.nginx import render
from tests.support.browser import LAST_ANSWER, LAST_STATUS, ask, poll
from tests.support.fake_openai import ANSWER, FakeOpenAIServer
from tests.support.servers import cli_env

CHUNKS, RATE = 30, 15  # two seconds of answer, a chunk every 67 ms
FAKE = f"fake:chunks={CHUNKS},rate={RATE}"
INSTANCE = "x-rivulet-instance"

pytestmark = pytest.mark.skipif(
    bool(missing_programs()), reason=f"{' and '.join(missing_programs())} not installed: {INSTALL_HINT}"
)


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    with Cluster(instances=2, model=FAKE, env=cli_env()) as running:
        yield running


def first_visit(cluster: Cluster) -> tuple[str, str]:
    """A new browser's first page load through nginx: the instance that served it and the sticky cookie it got."""
    response = httpx.get(cluster.url + "/")
    assert response.status_code == 200
    return response.headers[INSTANCE], response.cookies["rivulet_lb"]


def served_by(cluster: Cluster, cookie: str, path: str = "/") -> str:
    response = httpx.get(cluster.url + path, cookies={"rivulet_lb": cookie}, timeout=10)
    assert response.status_code == 200, response.text[:200]
    return response.headers[INSTANCE]


def test_the_template_renders_any_number_of_instances() -> None:
    conf = render(9000, [9001, 9002, 9003])
    assert conf.count("server 127.0.0.1:900") == 3 and "listen 127.0.0.1:9000;" in conf
    assert "hash $rivulet_sticky consistent;" in conf and "proxy_buffering off;" in conf
    with pytest.raises(ValueError):
        render(9000, [])


def test_ask_streams_through_nginx_chunk_by_chunk(cluster: Cluster) -> None:
    arrivals: list[tuple[float, bytes]] = []
    with httpx.stream("POST", cluster.url + "/ask", json={"prompt": "hi"}, timeout=30) as response:
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/plain; charset=utf-8"
        for data in response.iter_bytes():  # gzip too: each chunk is flushed (Z_SYNC_FLUSH) on its own
            arrivals.append((time.monotonic(), data))
    body = b"".join(data for _, data in arrivals).decode()
    assert len(body.split()) >= CHUNKS - 1  # the whole answer
    # Not one buffered body: many separate reads, spread over the model's two seconds.
    assert len(arrivals) >= CHUNKS // 2, f"only {len(arrivals)} reads"
    assert arrivals[-1][0] - arrivals[0][0] > 0.6 * CHUNKS / RATE
    half = len(body) // 2
    seen = 0
    for at, data in arrivals:  # the first half of the text was there well before the end
        seen += len(data)
        if seen >= half:
            assert arrivals[-1][0] - at > 0.5
            break


def test_a_browser_stays_on_one_instance_from_its_first_request(cluster: Cluster) -> None:
    instance, cookie = first_visit(cluster)
    for path in ("/", "/", "/favicon.ico", "/", "/_nicegui_ws/socket.io/?EIO=4&transport=polling"):
        response = httpx.get(cluster.url + path, cookies={"rivulet_lb": cookie}, timeout=10)
        assert response.headers.get(INSTANCE) == instance, path
        assert "rivulet_lb" not in response.cookies  # set once, on the first response
    # Browsers are spread: of twenty (fixed) cookies, both instances get some.
    spread = {served_by(cluster, f"browser-{n}") for n in range(20)}
    assert spread == {node.name for node in cluster.nodes}


async def test_the_page_and_its_websocket_work_through_nginx(cluster: Cluster, browser: Any) -> None:
    page = await browser.new_page()
    documents: list[str] = []
    page.on(
        "response",
        lambda r: documents.append(r.headers.get(INSTANCE, "")) if r.request.resource_type == "document" else None,
    )
    await page.goto(cluster.url)
    await ask(page, "Through nginx")  # waits until the websocket is connected and NiceGUI knows the tab
    await poll(page, LAST_STATUS, lambda text: f"{CHUNKS} chunks" in text, limit=30)
    assert (await page.evaluate(LAST_ANSWER)).startswith("Streaming, one chunk")
    # One document load: the websocket reached the instance that rendered the page (else NiceGUI reloads it).
    assert len(documents) == 1 and documents[0] in {node.name for node in cluster.nodes}
    # Reloaded, the page comes from the same instance and shows the conversation (kept in Redis).
    await page.reload()
    await page.wait_for_selector(".user-message")
    assert await page.locator(".user-message").all_inner_texts() == ["Through nginx"]
    assert documents == [documents[0]] * 2


def test_failover_when_an_instance_is_killed() -> None:
    with Cluster(instances=2, model=FAKE, env=cli_env()) as cluster:
        victim, cookie = first_visit(cluster)
        other = next(node for node in cluster.nodes if node.name != victim)
        node = next(node for node in cluster.nodes if node.name == victim)
        killed_at = time.monotonic()
        os.kill(node.proc.pid, signal.SIGKILL)
        node.proc.wait(10)
        assert served_by(cluster, cookie) == other.name  # the very next request, same cookie
        failover = time.monotonic() - killed_at
        print(f"\nfailover: {failover * 1000:.0f} ms from kill -9 to the first page served by {other.name}")
        assert failover < 5
        # /ask too (a refused connection is retried, nothing was sent yet), and the browser now stays on the other.
        with httpx.stream(
            "POST", cluster.url + "/ask", json={"prompt": "hi"}, cookies={"rivulet_lb": cookie}, timeout=30
        ) as response:
            assert response.status_code == 200 and response.headers[INSTANCE] == other.name
            assert len(response.read().split()) >= CHUNKS - 1
        assert {served_by(cluster, cookie) for _ in range(5)} == {other.name}


def test_every_instance_shares_one_model_server(fake_openai: FakeOpenAIServer) -> None:
    """`--base-url` goes to every instance: answers from both come from the one model server."""
    with Cluster(instances=2, model="openai:ok", base_url=fake_openai.base_url, env=cli_env()) as cluster:
        answered: dict[str, str] = {}
        for n in range(20):
            if len(answered) == 2:
                break
            response = httpx.post(
                cluster.url + "/ask", json={"prompt": "hi"}, cookies={"rivulet_lb": f"client-{n}"}, timeout=30
            )
            assert response.status_code == 200
            answered.setdefault(response.headers[INSTANCE], response.text)
        assert set(answered) == {node.name for node in cluster.nodes}
        assert set(answered.values()) == {ANSWER}
        assert len(fake_openai.times("request", "ok")) >= 2


async def test_an_open_page_moves_to_the_other_instance_when_its_own_is_killed(browser: Any) -> None:
    with Cluster(instances=2, model=FAKE, env=cli_env()) as cluster:
        page = await browser.new_page()
        documents: list[str] = []
        page.on("response", lambda r: documents.append(r.headers.get(INSTANCE, "")) if is_document(r) else None)
        await page.goto(cluster.url)
        await ask(page, "Before the kill")
        await poll(page, LAST_STATUS, lambda text: f"{CHUNKS} chunks" in text, limit=30)
        node = next(node for node in cluster.nodes if node.name == documents[0])
        killed_at = time.monotonic()
        os.kill(node.proc.pid, signal.SIGKILL)
        # The websocket drops, reconnects through nginx to the other instance, which reloads the page.
        await poll(page, "() => document.readyState", lambda _: len(documents) >= 2, limit=30)
        await page.wait_for_selector(".user-message")
        moved = time.monotonic() - killed_at
        print(f"\npage moved to {documents[-1]} {moved:.1f} s after kill -9 of {node.name}")
        assert documents[-1] != node.name
        assert await page.locator(".user-message").all_inner_texts() == ["Before the kill"]  # from Redis
        await ask(page, "After the kill")
        statuses = "() => [...document.querySelectorAll('.answer-status')].map(e => e.innerText)"
        await poll(page, statuses, lambda texts: len(texts) == 2 and f"{CHUNKS} chunks" in texts[-1], limit=30)
        assert await page.locator(".user-message").all_inner_texts() == ["Before the kill", "After the kill"]
        assert documents[1:] == [documents[-1]] * (len(documents) - 1)  # it stays there


def is_document(response: Any) -> bool:
    return response.request.resource_type == "document"


def test_by_default_one_embedded_engine_serves_every_instance() -> None:
    """`make cluster` with no model: one engine process (the capacity: its slots) behind both instances."""
    with Cluster(instances=2, parallel=2, env=cli_env()) as cluster:
        assert cluster.engine is not None and cluster.engine.alive()
        answered: set[str] = set()
        for n in range(20):
            if len(answered) == 2:
                break
            response = httpx.post(
                cluster.url + "/ask",
                json={"prompt": "Say hello.", "max_tokens": 8, "temperature": 0},
                cookies={"rivulet_lb": f"client-{n}"},
                timeout=60,
            )
            assert response.status_code == 200 and response.text.strip()
            answered.add(response.headers[INSTANCE])
        assert answered == {node.name for node in cluster.nodes}
        for node in cluster.nodes:  # neither instance started an engine of its own
            assert f"--base-url {cluster.engine.url}/v1" in " ".join(node.proc.args)  # type: ignore[arg-type]
            assert not psutil.Process(node.proc.pid).children()


LAST_ERROR = (
    "() => { const a = document.querySelectorAll('.answer-error'); return a.length ? a[a.length - 1].innerText : ''; }"
)


async def test_an_answer_whose_instance_is_killed_is_kept_as_interrupted(browser: Any) -> None:
    """kill -9 of the instance writing an answer: through nginx the page moves on and shows what was written."""
    with Cluster(instances=2, model="fake:chunks=3000,rate=40", env=cli_env()) as cluster:
        page = await browser.new_page()
        documents: list[str] = []
        page.on("response", lambda r: documents.append(r.headers.get(INSTANCE, "")) if is_document(r) else None)
        await page.goto(cluster.url)
        await ask(page, "A long answer, please")
        await poll(page, LAST_ANSWER, lambda text: len(text) > 400, limit=30)
        node = next(node for node in cluster.nodes if node.name == documents[0])
        os.kill(node.proc.pid, signal.SIGKILL)
        killed_at = time.monotonic()
        shown = await page.evaluate(LAST_ANSWER)  # what the page had: at most one flush more than the stream
        await poll(page, LAST_ERROR, lambda text: text.startswith("Interrupted"), limit=10)
        took = time.monotonic() - killed_at
        print(f"\nthe answer shows as interrupted {took:.1f} s after kill -9 of {node.name}")
        assert took < 10 and documents[-1] != node.name
        kept = await page.evaluate(LAST_ANSWER)
        assert kept[:200] == shown[:200] and len(kept) >= 0.8 * len(shown), (len(kept), len(shown))
        assert "Incomplete" in await page.evaluate(LAST_STATUS)
        # The conversation goes on, on the instance that is left.
        await page.get_by_role("button", name="Regenerate").wait_for()
        await ask(page, "After the kill")
        statuses = "() => [...document.querySelectorAll('.answer-status')].map(e => e.innerText)"
        await poll(page, statuses, lambda texts: len(texts) == 2 and "chunks" in texts[-1], limit=30)
        assert await page.locator(".user-message").all_inner_texts() == ["A long answer, please", "After the kill"]


async def test_a_tab_on_the_other_instance_follows_the_answer_and_stops_it(
    fake_openai: FakeOpenAIServer, browser: Any
) -> None:
    """One browser, a tab through nginx and one on the other instance: the second shows the first's answer growing,
    and its Stop closes the model request of the instance that writes it."""
    with Cluster(instances=2, model="openai:slow", base_url=fake_openai.base_url, env=cli_env()) as cluster:
        context = await browser.new_context()
        page = await context.new_page()
        documents: list[str] = []
        page.on("response", lambda r: documents.append(r.headers.get(INSTANCE, "")) if is_document(r) else None)
        await page.goto(cluster.url)
        await ask(page, "Write for a long time")
        await poll(page, LAST_ANSWER, lambda text: "w3" in text, limit=30)
        other = next(node for node in cluster.nodes if node.name != documents[0])
        tab = await context.new_page()  # the same browser (cookies are per host, not per port), the other instance
        await tab.goto(other.url)
        states: list[str] = []
        deadline = time.monotonic() + 20
        while len(states) < 3:
            assert time.monotonic() < deadline, f"the tab on {other.name} showed {states}"
            text = await tab.evaluate(LAST_ANSWER)
            if text and (not states or text != states[-1]):
                states.append(text)
            await asyncio.sleep(0.05)
        assert states[0].startswith("w0 w1 w2")  # from the start
        assert all(later.startswith(earlier) for earlier, later in itertools.pairwise(states)), states
        assert not fake_openai.times("closed", "slow")
        pressed = time.monotonic()
        await tab.get_by_role("button", name="Stop").click()
        await poll(tab, "() => 0", lambda _: bool(fake_openai.times("closed", "slow")), limit=5)
        took = fake_openai.times("closed", "slow")[0] - pressed
        print(f"\nStop on {other.name} closed the model request of {documents[0]} after {took * 1000:.0f} ms")
        assert took < 1.0
        for shown in (tab, page):  # both tabs end with the stopped answer
            await poll(shown, LAST_STATUS, lambda text: text.startswith("Stopped"), limit=10)
        await context.close()
