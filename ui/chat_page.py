"""The chat page: one `ChatPage` per browser tab, conversations stored per browser."""

from __future__ import annotations

from nicegui import Client, app, events, ui

from llm.conversation import Conversation, Message
from llm.errors import ConfigError
from llm.factory import ModelRegistry
from llm.settings import Settings
from ui.answer_relay import AnswerRelay, relay_for
from ui.answer_view import AnswerView, preload_answer_components, session_summary
from ui.autoscroll import AUTOSCROLL_CSS, Autoscroll
from ui.composer import Composer
from ui.conversation import ConversationStore
from ui.conversation_drawer import ConversationDrawer, DrawerActions
from ui.conversation_store import Conversations, MemoryConversations
from ui.dialogs import ask_edit, ask_title
from ui.header import header
from ui.hub import ConversationHub
from ui.jobs import AnswerJob, JobBoard, LiveAnswer
from ui.memory import release_memory_soon
from ui.settings_drawer import settings_drawer
from ui.styles import CODE_CSS, PAGE_CSS, TABLE_COLUMNS_CSS
from ui.transfer import export_json, export_markdown, open_import
from ui.widgets import icon_button


class PageServices:
    """What every page of this process shares: settings, models, the running answers, the live conversations."""

    def __init__(self, registry: ModelRegistry, settings: Settings, conversations: Conversations) -> None:
        self.registry = registry
        self.settings = settings
        self.conversations = conversations
        self.board = JobBoard(relay_for(conversations))
        self.hub = ConversationHub(self.board, conversations)


