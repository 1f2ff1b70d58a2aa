"""Rivulet: a chat app that streams an LLM's answer into the browser as it is generated.

python main.py                 serve the chat page on http://127.0.0.1:8080
python main.py ask "PROMPT"    stream one answer to stdout
python main.py --help          all options
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import os
import sys
from collections.abc import AsyncIterator
from typing import Any

EXIT_OK, EXIT_PROVIDER, EXIT_CONFIG = 0, 1, 2
EXIT_BROKEN_PIPE = 128 + 13  # what `cat` exits with when its reader goes away (SIGPIPE)
COMMANDS = {"serve", "ask"}


def _model_options() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    group = common.add_argument_group("model")
    group.add_argument(
        "--model",
        help="model spec: local (default), local:FILE.gguf, openai:NAME, ollama:NAME, py:MODULE:ATTR, "
        "fake[:chunks=N,rate=R]",
    )
    group.add_argument("--base-url", help="URL of an OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1")
    group.add_argument("--system", dest="system_prompt", help="system prompt")
    group.add_argument("--temperature", type=float, help="sampling temperature, 0 to 2 (default 0.7)")
    group.add_argument("--max-tokens", type=int, help="most tokens per answer (default 512)")
    group.add_argument("--idle-timeout", type=float, help="seconds a provider may stay silent mid-answer (default 60)")
    group.add_argument(
        "--context-tokens",
        type=int,
        help="context window in tokens; older turns are left out to fit (default 4096 for local)",
    )
    group.add_argument("--parallel", type=int, help="answers the local model generates at the same time (default 4)")
    return common


def parse_args(argv: list[str]) -> argparse.Namespace:
    common = _model_options()
    parser = argparse.ArgumentParser(
        prog="main.py",
        description="Rivulet streams an LLM's answer word by word: in the browser, on the command line and over HTTP. "
        "With no options it serves the chat page with the embedded offline model.",
        epilog="Settings also come from RIVULET_* environment variables and a .env file; flags win. "
        "Secrets never go in flags: OPENAI_API_KEY, RIVULET_PASSWORD.",
    )
    commands = parser.add_subparsers(dest="command", metavar="{serve,ask}")
    serve = commands.add_parser("serve", parents=[common], help="serve the chat page and POST /ask (the default)")
    serve.add_argument("--host", help="address to bind (default 127.0.0.1: this machine only)")
    serve.add_argument("--port", type=int, help="port (default 8080)")
    serve.add_argument(
        "--models",
        nargs="+",
        action="extend",
        metavar="SPEC",
        help="more model specs offered in the page's picker, separated by spaces "
        "(e.g. --models openai:gpt-4o-mini fake:chunks=3000,rate=0); each is checked at start-up",
    )
    serve.add_argument("--cors-origins", help="extra origins allowed to call /ask, comma-separated, or '*'")
    serve.add_argument(
        "--forwarded-allow-ips",
        help="proxies (addresses or networks, comma-separated) trusted to name the client in X-Forwarded-For "
        "(default: none, the header is ignored)",
    )
    serve.add_argument(
        "--no-auth",
        action="store_true",
        default=None,
        help="serve a non-local --host without a password (default: such a host needs RIVULET_PASSWORD)",
    )
    serve.add_argument("--show", action="store_true", help="open the page in a browser")
    serve.add_argument("--native", action="store_true", help="open in a desktop window (needs pywebview)")
    ask = commands.add_parser("ask", parents=[common], help="stream one answer to stdout")
    ask.add_argument("prompt", help="the question, or - to read it from stdin")
    ask.add_argument(
        "--url",
        help="ask a running Rivulet server (e.g. http://127.0.0.1:8080) instead of a model; "
        "--model (one the server offers), --temperature, --max-tokens and --system go along",
    )
    ask.add_argument(
        "--reasoning",
        action="store_true",
        help="also print the model's reasoning (thinking), to stderr, dimmed on a terminal; "
        "the answer alone goes to stdout (works with --url too)",
    )
    ask.add_argument(
        "--steps",
        action="store_true",
        help="also print an agent's tool calls (a py: chain or graph), one line each to stderr as each ends",
    )
    if argv[:1] in (["-h"], ["--help"]):
        # The default command's options belong in the top-level help: `main.py --port 9000` is a serve.
        default = serve.format_help().split("\n\n", 1)[1]
        intro = "The default command, serve, takes these options (main.py [OPTIONS] is main.py serve [OPTIONS]):"
        try:
            print(f"{parser.format_help()}\n{intro}\n\n{default}", end="", flush=True)
        except BrokenPipeError:  # `main.py --help | head`
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise SystemExit(0)
    if not argv or argv[0] not in COMMANDS:
        argv = ["serve", *argv]
    return parser.parse_args(argv)


def load_settings(args: argparse.Namespace, kind: type | None = None) -> Any:
    """`kind` (default: the model `Settings`) from flags > environment > `.env`; bad values are a `ConfigError`."""
    from pydantic import ValidationError

    from llm.errors import ConfigError
    from llm.settings import Settings

    try:
        return (kind or Settings).load(**vars(args))
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors(include_input=False))
        raise ConfigError(f"Invalid setting ({problems}).") from exc


def serve(args: argparse.Namespace) -> int:
    from llm.errors import ConfigError

    try:
        from api.settings import ServerSettings
        from ui.settings import PageSettings

        settings = load_settings(args)
        server, page = load_settings(args, ServerSettings), load_settings(args, PageSettings)
        from ui.native import native_problem, prepare_native

        if args.native and (problem := native_problem()):
            raise ConfigError(problem)
        from ui.storage import redis_problem

        if problem := redis_problem():  # before NiceGUI's import, which loads its storage from Redis
            raise ConfigError(problem)
        from nicegui import app, ui

        from api.ask import register_api
        from api.auth import decide, register_auth
        from llm.factory import ModelRegistry
        from llm.streaming import warm_up
        from ui.chat_page import register_pages
        from ui.login_page import register_login_page
        from ui.safe_markdown import warm_up as warm_up_highlighting
        from ui.storage import open_conversations, storage_secret, use_data_dir

        auth = decide(server)  # a public address without a password is refused here, before anything binds
        registry = ModelRegistry(settings)
        model = registry.check_all()  # fail now, not at the first question, on a bad spec or a missing key
        engine = getattr(model, "engine", None)
        if engine is not None:
            engine.start_in_background()  # the local model loads while the page opens
        warm_up()
        warm_up_highlighting()
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    secret = storage_secret(page.data_dir, page.storage_secret)
    if auth.enabled:
        # before register_api, so that CORS wraps it; the storage secret keys the password's fingerprint
        register_login_page(register_auth(app, server, salt=secret))
    if server.instance_id:
        from api.instance import InstanceHeader

        app.add_middleware(InstanceHeader, name=server.instance_id)
    register_pages(registry, settings, open_conversations(page.data_dir))
    register_api(app, registry, settings, server.cors_origins)
    use_data_dir(page.data_dir)
    if auth.warning:
        print(auth.warning, file=sys.stderr)
    print(f"Rivulet: http://{server.host}:{server.port} (model: {settings.model})", flush=True)
    if args.native:
        prepare_native()
    # What start-up made (modules, classes, compiled patterns) lives as long as the process: kept out of the
    # collector's full passes, which otherwise walk all of it and paused a fast answer for 0.1-0.2 s (W1).
    gc.collect()
    gc.freeze()
    ui.run(
        host=server.host,
        port=server.port,
        title="Rivulet",
        favicon="🌊",
        dark=None,
        reload=False,
        show=args.show,
        native=args.native,
        show_welcome_message=False,
        uvicorn_logging_level="warning",
        storage_secret=secret,
        reconnect_timeout=page.reconnect_grace,
        **server.uvicorn_proxy_options(),  # X-Forwarded-For only from --forwarded-allow-ips, for page and /ask alike
    )
    return 0


#: Flags that pick or tune a model of this process: a server at --url uses its own settings for them.
LOCAL_ONLY_FLAGS = {
    "base_url": "--base-url",
    "idle_timeout": "--idle-timeout",
    "context_tokens": "--context-tokens",
    "parallel": "--parallel",
}
#: Flags sent along to a server at --url (it checks them against what it offers).
REMOTE_FLAGS = ("model", "temperature", "max_tokens")


def remote_request(args: argparse.Namespace) -> dict[str, Any]:
    """The fields `ask --url` sends besides the prompt: only the flags given, so the server's defaults apply."""
    from llm.errors import ConfigError

    ignored = [flag for name, flag in LOCAL_ONLY_FLAGS.items() if getattr(args, name) is not None]
    if ignored:
        raise ConfigError(
            f"{', '.join(ignored)} cannot apply to a server at --url: it uses its own. "
            "Leave them out, or ask without --url."
        )
    return {name: getattr(args, name) for name in (*REMOTE_FLAGS, "system_prompt") if getattr(args, name) is not None}


