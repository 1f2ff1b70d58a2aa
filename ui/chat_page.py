"""The chat page: one `ChatSession` per browser tab, no state shared between tabs."""

from __future__ import annotations

import asyncio

from nicegui import Client, events, ui

from llm.errors import RivuletError
from llm.factory import ModelRegistry
from llm.settings import Settings
from llm.streaming import AnswerStats, Turn, stream_answer
from ui.answer_view import AnswerView

PAGE_CSS = """
.user-message { background: var(--q-primary); color: white; border-radius: 1.1rem 1.1rem 0.3rem 1.1rem;
  padding: 0.5rem 0.9rem; max-width: 80%; white-space: pre-wrap; overflow-wrap: anywhere; }
.answer-body { overflow-wrap: anywhere; line-height: 1.55; }
.answer-body h1 { font-size: 1.5rem; line-height: 2rem; font-weight: 600; margin: 0.6rem 0 0.3rem; }
.answer-body h2 { font-size: 1.25rem; line-height: 1.7rem; font-weight: 600; margin: 0.6rem 0 0.3rem; }
.answer-body h3, .answer-body h4 { font-size: 1.05rem; font-weight: 600; margin: 0.5rem 0 0.2rem; }
.answer-body p { margin: 0.35rem 0; }
.answer-body pre { overflow-x: auto; padding: 0.6rem 0.8rem; border-radius: 0.5rem;
  background: rgba(127,127,127,0.12); }
.answer-body code { font-size: 0.9em; }
.answer-body table { border-collapse: collapse; margin: 0.4rem 0; display: block; overflow-x: auto; }
.answer-body th, .answer-body td { border: 1px solid rgba(127,127,127,0.35); padding: 0.25rem 0.6rem; }
.answer-body blockquote { border-left: 3px solid var(--q-primary); margin: 0.4rem 0; padding-left: 0.8rem;
  opacity: 0.85; }
"""

#: Seconds between two page updates of a streaming answer (chunks in between are coalesced).
FLUSH_INTERVAL = 0.08


