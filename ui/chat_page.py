"""The chat page: one `ChatPage` per browser tab, conversations stored per browser."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from nicegui import Client, app, events, ui

from llm.conversation import Conversation, Message
from llm.errors import ConfigError
from llm.factory import ModelRegistry
from llm.settings import Settings
from ui.answer_view import AnswerView
from ui.conversation import ConversationStore
from ui.jobs import AnswerJob, JobBoard
from ui.styles import PAGE_CSS

HEADER_BUTTON = "flat round color=white"
SMALL_BUTTON = "flat round dense size=sm"


def icon_button(icon: str, label: str, on_click: Callable[..., Any], props: str = SMALL_BUTTON) -> ui.button:
    """An icon-only button with a tooltip and the same text for screen readers."""
    return ui.button(icon=icon, on_click=on_click).props(f'{props} aria-label="{label}"').tooltip(label)


class ChatApp:
    """What every page of this process shares: settings, models and the running answers."""

    def __init__(self, registry: ModelRegistry, settings: Settings) -> None:
        self.registry = registry
        self.settings = settings
        self.board = JobBoard()


class ChatPage:
    """The conversation view and controls of one tab."""

    def __init__(self, chat: ChatApp, client: Client) -> None:
        self.chat = chat
        self.settings = chat.settings
        self.client = client
        self.browser_id: str = app.storage.browser["id"]
        self.store = ConversationStore(app.storage.user)
        self.conversation = self.store.current()
        self.views: list[AnswerView] = []
        self.regenerate_button: ui.button | None = None
        self._listed: list[tuple[str, str]] = []  # what the conversation list shows
        self.empty_hint: ui.label | None = None
        self.started: list[AnswerJob] = []
        self.follow = True  # autoscroll while the user stays at the bottom
        self.shows_stop = False  # the Send button shows Stop (an answer of this conversation runs)
        self._last_scroll = 0.0
        client.on_delete(self._on_delete)

    # -- preferences ------------------------------------------------------------------
    @property
    def prefs(self) -> dict:
        defaults = {
            "model": self.settings.model,
            "system_prompt": self.settings.system_prompt,
            "temperature": self.settings.temperature,
            "max_tokens": self.settings.max_tokens,
        }
        saved = self.store.preferences
        if saved.get("model") not in self.chat.registry.specs:
            saved.pop("model", None)
        return {**defaults, **{k: v for k, v in saved.items() if k in defaults}}

    def set_pref(self, name: str, value: object) -> None:
        prefs = self.prefs
        prefs[name] = value
        self.store.save_preferences(prefs)
        if name == "model":
            self.model_label.set_text(f"model: {value}")

    # -- layout -----------------------------------------------------------------------
    def build(self) -> None:
        ui.page_title("Rivulet")
        ui.add_css(PAGE_CSS)
        self.dark = ui.dark_mode(app.storage.user.get("dark"))
        ui.query(".nicegui-content").classes("h-[100dvh] p-0 gap-0")
        self._build_drawers()
        with ui.column().classes("w-full h-full no-wrap gap-0 items-stretch"):
            with ui.row().classes("w-full items-center px-2 py-1 bg-primary text-white no-wrap gap-1"):
                icon_button("menu", "Conversations", lambda: self.left.toggle(), HEADER_BUTTON)
                ui.icon("water", size="1.6em")
                ui.label("Rivulet").classes("text-h6")
                ui.space()
                self.model_label = ui.label(f"model: {self.prefs['model']}").classes(
                    "text-sm opacity-80 model-label ellipsis"
                )
                icon_button("contrast", "Dark mode: system, dark, light", self._toggle_dark, HEADER_BUTTON)
                icon_button("tune", "Settings", lambda: self.right.toggle(), HEADER_BUTTON).mark("settings-button")
            with ui.element("div").classes("w-full flex-grow min-h-0 relative"):
                self.scroll = ui.scroll_area(on_scroll=self._on_scroll).classes("w-full h-full")
                with self.scroll:
                    self.messages = ui.column().classes("w-full max-w-3xl mx-auto px-3 pb-4 gap-3 messages")
                self.jump = (
                    icon_button("south", "Jump to the latest text", self.jump_to_latest, "round color=primary")
                    .classes("absolute bottom-3 right-6")
                    .mark("jump")
                )
                self.jump.set_visibility(False)
            with ui.row().classes("w-full max-w-3xl mx-auto no-wrap items-start px-3 py-2 gap-2"):
                limit = self.settings.max_prompt_chars
                self.input = (
                    ui.textarea(
                        placeholder="Message Rivulet (Enter sends, Shift+Enter adds a line, Esc stops)",
                        validation={
                            f"That is the limit of {limit:,} characters: longer text was cut off.": lambda v: (
                                len(v or "") < limit
                            )
                        },
                    )
                    .props(f"autogrow outlined dense autofocus counter maxlength={limit}")
                    .classes("flex-grow prompt")
                    .mark("prompt")
                    .on("keydown.enter.exact.prevent", self.send)
                    .on("keydown.esc", self.stop)
                    .on("keydown.up", self._recall)
                )
                self.button = ui.button("Send", icon="send", on_click=self.toggle).classes("mt-1").mark("send")
            self.session_line = ui.label("").classes("text-xs text-grey-6 self-center pb-1 session-line")
        self.render_conversation()

    def _build_drawers(self) -> None:
        with ui.left_drawer(value=False).props("bordered width=280").classes("gap-1") as self.left:
            ui.button("New chat", icon="add", on_click=self.new_chat).props("outline").classes("w-full").mark(
                "new-chat"
            )
            self.conversation_list = ui.column().classes("w-full gap-0")
            ui.separator().classes("my-2")
            with ui.row().classes("w-full gap-1"):
                ui.button("Markdown", icon="download", on_click=self.export_markdown).props("flat dense")
                ui.button("JSON", icon="download", on_click=self.export_json).props("flat dense")
            ui.button("Import JSON", icon="upload", on_click=self.open_import).props("flat dense").mark("import")
        with ui.right_drawer(value=False).props("bordered width=320").classes("gap-3") as self.right:
            ui.label("Settings").classes("text-h6")
            prefs = self.prefs
            ui.select(
                self.chat.registry.specs, value=prefs["model"], label="Model", on_change=self._change_model
            ).classes("w-full").mark("model-select")
            ui.textarea(
                "System prompt",
                value=prefs["system_prompt"],
                on_change=lambda e: self.set_pref("system_prompt", e.value or ""),
            ).props("autogrow outlined").classes("w-full").mark("system-prompt")
            ui.label("Temperature").classes("text-sm")
            ui.slider(
                min=0,
                max=2,
                step=0.1,
                value=prefs["temperature"],
                on_change=lambda e: self.set_pref("temperature", float(e.value)),
            ).props("label").mark("temperature")
            ui.number(
                "Max tokens",
                value=prefs["max_tokens"],
                min=1,
                max=1_000_000,
                precision=0,
                on_change=lambda e: e.value and self.set_pref("max_tokens", int(e.value)),
            ).classes("w-full").mark("max-tokens")
            ui.label("API keys come from the environment or a .env file, never from this page.").classes(
                "text-xs text-grey-6"
            )

    # -- rendering ----------------------------------------------------------------------
    def render_conversation(self) -> None:
        """Show the current conversation, and its running answer if there is one."""
        for view in self.views:
            view.detach()
        self.views.clear()
        self.messages.clear()
        if job := self.running_job:
            self.conversation = job.conversation  # the job's copy is the one that grows
        self.regenerate_button = None
        with self.messages:
            self.empty_hint = ui.label("Ask something: the answer appears as it is written.").classes(
                "text-grey-6 self-center mt-8 empty-hint"
            )
            self.empty_hint.set_visibility(not self.conversation.messages)
            for index, message in enumerate(self.conversation.messages):
                if message.role == "user":
                    self._user_row(message, index)
                else:
                    self._answer_view(message, index)
        if job := self.running_job:
            self._follow(job)
        self._update_controls()
        self._render_conversation_list()
        self.follow = True
        self.scroll.scroll_to(percent=1.0)

    def _follow(self, job: AnswerJob) -> None:
        with self.messages:
            view = AnswerView(on_update=self._on_view_update)
        self.views.append(view)
        view.follow(job)

    def _user_row(self, message: Message, index: int) -> None:
        with ui.row().classes("w-full justify-end items-start no-wrap gap-1 user-row"):
            with ui.row().classes("gap-0 user-actions self-center"):
                icon_button("edit", "Edit and resend", lambda: self.edit_message(index)).mark("edit")
                icon_button("delete_outline", "Delete this turn", lambda: self.delete_turn(index)).mark("delete-turn")
            ui.label(message.content).classes("user-message")

    def _answer_view(self, message: Message, index: int) -> AnswerView:
        view = AnswerView(on_update=self._on_view_update)
        view.show(message)
        self._answer_actions(view, message, index)
        self.views.append(view)
        return view

    def _answer_actions(self, view: AnswerView, message: Message, index: int) -> None:
        with view.actions:
            if message.alternatives:
                ui.button(
                    f"{len(message.alternatives) + 1} versions",
                    icon="swap_horiz",
                    on_click=lambda: self.flip_version(index),
                ).props("flat dense no-caps size=sm").tooltip("Show another version of this answer").mark("flip")
            icon_button("content_copy", "Copy", lambda: self.copy_answer(message.content)).mark("copy")
            if index == len(self.conversation.messages) - 1:
                self.regenerate_button = icon_button("refresh", "Regenerate", self.regenerate).mark("regenerate")
            icon_button("delete_outline", "Delete this turn", lambda: self.delete_turn(index)).mark("delete-turn")

    def _render_conversation_list(self) -> None:
        conversations = self.store.all()
        shown = [(c.id, c.title) for c in conversations] + [("current", self.conversation.id)]
        if shown == self._listed:
            self._update_session_line()
            return  # unchanged: do not redraw (and re-send) the whole list
        self._listed = shown
        self.conversation_list.clear()
        with self.conversation_list:
            for conversation in conversations:
                current = conversation.id == self.conversation.id
                with ui.row().classes(
                    "w-full items-center no-wrap gap-0 conversation-item" + (" current" if current else "")
                ):
                    ui.button(conversation.title, on_click=lambda c=conversation: self.switch(c.id)).props(
                        "flat no-caps align=left dense"
                    ).classes("flex-grow ellipsis text-left").mark("conversation")
                    with ui.button(icon="more_vert").props("flat round dense size=sm"), ui.menu():
                        ui.menu_item("Rename", on_click=lambda c=conversation: self.rename(c.id)).mark("rename")
                        ui.menu_item("Delete", on_click=lambda c=conversation: self.delete_conversation(c.id)).mark(
                            "delete-conversation"
                        )
        self._update_session_line()

    def _update_session_line(self) -> None:
        answers = [m for m in self.conversation.messages if m.role == "assistant" and m.figures]
        if not answers:
            self.session_line.set_text("")
            return
        chunks = sum((m.figures or {}).get("chunks") or 0 for m in answers)
        seconds = sum((m.figures or {}).get("duration_s") or 0 for m in answers)
        rate = f" · {chunks / seconds:.1f} chunks/s" if seconds else ""
        plural = "s" if len(answers) != 1 else ""
        self.session_line.set_text(
            f"This chat: {len(answers)} answer{plural} · {chunks} chunks · {seconds:.1f} s{rate}"
        )

    # -- streaming state ----------------------------------------------------------------------
    @property
    def running_job(self) -> AnswerJob | None:
        return self.chat.board.get(self.browser_id, self.conversation.id)

    @property
    def streaming(self) -> bool:
        return self.running_job is not None

    def _update_controls(self) -> None:
        self.shows_stop = self.streaming
        if self.shows_stop:
            self.button.set_text("Stop")
            self.button.props("icon=stop color=negative")
        else:
            self.button.set_text("Send")
            self.button.props("icon=send color=primary")

    def _on_view_update(self) -> None:
        if self.follow:
            self.scroll.scroll_to(percent=1.0)
        if self.shows_stop and not self.streaming:
            self._answer_ended()

    def _answer_ended(self) -> None:
        """The running answer ended: give it its actions and the input back, without re-rendering."""
        messages = self.conversation.messages
        last = messages[-1] if messages else None
        view = self.views[-1] if self.views else None
        if last is None or view is None or view.message is not last:
            self.render_conversation()  # the conversation changed under us (another tab): show it as stored
            return
        self._answer_actions(view, last, len(messages) - 1)
        if last.status == "error" and not last.content and not self.input.value:
            self.input.value = messages[-2].content  # nothing came: give the prompt back
        self._update_controls()
        self._render_conversation_list()

    # -- actions ------------------------------------------------------------------------------
    async def toggle(self) -> None:
        """The Send button doubles as Stop while an answer streams."""
        if self.streaming:
            self.stop()
        else:
            await self.send()

    async def send(self) -> None:
        """Send the prompt in the textarea, if any, and stream the answer."""
        prompt = self.input.value or ""
        if self.streaming or not prompt.strip():
            return
        size = len(prompt) + sum(len(turn.content) for turn in self.conversation.history())
        if size > self.settings.max_prompt_chars:
            ui.notify(
                f"This prompt is too long ({size:,} characters with the conversation; the limit is "
                f"{self.settings.max_prompt_chars:,}). Shorten it or start a new chat.",
                type="warning",
            )
            return
        if self._start(prompt):
            self.input.value = ""

    def _start(self, prompt: str, *, add_user: bool = True, alternatives: list[str] | None = None) -> bool:
        prefs = self.prefs
        try:
            model = self.chat.registry.get(prefs["model"])
        except ConfigError as exc:
            ui.notify(str(exc), type="negative", multi_line=True)
            return False
        history = self.conversation.history()
        if add_user:
            self.conversation.add_user(prompt)
        else:
            history = history[:-1]  # the prompt is already the conversation's last message
        self.store.save(self.conversation)
        if self.regenerate_button is not None and not self.regenerate_button.is_deleted:
            self.regenerate_button.delete()  # only the newest answer can be regenerated
            self.regenerate_button = None
        job = self.chat.board.start(
            self.browser_id,
            self.conversation,
            store=self.store,
            model=model,
            prompt=prompt,
            history=history,
            system=prefs["system_prompt"] or None,
            options={"temperature": prefs["temperature"], "max_tokens": prefs["max_tokens"]},
            where=self.chat.registry.describe(prefs["model"]),
            context=self.chat.registry.context(prefs["model"]),
            alternatives=alternatives or [],
        )
        self.started = [j for j in self.started if not j.done]  # only running answers matter on close
        self.started.append(job)
        if self.empty_hint is not None:
            self.empty_hint.set_visibility(False)
        if add_user:
            with self.messages:
                self._user_row(self.conversation.messages[-1], len(self.conversation.messages) - 1)
        self._follow(job)
        self._update_controls()
        if len(self.conversation.messages) == 1:
            self._render_conversation_list()  # a new conversation got its title
        self.follow = True
        self.scroll.scroll_to(percent=1.0)
        return True

    def stop(self) -> None:
        """Cancel the running answer; the partial text stays."""
        if job := self.running_job:
            job.cancel()

    def _recall(self) -> None:
        if not self.input.value:
            prompts = [m.content for m in self.conversation.messages if m.role == "user"]
            if prompts:
                self.input.value = prompts[-1]

    def regenerate(self) -> None:
        """Answer the last prompt again; the old answer is kept as another version."""
        old = self.conversation.messages[-1] if self.conversation.messages else None
        if self.streaming or not (taken := self.conversation.take_answer_to_regenerate()):
            return
        prompt, versions = taken
        if self.views and self.views[-1].message is old:
            self.views.pop().root.delete()
        self._start(prompt, add_user=False, alternatives=versions)

    def flip_version(self, index: int) -> None:
        if self.streaming or not self.conversation.flip_version(index):
            return
        self.store.save(self.conversation)
        self.render_conversation()

    def copy_answer(self, text: str) -> None:
        ui.clipboard.write(text)
        ui.notify("Answer copied to the clipboard.", type="positive")

    def delete_turn(self, index: int) -> None:
        """Delete a prompt with its answer (from either one's button)."""
        if self.streaming:
            return
        self.conversation.delete_turn(index)
        self.store.save(self.conversation)
        self.render_conversation()

    async def edit_message(self, index: int) -> None:
        """Edit an earlier prompt and resend it: the conversation continues from there."""
        if self.streaming:
            return
        original = self.conversation.messages[index].content
        with ui.dialog() as dialog, ui.card().classes("w-[40rem] max-w-full"):
            ui.label("Edit and resend").classes("text-h6")
            editor = (
                ui.textarea(value=original).props("autogrow outlined autofocus").classes("w-full").mark("edit-text")
            )
            with ui.row().classes("w-full justify-end"):
                ui.button("Cancel", on_click=dialog.close).props("flat")
                ui.button("Resend", on_click=lambda: dialog.submit(editor.value)).mark("resend")
        text = await dialog
        dialog.delete()
        if text and text.strip() and not self.streaming:
            self.conversation.truncate(index)
            self.render_conversation()
            self._start(text)

    # -- conversations --------------------------------------------------------------------------
    def switch(self, conversation_id: str) -> None:
        conversation = self.store.get(conversation_id)
        if conversation is None:
            return
        self.conversation = conversation
        self.store.open(conversation)
        self.render_conversation()

    def new_chat(self) -> None:
        self.conversation = Conversation()
        self.render_conversation()

    async def rename(self, conversation_id: str) -> None:
        conversation = self.store.get(conversation_id)
        if conversation is None:
            return
        with ui.dialog() as dialog, ui.card():
            name = ui.input("Title", value=conversation.title).props("autofocus").mark("rename-input")
            with ui.row().classes("w-full justify-end"):
                ui.button("Cancel", on_click=dialog.close).props("flat")
                ui.button("Rename", on_click=lambda: dialog.submit(name.value)).mark("rename-ok")
        title = await dialog
        dialog.delete()
        if title and title.strip():
            conversation.title = title.strip()[:200]
            self.store.save(conversation)
            if conversation.id == self.conversation.id:
                self.conversation.title = conversation.title
            self._render_conversation_list()

    def delete_conversation(self, conversation_id: str) -> None:
        if job := self.chat.board.get(self.browser_id, conversation_id):
            job.cancel()
        self.store.delete(conversation_id)
        if conversation_id == self.conversation.id:
            self.conversation = Conversation()
            self.render_conversation()
        else:
            self._render_conversation_list()

    def export_markdown(self) -> None:
        markdown = self.conversation.to_markdown().encode()
        ui.download.content(markdown, f"{_filename(self.conversation.title)}.md", "text/markdown")

    def export_json(self) -> None:
        data = self.conversation.to_json().encode()
        ui.download.content(data, f"{_filename(self.conversation.title)}.json", "application/json")

    def open_import(self) -> None:
        """An upload dialog, created only when asked for: NiceGUI's upload element registers a
        route whose handler outlives a deleted page, so a permanent one would keep every
        closed tab in memory."""
        with ui.dialog() as dialog, ui.card():
            ui.label("Import a conversation exported as JSON").classes("text-subtitle1")

            async def upload(event: events.UploadEventArguments) -> None:
                dialog.close()
                await self.import_json(event)

            ui.upload(on_upload=upload, auto_upload=True).props("accept=.json flat bordered").mark("import-file")
        dialog.on("hide", dialog.delete)
        dialog.open()

    async def import_json(self, event: events.UploadEventArguments) -> None:
        try:
            data = json.loads(await event.file.text())
            imported = Conversation.from_dict(data)
        except (ValueError, TypeError, UnicodeDecodeError):
            ui.notify("That file is not a Rivulet conversation (JSON exported from Rivulet).", type="warning")
            return
        imported.id = Conversation().id  # never overwrite an existing conversation
        self.store.save(imported)
        self.switch(imported.id)
        ui.notify(f"Imported “{imported.title}”.", type="positive")

    # -- misc ---------------------------------------------------------------------------------
    def _change_model(self, event: events.ValueChangeEventArguments) -> None:
        try:
            self.chat.registry.get(event.value)
        except ConfigError as exc:
            ui.notify(str(exc), type="negative", multi_line=True)
            return
        self.set_pref("model", event.value)

    def _toggle_dark(self) -> None:
        order = [None, True, False]
        self.dark.value = order[(order.index(self.dark.value) + 1) % 3]
        app.storage.user["dark"] = self.dark.value

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

    def _on_delete(self) -> None:
        """The tab is gone for good (after the reconnect grace): stop what nobody reads any more."""
        jobs = {view.job for view in self.views if view.job is not None} | set(self.started)
        for view in self.views:
            view.detach()
        for job in jobs:
            if not job.views:
                job.cancel()


def _filename(title: str) -> str:
    safe = "".join(c if c.isalnum() or c in "-_ " else "_" for c in title).strip()
    return safe[:60] or "conversation"


def register_pages(registry: ModelRegistry, settings: Settings) -> ChatApp:
    """Register the chat page at `/`."""
    chat = ChatApp(registry, settings)

    @ui.page("/")
    def index(client: Client) -> None:
        ChatPage(chat, client).build()

    return chat