async def answer_parts(
    settings: Any, prompt: str, url: str | None, token: str | None, remote: dict[str, Any] | None = None
) -> AsyncIterator[Any]:
    """The answer's parts (`llm.reasoning.Part`: reasoning, answer text, steps): from a running Rivulet server at
    `url` (with `remote` fields), else from the model."""
    if url:
        from api.client import stream_parts_from_server

        fields = dict(remote or {})
        system = fields.pop("system_prompt", None)
        parts = stream_parts_from_server(url, prompt, system=system, token=token, options=fields)
    else:
        from llm.factory import ModelRegistry
        from llm.streaming import stream_parts

        registry = ModelRegistry(settings)
        parts = stream_parts(
            registry.get(), prompt, system=settings.system_prompt, where=registry.describe(), context=registry.context()
        )
    async with contextlib.aclosing(parts):
        async for part in parts:
            yield part


class ReasoningOut:
    """Writes the reasoning to stderr as it streams, dimmed when stderr is a terminal; ends each stretch of it
    with a line end, so that the answer or an error line starts on a line of its own."""

    DIM, RESET = "\x1b[2m", "\x1b[0m"

    def __init__(self) -> None:
        self.err = sys.stderr
        self.dim = self.err.isatty()
        self.open = False  # a stretch of reasoning is on the line and not ended yet
        self.last = ""

    def write(self, text: str) -> None:
        self.err.write(f"{self.DIM}{text}{self.RESET}" if self.dim else text)
        self.err.flush()
        self.open, self.last = True, text

    def end(self) -> None:
        if self.open and not self.last.endswith("\n"):
            self.err.write("\n")
            self.err.flush()
        self.open = False


