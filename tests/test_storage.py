"""Where conversations live: files that survive a restart, Redis shared by two processes, a Redis that goes away.

The processes are real `main.py` servers on 127.0.0.1 driven in Debian's headless Chromium; Redis is Debian's
`redis-server`, started by the fixture on a free port (the tests are skipped without it).
"""

from __future__ import annotations

import json
import logging
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from llm.fake import demo_words
from tests.support.page import wait_for
from tests.support.redis_server import RedisServer
from tests.support.servers import CHROMIUM_ARGS, ROOT, cli_env, free_port, rivulet_process
from ui.storage import RedisWatch, redacted, redis_problem, storage_secret

MODEL = "fake:chunks=8,rate=0"  # answers "".join(demo_words(8))
ANSWERED = "8 chunks"  # the status line under a finished answer of MODEL
SECRET = "a-shared-secret-of-some-length"


@pytest.fixture
def browser(chromium: str) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            yield instance
        finally:
            instance.close()


def ask(page: Any, prompt: str) -> None:
    """Send `prompt` from the page and wait until its answer has finished."""
    from playwright.sync_api import expect

    finished = page.locator(".answer-status", has_text=ANSWERED)
    before = finished.count()
    page.locator(".prompt textarea").fill(prompt)
    page.locator(".prompt textarea").press("Enter")
    expect(finished).to_have_count(before + 1, timeout=20_000)


def open_page(page: Any, url: str | None = None) -> None:
    """Load `url` (or reload the page) and wait until its websocket is connected."""
    if url:
        page.goto(url)
    else:
        page.reload()
    page.wait_for_function("() => window.did_handshake === true", timeout=20_000)


def expect_conversation(page: Any, prompts: list[str], url: str | None = None, timeout: float = 20.0) -> None:
    """Open `url` (or reload) until the page shows exactly `prompts`, each with a finished answer.

    Reloading again is allowed because another process receives a change from Redis a moment after it is made.
    """
    deadline = time.monotonic() + timeout
    while True:
        open_page(page, url)
        url = None
        shown = [text.strip() for text in page.locator(".user-message").all_inner_texts()]
        statuses = page.locator(".answer-status").all_inner_texts()
        answers = page.locator(".answer-body").all_inner_texts()
        if shown == prompts and len(statuses) == len(answers) == len(prompts):
            assert all(ANSWERED in status for status in statuses), statuses
            assert all(answer.strip() for answer in answers)
            return
        assert time.monotonic() < deadline, f"the page shows {shown} with {statuses} and {answers}, not {prompts}"
        time.sleep(0.3)


