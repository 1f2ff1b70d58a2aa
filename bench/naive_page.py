#!/usr/bin/env python3
"""The naive baseline page for the page benchmark (bench/page): the O(n²) way to stream an answer.

A NiceGUI page with a textarea; Enter streams the model through `model.astream` and calls
`ui.markdown.set_content(whole_text_so_far)` on every chunk, so each chunk re-renders and re-sends the
whole answer. No coalescing, no block freezing, no scrolling. The answer element has the class
`answer-body`, like Rivulet's, so the benchmark reads both pages the same way.

    .venv/bin/python -m bench.naive_page --port 8090                 # bench_model (env BENCH_*)
    .venv/bin/python -m bench.naive_page --port 8090 --model local   # the embedded SmolLM2 model
"""

from __future__ import annotations

import argparse


def build_model(args: argparse.Namespace):
    if args.model == "bench":
        from bench.bench_model import model_from_env

        return model_from_env()
    if args.model == "local":
        from llm.embedded import EmbeddedChatModel
        from llm.engine import bundled_model_path

        return EmbeddedChatModel(
            model_path=str(bundled_model_path()),
            max_tokens=args.max_tokens,
            temperature=args.temperature,
            seed=42,
        )
    raise SystemExit(f"unknown --model {args.model!r}: use bench or local")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--model", default="bench", help="bench (bench_model.model_from_env) or local (embedded)")
    parser.add_argument("--max-tokens", type=int, default=256)
    parser.add_argument("--temperature", type=float, default=0.0)
    parser.add_argument("--system", default="", help="system prompt (default: none)")
    args = parser.parse_args()

    from langchain_core.messages import HumanMessage, SystemMessage
    from nicegui import ui

    model = build_model(args)

    @ui.page("/")
    def index() -> None:
        ui.page_title("Naive streaming page")

        async def send() -> None:
            prompt = textarea.value or ""
            if not prompt.strip():
                return
            textarea.value = ""
            with messages:
                ui.label(prompt).classes("self-end bg-primary text-white rounded px-3 py-1")
                answer = ui.markdown("").classes("w-full answer-body")
            history = ([SystemMessage(args.system)] if args.system else []) + [HumanMessage(prompt)]
            text = ""
            async for chunk in model.astream(history):
                text += chunk.text
                answer.set_content(text)  # the whole answer, on every chunk: O(n²)

        messages = ui.column().classes("w-full max-w-3xl mx-auto gap-2")
        with ui.row().classes("w-full max-w-3xl mx-auto"):
            textarea = (
                ui.textarea(placeholder="Message (Enter sends)")
                .props("outlined dense autogrow")
                .classes("flex-grow")
                .on("keydown.enter.exact.prevent", send)
            )

    ui.run(
        host="127.0.0.1",
        port=args.port,
        title="Naive streaming page",
        reload=False,
        show=False,
        show_welcome_message=False,
        uvicorn_logging_level="warning",
    )


if __name__ in {"__main__", "__mp_main__"}:
    main()