class ChatPage:
    """The conversation view and controls of one tab."""

    def __init__(self, chat: PageServices, client: Client, store: ConversationStore) -> None:
        self.chat = chat
        self.settings = chat.settings
        self.client = client
        self.browser_id = store.browser_id
        self.store = store
        self.hub = chat.hub
        self.conversation = self.hub.get(self.browser_id, self.store, self.store.current_id) or Conversation()
        self.views: list[AnswerView] = []
        self.regenerate_button: ui.button | None = None
        self.empty_hint: ui.label | None = None
        self.started: list[AnswerJob] = []
        self.hub.listen(self.browser_id, self._on_change_elsewhere)
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

    @property
    def model_spec(self) -> str:
        """The model this conversation answers with: its own if this server still offers it, else the browser's."""
        own = self.conversation.model
        return own if own in self.chat.registry.specs else self.prefs["model"]

    def _show_model(self) -> None:
        """The header and the picker name the shown conversation's model."""
        spec = self.model_spec
        self.model_label.set_text(f"model: {spec}")
        if self.model_select.value != spec:
            self.model_select.set_value(spec)  # `_change_model` sees it is the model already in use

    # -- layout -----------------------------------------------------------------------
    def build(self) -> None:
        ui.page_title("Rivulet")
        ui.add_css(PAGE_CSS + AUTOSCROLL_CSS + TABLE_COLUMNS_CSS + CODE_CSS)
        ui.query(".nicegui-content").classes("h-[100dvh] p-0 gap-0")
        self._build_drawers()
        with ui.column().classes("w-full h-full no-wrap gap-0 items-stretch"):
            self.model_label = header(
                self.model_spec, toggle_conversations=self.drawer.toggle, toggle_settings=self.right.toggle
            )
            with ui.element("div").classes("w-full flex-grow min-h-0 relative"):
                self.scroll = Autoscroll()
                with self.scroll.content:
                    self.messages = ui.column().classes("w-full max-w-3xl mx-auto px-3 pb-4 gap-3 messages")
            self.composer = Composer(
                self.settings.max_prompt_chars, send=self.send, toggle=self.toggle, last_prompt=self._last_prompt
            )
            self.input = self.composer.input
            self.session_line = ui.label("").classes("text-xs text-grey-6 self-center pb-1 session-line")
        ui.keyboard(on_key=self._on_key, ignore=[]).mark("keys")  # Esc works wherever the focus is
        preload_answer_components()
        self.render_conversation()

    def _build_drawers(self) -> None:
        self.drawer = ConversationDrawer(
            DrawerActions(
                new_chat=self.new_chat,
                switch=self.switch,
                rename=self.rename,
                delete=self.delete_conversation,
                export_markdown=lambda: export_markdown(self.conversation),
                export_json=lambda: export_json(self.conversation),
                open_import=lambda: open_import(self.import_conversation),
            )
        )
        self.right, self.model_select = settings_drawer(
            self.chat.registry.specs, {**self.prefs, "model": self.model_spec}, self.set_pref, self._change_model
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
        self._update_controls()  # first: the finished answers shown below must not count as one just ended
        self._show_model()
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
            self._add_live_view(job)
        self._update_controls()
        self._render_conversation_list()
        self.scroll.jump_to_end()

    def _add_live_view(self, job: LiveAnswer) -> None:
        with self.messages:
            view = AnswerView(on_update=self._on_view_update)
        self.views.append(view)
        view.show_live(job)

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
        self.drawer.show(self.store.all(), self.conversation.id)
        self._update_session_line()

    def _update_session_line(self) -> None:
        self.session_line.set_text(session_summary(self.conversation))

    # -- streaming state ----------------------------------------------------------------------
    @property
    def running_job(self) -> LiveAnswer | None:
        return self.chat.board.get(self.browser_id, self.conversation.id)

    @property
    def streaming(self) -> bool:
        return self.running_job is not None

    def _update_controls(self) -> None:
        self.composer.show_stop(self.streaming)

    def _on_view_update(self) -> None:
        if self.composer.shows_stop and not self.streaming:
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
        if not prompt.strip():
            return
        if self.streaming:
            ui.notify(
                "An answer is still being written in this chat (perhaps in another tab): "
                "wait for it to finish, or press Stop.",
                type="warning",
            )
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
            self.composer.clear()

    def _start(self, prompt: str, *, add_user: bool = True, alternatives: list[Message] | None = None) -> bool:
        prefs, spec = self.prefs, self.model_spec
        try:
            model = self.chat.registry.get(spec)
        except ConfigError as exc:
            ui.notify(str(exc), type="negative", multi_line=True)
            return False
        history = self.conversation.history()
        if add_user:
            self.conversation.add_user(prompt)
        else:
            history = history[:-1]  # the prompt is already the conversation's last message
        self.conversation.model = spec  # it goes on with this model, whatever the browser picks for others
        self.hub.adopt(self.browser_id, self.conversation)
        self.store.save(self.conversation)
        self.store.open(self.conversation)
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
            where=self.chat.registry.describe(spec),
            context=self.chat.registry.context(spec),
            spec=spec,
            alternatives=alternatives or [],
        )
        self.started = [j for j in self.started if not j.done]  # only running answers matter on close
        self.started.append(job)
        if self.empty_hint is not None:
            self.empty_hint.set_visibility(False)
        if add_user:
            with self.messages:
                self._user_row(self.conversation.messages[-1], len(self.conversation.messages) - 1)
        self._add_live_view(job)
        self._update_controls()
        if len(self.conversation.messages) == 1:
            self._render_conversation_list()  # a new conversation got its title
        self.scroll.jump_to_end()  # asking brings the reader to the new answer
        self._announce()
        return True

    def stop(self) -> None:
        """Cancel the running answer; the partial text stays."""
        if job := self.running_job:
            job.cancel()

    def _last_prompt(self) -> str | None:
        prompts = [m.content for m in self.conversation.messages if m.role == "user"]
        return prompts[-1] if prompts else None

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
        self._announce()

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
        self._announce()

    async def edit_message(self, index: int) -> None:
        """Edit an earlier prompt and resend it: the conversation continues from there."""
        if self.streaming:
            return
        text = await ask_edit(self.conversation.messages[index].content)
        if text and not self.streaming and not self.client.is_deleted:  # the tab may have closed meanwhile
            self.conversation.truncate(index)
            self.render_conversation()
            self._start(text)

    # -- conversations --------------------------------------------------------------------------
    def switch(self, conversation_id: str) -> None:
        conversation = self.hub.get(self.browser_id, self.store, conversation_id)
        if conversation is None:
            return
        self.conversation = conversation
        self.store.open(conversation)
        self.render_conversation()

    def new_chat(self) -> None:
        self.conversation = Conversation()
        self.render_conversation()

    async def rename(self, conversation_id: str) -> None:
        conversation = self.hub.get(self.browser_id, self.store, conversation_id)
        if conversation is None or (title := await ask_title(conversation.title)) is None:
            return
        conversation.title = title
        self.store.save(conversation)
        self._render_conversation_list()
        self._announce(conversation.id, messages=False)

    def delete_conversation(self, conversation_id: str) -> None:
        """Delete a conversation; the drawer offers to undo it for a while."""
        deleted = self.hub.get(self.browser_id, self.store, conversation_id)
        if job := self.chat.board.get(self.browser_id, conversation_id):
            job.cancel(save=False)
        self.store.delete(conversation_id)
        self.hub.forget(self.browser_id, conversation_id)
        if conversation_id == self.conversation.id:
            self.conversation = Conversation()
            self.render_conversation()
        else:
            self._render_conversation_list()
        self._announce(conversation_id)
        if deleted is not None:
            self.drawer.offer_undo(deleted.title, lambda: self._restore(deleted))

    def _restore(self, conversation: Conversation) -> None:
        self._add_conversation(conversation)
        self._render_conversation_list()

    def import_conversation(self, imported: Conversation) -> None:
        self._add_conversation(imported)
        self.switch(imported.id)

    def _add_conversation(self, conversation: Conversation) -> None:
        """Save a conversation this browser did not have (imported, or brought back) and list it in every tab."""
        self.hub.adopt(self.browser_id, conversation)
        self.store.save(conversation)
        self._announce(conversation.id, messages=False)

    # -- the browser's other tabs ---------------------------------------------------------------
    def _announce(self, conversation_id: str | None = None, *, messages: bool = True) -> None:
        """Tell this browser's other tabs that a conversation changed."""
        conversation_id = conversation_id or self.conversation.id
        self.hub.announce(self.browser_id, conversation_id, messages=messages, source=self._on_change_elsewhere)

    def _on_change_elsewhere(self, conversation_id: str, messages: bool) -> None:
        """Another tab changed a conversation: show its new turns if it is the one shown here."""
        if self.client.is_deleted:
            return
        with self.client:  # the change may come from another tab, or from Redis outside any tab
            if messages and conversation_id == self.conversation.id:
                self.conversation = self.hub.get(self.browser_id, self.store, conversation_id) or Conversation()
                self.render_conversation()
            else:
                self._render_conversation_list()

    # -- misc ---------------------------------------------------------------------------------
    def _change_model(self, event: events.ValueChangeEventArguments) -> None:
        """The picker chose a model: for this conversation from now on, and for the browser's new chats."""
        if event.value == self.model_spec:
            return
        try:
            self.chat.registry.get(event.value)
        except ConfigError as exc:
            ui.notify(str(exc).splitlines()[0], type="negative")
            event.sender.value = self.model_spec  # the picker shows the model that still answers
            return
        self.set_pref("model", event.value)
        if self.conversation.messages:
            self.conversation.model = event.value
            self.store.save(self.conversation)
            self._announce(messages=False)
        self.model_label.set_text(f"model: {event.value}")

    def _on_key(self, event: events.KeyEventArguments) -> None:
        if event.key.escape and event.action.keydown:
            if self.right.value:
                self.right.hide()
            elif self.drawer.drawer.value:
                self.drawer.drawer.hide()
            else:
                self.stop()

    def _on_delete(self) -> None:
        """The tab is gone for good (after the reconnect grace): stop what nobody reads any more."""
        self.hub.stop_listening(self.browser_id, self._on_change_elsewhere)
        jobs = {view.job for view in self.views if view.job is not None} | set(self.started)
        for view in self.views:
            view.detach()
        for job in jobs:
            if not job.views:
                job.abandon()
        release_memory_soon()  # what the tab held is freed with its elements: give it back to the system


def register_pages(
    registry: ModelRegistry, settings: Settings, conversations: Conversations | None = None
) -> PageServices:
    """Register the chat page at `/`; `conversations` default to this process's memory (tests)."""
    chat = PageServices(registry, settings, conversations or MemoryConversations())
    if type(chat.board.relay) is not AnswerRelay:  # one that shares the answers: it has background work
        app.on_startup(chat.board.relay.start)  # (it ends when the conversations' backend closes)

    @ui.page("/", language="en-US")
    async def index(client: Client) -> None:
        store = ConversationStore(chat.conversations, app.storage.browser["id"])
        await store.load(legacy=app.storage.user)  # moves conversations earlier versions kept there
        ChatPage(chat, client, store).build()

    return chat