def wait_for_line(log: Path, text: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while text not in log.read_text():
        assert time.monotonic() < deadline, f"no {text!r} in the server output:\n{log.read_text()}"
        time.sleep(0.1)


def redis_client(server: RedisServer) -> Any:
    import redis

    return redis.Redis(port=server.port, decode_responses=True)


# -- two processes behind one Redis ---------------------------------------------------------------------------------
def redis_envs(shared: str, redis_url: str, tmp_path: Path) -> tuple[dict[str, str], dict[str, str]]:
    """Same data directory (one host), or separate ones with one RIVULET_STORAGE_SECRET (several hosts)."""
    env = {"NICEGUI_REDIS_URL": redis_url}
    env_1, env_2 = dict(env), dict(env)
    if shared == "storage secret":
        env_1.update(RIVULET_DATA_DIR=str(tmp_path / "host-1"), RIVULET_STORAGE_SECRET=SECRET)
        env_2.update(RIVULET_DATA_DIR=str(tmp_path / "host-2"), RIVULET_STORAGE_SECRET=SECRET)
    return env_1, env_2


@pytest.mark.timeout(150)
@pytest.mark.parametrize("shared", ["data dir", "storage secret"])
def test_two_processes_behind_one_redis_share_conversations_without_echoes(
    shared: str, redis_server: RedisServer, browser: Any, tmp_path: Path
) -> None:
    env_1, env_2 = redis_envs(shared, redis_server.url, tmp_path)
    with (
        rivulet_process("--model", MODEL, env=env_1, log=tmp_path / "one.log") as one,
        rivulet_process("--model", MODEL, env=env_2, log=tmp_path / "two.log") as two,
    ):
        context = browser.new_context()  # cookies are per host, not per port: both processes see one session
        first = context.new_page()
        open_page(first, one)  # the first process now holds this browser's storage, and listens to its changes
        publishes = redis_server.listen()
        second = context.new_page()
        open_page(second, two)
        ask(second, "What is a river delta?")  # two saves: the prompt, then the answer
        # Once the first process shows the conversation, it has received both saves; an echo of either would
        # have been published as it applied them, so it is before our barrier in `take()`.
        expect_conversation(first, ["What is a river delta?"])  # after a reload
        sent = publishes.take()
        publishes.close()
        # The second process saved the prompt (with the browser's current conversation), then the answer
        # (one write when the answer came before the first went out); the first only read them.
        assert len(sent) in (1, 2) and len({payload["origin"] for payload in sent}) == 1, sent
        assert all(len(payload["conversations"]) == 1 for payload in sent), sent
        context.close()
    with redis_client(redis_server) as client:
        (key,) = client.keys("rivulet:conv:*")
        saved = [m["content"] for m in json.loads(client.get(key) or "{}")["messages"]]
        assert saved == ["What is a river delta?", "".join(demo_words(8))]
        assert client.zcard("rivulet:convs:" + key.split(":")[2]) == 1
    assert not (tmp_path / "data" / "conversations").exists(), "with Redis, no conversation goes to files"
    for log in ("one.log", "two.log"):
        assert "Traceback" not in (tmp_path / log).read_text()


@pytest.mark.timeout(150)
def test_a_conversation_continued_in_the_other_process_shows_in_the_first(
    redis_server: RedisServer, browser: Any, tmp_path: Path
) -> None:
    env_1, env_2 = redis_envs("data dir", redis_server.url, tmp_path)
    with (
        rivulet_process("--model", MODEL, env=env_1, log=tmp_path / "one.log") as one,
        rivulet_process("--model", MODEL, env=env_2, log=tmp_path / "two.log") as two,
    ):
        context = browser.new_context()
        first = context.new_page()
        open_page(first, one)
        ask(first, "What is a river delta?")
        second = context.new_page()
        expect_conversation(second, ["What is a river delta?"], url=two)
        ask(second, "And an estuary?")
        expect_conversation(first, ["What is a river delta?", "And an estuary?"])  # after a reload
        context.close()


# -- file storage: a restart keeps the conversation -------------------------------------------------------------------
@pytest.mark.timeout(120)
def test_conversation_survives_a_restart_with_file_storage(browser: Any, tmp_path: Path) -> None:
    context = browser.new_context()
    page = context.new_page()
    with rivulet_process("--model", MODEL) as url:
        open_page(page, url)
        ask(page, "Remember the Rhine.")
    assert list((tmp_path / "data" / "conversations").glob("*/c-*.json")), "no conversation file in the data directory"
    with rivulet_process("--model", MODEL) as url:  # the same RIVULET_DATA_DIR, a new process (and port)
        expect_conversation(page, ["Remember the Rhine."], url=url, timeout=0)
        expect_conversation(page, ["Remember the Rhine."], timeout=0)  # and after a reload
    context.close()


# -- a Redis that goes away -----------------------------------------------------------------------------------------
@pytest.mark.timeout(150)
def test_redis_going_away_is_one_readable_line_and_the_page_keeps_working(
    redis_server: RedisServer, browser: Any, tmp_path: Path
) -> None:
    env = {"NICEGUI_REDIS_URL": redis_server.url}
    log_1, log_2 = tmp_path / "one.log", tmp_path / "two.log"
    gone = f"Redis at {redis_server.url} went away"
    back = f"Redis at {redis_server.url} is back"
    with (
        rivulet_process("--model", MODEL, env=env, log=log_1) as one,
        rivulet_process("--model", MODEL, env=env, log=log_2) as two,
    ):
        context = browser.new_context()
        first = context.new_page()
        open_page(first, one)
        ask(first, "Before the outage.")
        second = context.new_page()
        expect_conversation(second, ["Before the outage."], url=two)

        redis_server.stop()
        ask(first, "During the outage.")  # the page still answers
        wait_for_line(log_1, gone)
        expect_conversation(first, ["Before the outage.", "During the outage."], timeout=0)  # a reload keeps it
        wait_for_line(log_2, gone)

        redis_server.start()  # empty: it keeps nothing on disk
        wait_for_line(log_1, back)
        wait_for_line(log_2, back)
        expect_conversation(second, ["Before the outage.", "During the outage."])  # written back to Redis
        ask(second, "After the outage.")
        # the first process listens to Redis again
        expect_conversation(first, ["Before the outage.", "During the outage.", "After the outage."])
        context.close()
    for log in (log_1, log_2):
        output = log.read_text()
        assert "Traceback" not in output, output
        assert output.count(gone) == 1 and output.count(back) == 1, output
        assert "conversations stay in this process's memory" in output


# -- start-up and the pieces ----------------------------------------------------------------------------------------
def test_unreachable_redis_at_start_is_one_line_and_exit_2() -> None:
    url = f"redis://:hunter2-canary@127.0.0.1:{free_port()}"
    result = subprocess.run(
        [sys.executable, str(ROOT / "main.py"), "--model", MODEL, "--port", str(free_port())],
        capture_output=True,
        text=True,
        env=cli_env(NICEGUI_REDIS_URL=url),
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith("error: Redis at redis://:***@127.0.0.1:") and "not reachable" in result.stderr
    assert "hunter2-canary" not in result.stderr + result.stdout


def test_redis_problem() -> None:
    assert redis_problem(None) is None  # NICEGUI_REDIS_URL is not set in the tests
    # Ours around the reason redis-py gives (its wording is redis-py's).
    not_redis = redis_problem("http://127.0.0.1:1") or ""
    assert re.fullmatch(r"NICEGUI_REDIS_URL is not a Redis URL \(.*schemes.*\)\.", not_redis), not_redis
    port = free_port()
    refused = redis_problem(f"redis://:pw@127.0.0.1:{port}") or ""
    assert re.fullmatch(
        rf"Redis at redis://:\*\*\*@127\.0\.0\.1:{port} is not reachable \(.*Connection refused\)\. "
        r"Start it, or unset NICEGUI_REDIS_URL to keep conversations in files\.",
        refused,
    ), refused


def test_redis_problem_is_none_for_a_running_redis(redis_server: RedisServer) -> None:
    assert redis_problem(redis_server.url) is None


def test_redacted() -> None:
    assert redacted("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"
    assert redacted("redis://:pw@host:6379") == "redis://:***@host:6379"
    assert redacted("rediss://user:pw@host:6379/1") == "rediss://user:***@host:6379/1"


def test_watch_turns_nicegui_redis_tracebacks_into_one_line(caplog: pytest.LogCaptureFixture) -> None:
    import redis

    watch = RedisWatch("redis://:pw@127.0.0.1:6379")
    nicegui_log = logging.getLogger("nicegui.test-storage")  # a child: caplog sees it, the real filter is not set
    nicegui_log.addFilter(watch)
    try:
        with caplog.at_level(logging.WARNING):
            for _ in range(3):  # a failed background save, as NiceGUI's task handler logs it
                try:
                    raise redis.ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")
                except redis.ConnectionError as exc:
                    nicegui_log.exception(exc)
            nicegui_log.warning("Could not load data from Redis with key nicegui:user-1")
            nicegui_log.warning("something else")
            try:
                raise ValueError("a bug, not an outage")
            except ValueError:
                nicegui_log.exception("Unexpected error in Redis listener for nicegui:user-1")
    finally:
        nicegui_log.removeFilter(watch)
    messages = [record.getMessage() for record in caplog.records]
    assert messages == [
        "Redis at redis://:***@127.0.0.1:6379 went away (Error 111 connecting to 127.0.0.1:6379. Connection refused): "
        "conversations stay in this process's memory, not shared or saved, until it is back.",
        "something else",
        "Unexpected error in Redis listener for nicegui:user-1",
    ]
    assert [record.exc_info is not None for record in caplog.records] == [False, False, True]


def test_storage_secret_from_the_data_dir_or_the_setting(tmp_path: Path) -> None:
    from pydantic import SecretStr

    secret = storage_secret(tmp_path / "a")
    assert len(secret) >= 32 and storage_secret(tmp_path / "a") == secret
    assert (tmp_path / "a" / "storage_secret").stat().st_mode & 0o777 == 0o600
    assert storage_secret(tmp_path / "b", SecretStr(SECRET)) == SECRET
    assert not (tmp_path / "b" / "storage_secret").exists()


def test_storage_secret_setting_is_secret_and_long(monkeypatch: pytest.MonkeyPatch) -> None:
    from pydantic import ValidationError

    from ui.settings import PageSettings

    monkeypatch.setenv("RIVULET_STORAGE_SECRET", SECRET)
    settings = PageSettings()
    assert SECRET not in repr(settings) and SECRET not in settings.model_dump_json()
    monkeypatch.setenv("RIVULET_STORAGE_SECRET", "short")
    with pytest.raises(ValidationError, match="at least 16 characters"):
        PageSettings()


# -- the Redis backend, two "instances" in one test process -----------------------------------------------------------
def record(conversation_id: str, *texts: str) -> dict[str, Any]:
    from llm.conversation import Conversation, Message

    messages = [Message("user" if i % 2 == 0 else "assistant", t) for i, t in enumerate(texts)]
    return Conversation(id=conversation_id, messages=messages).to_dict()


@pytest.fixture
async def instances(redis_server: RedisServer) -> Any:
    """Two RedisConversations on one Redis, as two Rivulet processes have them; both hold browser "b"."""
    from ui.redis_store import RedisConversations

    pair = [RedisConversations(redis_server.url, RedisWatch(redis_server.url), retry=1.0) for _ in range(2)]
    for backend in pair:
        await backend.start()
        await backend.load("b")
        await wait_for(backend.listening.is_set)
    yield pair
    for backend in pair:
        await backend.close()


async def test_two_instances_writing_different_conversations_of_one_browser_at_once_lose_nothing(
    instances: Any, redis_server: RedisServer
) -> None:
    import asyncio

    import redis

    from ui.redis_store import RedisConversations

    one, two = instances
    seen: list[tuple[str, str | None]] = []
    one.on_change = lambda browser, conversation: seen.append((browser, conversation))
    for n in range(20):  # both write in the same moments, each its own conversations
        one.save("b", record(f"one-{n}", "from one"))
        two.save("b", record(f"two-{n}", "from two"))
        if n % 5 == 0:
            await asyncio.gather(one.flush(), two.flush())
    await asyncio.gather(one.flush(), two.flush())
    expected = {f"one-{n}" for n in range(20)} | {f"two-{n}" for n in range(20)}
    fresh = RedisConversations(redis_server.url)  # a third instance, reading Redis only
    await fresh.load("b")
    assert set(fresh.conversations("b")) == expected
    await fresh.close()
    # Each instance took over the other's writes from its messages, and was told about each of them.
    await wait_for(lambda: set(one.conversations("b")) == set(two.conversations("b")) == expected)
    assert {conversation for _, conversation in seen} == {f"two-{n}" for n in range(20)}
    with redis.Redis(port=redis_server.port, decode_responses=True) as client:
        assert set(client.zrange("rivulet:convs:b", 0, -1)) == expected
        assert json.loads(client.get("rivulet:conv:b:one-3") or "{}")["messages"][0]["content"] == "from one"


async def test_a_delete_and_the_browser_fields_reach_the_other_instance(instances: Any) -> None:
    one, two = instances
    one.save("b", record("c1", "question"))
    one.set_field("b", "current", "c1")
    await wait_for(lambda: "c1" in two.conversations("b") and two.fields("b").get("current") == "c1")
    one.delete("b", "c1")
    await wait_for(lambda: "c1" not in two.conversations("b"))


async def test_a_change_made_while_the_listener_was_cut_off_is_read_after_it_subscribes_again(
    instances: Any, redis_server: RedisServer
) -> None:
    """The outage race: a change published while the listener re-subscribes used to be lost."""
    import redis

    one, _ = instances
    with redis.Redis(port=redis_server.port, decode_responses=True) as client:
        assert client.client_kill_filter(_type="pubsub") >= 2  # every listener loses its connection
        # Written with no message at all, while `one` waits its `retry` second before subscribing again:
        # only reading after subscribing can find it.
        client.set("rivulet:conv:b:quiet", json.dumps(record("quiet", "unannounced")))
        client.zadd("rivulet:convs:b", {"quiet": time.time()})
    await wait_for(lambda: "quiet" in one.conversations("b"))


async def test_a_delete_made_while_the_listener_was_cut_off_stays_deleted(
    instances: Any, redis_server: RedisServer
) -> None:
    import redis

    one, two = instances
    one.save("b", record("doomed", "to be deleted"))
    await one.flush()
    await wait_for(lambda: "doomed" in two.conversations("b"))
    with redis.Redis(port=redis_server.port, decode_responses=True) as client:
        assert client.client_kill_filter(_type="pubsub") >= 2  # every listener loses its connection
        client.delete("rivulet:conv:b:doomed")  # deleted by a third instance, while nobody listens
        client.zrem("rivulet:convs:b", "doomed")
        client.set("rivulet:conv:b:marker", json.dumps(record("marker", "after the delete")))
        client.zadd("rivulet:convs:b", {"marker": time.time()})
    await wait_for(lambda: "marker" in one.conversations("b") and "marker" in two.conversations("b"))
    assert "doomed" not in one.conversations("b") and "doomed" not in two.conversations("b")
    with redis.Redis(port=redis_server.port, decode_responses=True) as client:
        assert not client.exists("rivulet:conv:b:doomed"), "a reconnected instance brought the deleted one back"


async def test_writes_during_an_outage_reach_redis_when_it_is_back_even_empty(
    instances: Any, redis_server: RedisServer
) -> None:
    one, two = instances
    one.save("b", record("before", "before the outage"))
    await one.flush()
    await wait_for(lambda: "before" in two.conversations("b"))
    redis_server.stop()
    one.save("b", record("during", "during the outage"))  # the page goes on; the write waits
    await wait_for(lambda: not one.listening.is_set())
    assert [c for c in one.conversations("b")] == ["before", "during"]
    redis_server.start()  # empty: it keeps nothing on disk
    await one.recover()  # what RedisWatch awaits before it logs "is back"
    await two.recover()
    await wait_for(lambda: set(two.conversations("b")) == {"before", "during"})
    from ui.redis_store import RedisConversations

    fresh = RedisConversations(redis_server.url)
    await fresh.load("b")
    assert set(fresh.conversations("b")) == {"before", "during"}  # "before" was given back to the empty Redis
    await fresh.close()


# -- two processes, one browser, at the same moment; an outage in the middle of an answer ------------------------------
@pytest.mark.timeout(150)
def test_two_processes_asking_in_two_conversations_of_one_browser_at_once_keep_both(
    redis_server: RedisServer, browser: Any, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    env_1, env_2 = redis_envs("data dir", redis_server.url, tmp_path)
    with (
        rivulet_process("--model", MODEL, env=env_1, log=tmp_path / "one.log") as one,
        rivulet_process("--model", MODEL, env=env_2, log=tmp_path / "two.log") as two,
    ):
        context = browser.new_context()
        first, second = context.new_page(), context.new_page()
        open_page(first, one)
        open_page(second, two)  # each tab starts its own new conversation
        prompts = {first: "Where does the Rhine start?", second: "Where does the Danube end?"}
        for page, prompt in prompts.items():
            page.locator(".prompt textarea").fill(prompt)
        for page in prompts:  # one after the other within milliseconds: both saves race in Redis
            page.locator(".prompt textarea").press("Enter")
        for page in prompts:
            expect(page.locator(".answer-status", has_text=ANSWERED)).to_have_count(1, timeout=20_000)
        with redis_client(redis_server) as client:
            (index,) = client.keys("rivulet:convs:*")
            ids = client.zrange(index, 0, -1)
            browser_id = index.split(":")[2]
            saved = [json.loads(client.get(f"rivulet:conv:{browser_id}:{i}") or "{}") for i in ids]
        assert sorted(c["messages"][0]["content"] for c in saved) == sorted(prompts.values())
        assert all([m["status"] for m in c["messages"]] == ["done", "done"] for c in saved), saved
        for page in prompts:  # and each process lists both
            open_page(page)
            for prompt in prompts.values():
                expect(page.get_by_text(prompt).first).to_be_attached(timeout=10_000)
        context.close()


@pytest.mark.timeout(150)
def test_redis_restarted_in_the_middle_of_an_answer_loses_nothing_once_it_is_back(
    redis_server: RedisServer, browser: Any, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    slow = "fake:chunks=60,rate=15"  # four seconds of answer
    env = {"NICEGUI_REDIS_URL": redis_server.url}
    log_1, log_2 = tmp_path / "one.log", tmp_path / "two.log"
    with (
        rivulet_process("--model", slow, env=env, log=log_1) as one,
        rivulet_process("--model", slow, env=env, log=log_2) as two,
    ):
        context = browser.new_context()
        first = context.new_page()
        open_page(first, one)
        first.locator(".prompt textarea").fill("A long answer, please.")
        first.locator(".prompt textarea").press("Enter")
        expect(first.locator(".answer-body")).not_to_be_empty(timeout=20_000)  # it streams
        redis_server.stop()
        wait_for_line(log_1, f"Redis at {redis_server.url} went away")
        redis_server.start()  # empty, while the answer may still stream
        expect(first.locator(".answer-status", has_text="60 chunks")).to_have_count(1, timeout=20_000)
        wait_for_line(log_1, f"Redis at {redis_server.url} is back")
        shown = first.locator(".answer-body").inner_text()
        second = context.new_page()
        deadline = time.monotonic() + 20
        while True:  # the other process shows the whole answer, read from Redis
            open_page(second, two)
            if second.locator(".answer-status", has_text="60 chunks").count() == 1:
                break
            assert time.monotonic() < deadline, second.locator(".messages").inner_text()
            time.sleep(0.3)
        assert second.locator(".user-message").all_inner_texts() == ["A long answer, please."]
        assert second.locator(".answer-body").inner_text() == shown
        context.close()
    assert "Traceback" not in log_1.read_text() + log_2.read_text()