class ChatSession:
    """The conversation and controls of one tab."""

    def __init__(self, registry: ModelRegistry, settings: Settings, client: Client) -> None:
        self.registry = registry
        self.settings = settings
        self.client = client
        self.spec = settings.model
        self.history: list[Turn] = []
        self.task: asyncio.Task[None] | None = None
        self.view: AnswerView | None = None
        self.follow = True  # autoscroll while the user stays at the bottom
        self._last_scroll = 0.0
        client.on_delete(self.stop)

    # -- layout -----------------------------------------------------------------
    def build(self) -> None:
        ui.page_title("Rivulet")
        ui.add_css(PAGE_CSS)
        ui.query(".nicegui-content").classes("h-[100dvh] p-0 gap-0")
        with ui.column().classes("w-full h-full no-wrap gap-0 items-stretch"):
            with ui.row().classes("w-full items-center px-4 py-2 bg-primary text-white no-wrap"):
                ui.icon("water", size="1.6em")
                ui.label("Rivulet").classes("text-h6")
                ui.space()
                self.model_label = ui.label(f"model: {self.spec}").classes("text-sm opacity-80 model-label")
            with ui.element("div").classes("w-full flex-grow min-h-0 relative"):
                self.scroll = ui.scroll_area(on_scroll=self._on_scroll).classes("w-full h-full")
                with self.scroll:
                    self.messages = ui.column().classes("w-full max-w-3xl mx-auto px-2 pb-4 gap-2 messages")
                    with self.messages:
                        self.empty_hint = ui.label("Ask something: the answer appears as it is written.").classes(
                            "text-grey-6 self-center mt-8"
                        )
                self.jump = (
                    ui.button(icon="south", on_click=self.jump_to_latest)
                    .props("round color=primary")
                    .classes("absolute bottom-3 right-6")
                    .tooltip("Jump to the latest text")
                )
                self.jump.set_visibility(False)
            with ui.row().classes("w-full max-w-3xl mx-auto no-wrap items-end px-2 py-2 gap-2"):
                self.input = (
                    ui.textarea(placeholder="Message Rivulet (Enter sends, Shift+Enter adds a line)")
                    .props("autogrow outlined dense autofocus")
                    .classes("flex-grow prompt")
                    .mark("prompt")
                    .on("keydown.enter.exact.prevent", self.send)
                )
                self.button = ui.button("Send", icon="send", on_click=self.toggle).mark("send")

    # -- actions ------------------------------------------------------------------
    @property
    def streaming(self) -> bool:
        return self.task is not None and not self.task.done()

    async def toggle(self) -> None:
        """The Send button doubles as Stop while an answer streams."""
        if self.streaming:
            self.stop()
        else:
            await self.send()

    async def send(self) -> None:
        """Send the prompt in the textarea, if any, and stream the answer."""
        if self.streaming:
            return
        prompt = self.input.value or ""
        if not prompt.strip():
            return
        size = len(prompt) + sum(len(turn.content) for turn in self.history)
        if size > self.settings.max_prompt_chars:
            ui.notify(
                f"This prompt is too long ({size:,} characters with the conversation; the limit is "
                f"{self.settings.max_prompt_chars:,}). Shorten it or start a new chat.",
                type="warning",
            )
            return
        self.input.value = ""
        self.empty_hint.set_visibility(False)
        with self.messages:
            with ui.row().classes("w-full justify-end"):
                ui.label(prompt).classes("user-message")
            stats = AnswerStats()
            self.view = AnswerView(stats)
        self.follow = True
        self._scroll_down()
        self._set_streaming(True)
        view = self.view
        with view.message:
            timer = ui.timer(FLUSH_INTERVAL, lambda: self._flush(view))
        self.task = asyncio.create_task(self._answer(prompt, view, timer))

    def stop(self) -> None:
        """Cancel the running answer; the partial text stays."""
        if self.task is not None and not self.task.done():
            self.task.cancel()

    async def _answer(self, prompt: str, view: AnswerView, timer: ui.timer) -> None:
        history = list(self.history)
        try:
            model = self.registry.get(self.spec)
            async for chunk in stream_answer(
                model,
                prompt,
                history=history,
                system=self.settings.system_prompt,
                stats=view.stats,
                on_waiting=view.waiting,
                where=self.registry.describe(self.spec),
            ):
                view.append(chunk)
        except asyncio.CancelledError:
            view.stats.finish("stopped")
        except RivuletError as exc:
            if view.stats.status != "error":
                view.stats.finish("error", str(exc))
        finally:
            timer.cancel()
            if not self.client.is_deleted:
                view.finish()
                self._finish_turn(prompt, view)

    def _finish_turn(self, prompt: str, view: AnswerView) -> None:
        answer = view.text
        if answer:
            self.history += [Turn("user", prompt), Turn("assistant", answer)]
        elif view.stats.status == "error" and not self.input.value:
            self.input.value = prompt  # nothing was produced: give the prompt back
        self._set_streaming(False)
        self._scroll_down()

    def _set_streaming(self, streaming: bool) -> None:
        if streaming:
            self.button.set_text("Stop")
            self.button.props("icon=stop color=negative")
        else:
            self.button.set_text("Send")
            self.button.props("icon=send color=primary")

    # -- scrolling ------------------------------------------------------------------
    def _flush(self, view: AnswerView) -> None:
        if view.flush():
            self._scroll_down()

    def _scroll_down(self) -> None:
        if self.follow:
            self.scroll.scroll_to(percent=1.0)

    def _on_scroll(self, event: events.ScrollEventArguments) -> None:
        at_bottom = event.vertical_percentage >= 0.99 or event.vertical_size <= event.vertical_container_size
        if at_bottom:
            self.follow = True
        elif event.vertical_position < self._last_scroll - 2:
            self.follow = False  # the user scrolled up: stop following until they come back
        self._last_scroll = event.vertical_position
        self.jump.set_visibility(not self.follow)

    def jump_to_latest(self) -> None:
        self.follow = True
        self.jump.set_visibility(False)
        self.scroll.scroll_to(percent=1.0)


def register_pages(registry: ModelRegistry, settings: Settings) -> None:
    """Register the chat page at `/`."""

    @ui.page("/")
    def index(client: Client) -> None:
        ChatSession(registry, settings, client).build()
