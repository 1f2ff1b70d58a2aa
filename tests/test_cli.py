"""`main.py` as a subprocess: streaming to stdout, exit codes, one-line errors."""

from __future__ import annotations

import os
import subprocess
import sys

import httpx

from llm.factory import SPEC_HELP
from llm.fake import FakeStreamingChatModel, demo_words
from tests.support.servers import MAIN, ROOT, cli_env, free_port, fresh_python, run_api, run_main, wait_http


def test_ask_streams_embedded_answer_to_stdout_as_it_is_generated() -> None:
    proc = subprocess.Popen(
        [sys.executable, MAIN, "ask", "Write two sentences about the sea."],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=cli_env(RIVULET_MAX_TOKENS="80", RIVULET_TEMPERATURE="0"),
    )
    assert proc.stdout is not None
    reads: list[bytes] = []
    running_at_first_read = None
    while chunk := os.read(proc.stdout.fileno(), 65536):
        if not reads:
            running_at_first_read = proc.poll() is None
        reads.append(chunk)
    assert proc.wait(60) == 0, proc.stderr.read() if proc.stderr else ""
    assert running_at_first_read, "the first text came only when the process ended"
    assert len(reads) >= 3, f"stdout arrived in {len(reads)} piece(s), not streamed"
    assert len(b"".join(reads).decode().split()) >= 5


#: A model that answers with the prompt it got (tests/support/models.py), as `main.py` imports it.
ECHO = "py:tests.support.models:echo"


def test_ask_reads_the_prompt_from_stdin() -> None:
    prompt = "hello from stdin,\n  all of it: 🌊 Über\n"
    result = run_main("ask", "--model", ECHO, "-", stdin=prompt)
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == prompt  # it ends with a newline already: none added
    without_newline = run_main("ask", "--model", ECHO, "-", stdin="one line")
    assert without_newline.stdout == "one line\n"


def test_ask_takes_the_prompt_argument_as_it_is() -> None:
    result = run_main("ask", "--model", ECHO, "  spaced  out  ")
    assert (result.returncode, result.stdout, result.stderr) == (0, "  spaced  out  \n", "")


def test_empty_prompt_on_stdin_is_a_config_error() -> None:
    result = run_main("ask", "--model", ECHO, "-", stdin=" \n")
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr == "error: the prompt is empty. Pass some text, or '-' to read it from stdin.\n"


def test_openai_without_key_is_one_line_and_exit_2() -> None:
    result = run_main("ask", "--model", "openai:gpt-4o-mini", "hi")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "OPENAI_API_KEY" in result.stderr
    assert "Traceback" not in result.stderr


def test_unknown_spec_lists_the_valid_forms() -> None:
    result = run_main("ask", "--model", "gpt5", "hi")
    assert result.returncode == 2
    assert result.stderr == f"error: Unknown model spec 'gpt5'.\n{SPEC_HELP}\n"
    assert run_main("--model", "gpt5").returncode == 2  # serve refuses too, before binding a port


def test_provider_failure_is_one_line_and_exit_1() -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    result = run_main("ask", "--model", "openai:x", "--base-url", url, "hi")
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr == (
        f"error: Could not connect to the server at {url}. Check that the server is running and the URL is right.\n"
    )


def test_bad_setting_is_a_config_error() -> None:
    result = run_main("ask", "--temperature", "7", "hi")
    assert result.returncode == 2 and "temperature" in result.stderr and "Traceback" not in result.stderr


def test_help_for_every_command() -> None:
    for args in (["--help"], ["serve", "--help"], ["ask", "--help"]):
        result = run_main(*args)
        assert result.returncode == 0 and "usage:" in result.stdout
    assert "--base-url" in run_main("ask", "--help").stdout
    assert "--native" in run_main("serve", "--help").stdout


def test_native_without_a_display_exits_2_quickly() -> None:
    result = run_main("--native", "--model", "fake", DISPLAY="", WAYLAND_DISPLAY="")
    assert result.returncode == 2
    assert "--native" in result.stderr and result.stderr.count("\n") == 1


def test_ask_url_streams_from_a_running_server() -> None:
    with run_api(FakeStreamingChatModel(pieces=["Über ", "den ", "Wolken ", "🌊"], rate=20)) as url:
        result = run_main("ask", "--url", url, "hi")
    assert result.returncode == 0
    assert result.stdout == "Über den Wolken 🌊\n"


def test_serve_page_and_ask_from_one_process() -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, MAIN, "--model", "fake:chunks=12,rate=20", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=cli_env(),
        cwd=ROOT,
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/", proc=proc)
        page = httpx.get(f"http://127.0.0.1:{port}/")
        assert page.status_code == 200 and "<title>Rivulet</title>" in page.text
        # Through NiceGUI's whole middleware stack (gzip included: httpx accepts it), still chunk by chunk.
        reads: list[str] = []
        with httpx.stream("POST", f"http://127.0.0.1:{port}/ask", json={"prompt": "hi"}) as answer:
            assert answer.status_code == 200
            reads.extend(answer.iter_text())
        assert len(reads) >= 3, reads
        assert "".join(reads) == "".join(demo_words(12))
    finally:
        proc.terminate()
        proc.wait(10)


def test_a_reader_that_goes_away_ends_the_answer_quietly() -> None:
    """`main.py ask … | head -2`: no traceback, the exit code of `cat` in the same place (141)."""
    proc = subprocess.Popen(
        [sys.executable, MAIN, "ask", "hi", "--model", "fake:chunks=4000,rate=2000"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=cli_env(),
    )
    assert proc.stdout is not None and proc.stderr is not None
    first_lines = [proc.stdout.readline(), proc.stdout.readline()]
    proc.stdout.close()  # what `head -2` does after its two lines
    code = proc.wait(60)
    errors = proc.stderr.read().decode()
    assert [line.decode() for line in first_lines] == "".join(demo_words(4000)).splitlines(keepends=True)[:2]
    assert code == 141
    assert errors == "", errors


def test_serve_keeps_what_start_up_made_out_of_the_collector_s_passes(tmp_path: object) -> None:
    # A full collection walks every object start-up made (about 230,000: 150-190 ms here), which paused fast
    # answers; frozen before the server runs, they are not walked again.
    code = (
        "import gc, sys\n"
        "from nicegui import ui\n"
        "import main\n"
        "ui.run = lambda **options: print(gc.get_freeze_count())\n"
        f"sys.exit(main.main(['serve', '--model', 'fake', '--port', '{free_port()}']))\n"
    )
    frozen = int(fresh_python(code, env={"RIVULET_DATA_DIR": str(tmp_path)}).split()[-1])
    assert frozen > 100_000