async def print_answer(
    settings: Any,
    prompt: str,
    *,
    url: str | None = None,
    token: str | None = None,
    remote: dict[str, Any] | None = None,
    reasoning: bool = False,
    steps: bool = False,
) -> int:
    """Print the answer as it streams (flushed per chunk); with `reasoning` the reasoning, with `steps` a line
    per finished tool call, to stderr.

    Returns the process exit code.
    """
    from llm.errors import ConfigError, RivuletError

    if not prompt.strip():
        print("error: the prompt is empty. Pass some text, or '-' to read it from stdin.", file=sys.stderr)
        return EXIT_CONFIG
    out = sys.stdout
    thoughts = ReasoningOut() if reasoning else None
    last = ""
    try:
        async for part in answer_parts(settings, prompt, url, token, remote):
            if part.step is not None:
                if steps and part.step.status != "running":
                    if thoughts:
                        thoughts.end()
                    sys.stderr.write(f"[step] {part.step.line()}\n")
                    sys.stderr.flush()
                continue
            if part.kind == "reasoning":
                if thoughts:
                    thoughts.write(part.text)
                continue
            if thoughts:
                thoughts.end()
            out.write(part.text)
            out.flush()
            last = part.text
    except BrokenPipeError:  # the reader went away (`| head`): the answer's stream is closed; end quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error when Python flushes at exit
        return EXIT_BROKEN_PIPE
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except RivuletError as exc:
        if thoughts:
            thoughts.end()
        if last and not last.endswith("\n"):
            out.write("\n")
            out.flush()
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_PROVIDER
    if thoughts:
        thoughts.end()
    if last and not last.endswith("\n"):
        out.write("\n")
        out.flush()
    return EXIT_OK


def ask(args: argparse.Namespace) -> int:
    from api.settings import ServerSettings
    from llm.errors import ConfigError

    logging.getLogger("rivulet").setLevel(logging.ERROR)  # stderr is for the one-line error only
    prompt = sys.stdin.read() if args.prompt == "-" else args.prompt
    try:
        settings = load_settings(args)
        password = load_settings(args, ServerSettings).password  # RIVULET_PASSWORD, for --url
        remote = remote_request(args) if args.url else None
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    token = password.get_secret_value() if password else None
    return asyncio.run(
        print_answer(
            settings, prompt, url=args.url, token=token, remote=remote, reasoning=args.reasoning, steps=args.steps
        )
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    return ask(args) if args.command == "ask" else serve(args)


if __name__ == "__main__":
    sys.exit(main())
