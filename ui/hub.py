"""One live copy of each conversation per process, shared by every tab of a browser that shows it.

Tabs of one browser used to load their own copies from storage, so a save from one tab
overwrote the turns another had added. Now every tab asks the hub: the first ask loads the
conversation from the browser's store, later asks (from any tab) get the same object, and a
running answer's conversation is the job's. A tab that changes a conversation announces it;
the browser's other tabs re-render it (or just their conversation list).

Within one process announcements are plain calls. Across instances the backend's change messages
(Redis) arrive as `changed_elsewhere`: the live copy is dropped, so the next ask reads the stored
version, and the browser's tabs here are told; a conversation whose answer streams here keeps its
live copy (its save, when the answer ends, is the newer one).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable

from llm.conversation import Conversation
from ui.conversation import ConversationStore
from ui.conversation_store import Conversations
from ui.jobs import JobBoard, LiveAnswer

log = logging.getLogger("rivulet.hub")

#: Called with (conversation id, whether its messages changed); a title or order change is False.
Listener = Callable[[str, bool], None]


class ConversationHub:
    """The live conversations of this process, keyed by (browser id, conversation id), and who listens."""

    def __init__(self, board: JobBoard, conversations: Conversations) -> None:
        self.board = board
        self.conversations = conversations
        self._live: dict[tuple[str, str], Conversation] = {}
        self._listeners: defaultdict[str, list[Listener]] = defaultdict(list)
        board.on_end = self._answer_ended
        board.on_remote_start = self._answer_started_elsewhere
        conversations.on_change = self.changed_elsewhere

    def get(self, browser_id: str, store: ConversationStore, conversation_id: str | None) -> Conversation | None:
        """The live copy of a saved conversation (None if the browser has no such conversation)."""
        if not conversation_id:
            return None
        key = (browser_id, conversation_id)
        if job := self.board.get(*key):
            self._live[key] = job.conversation  # the running answer grows this one
        elif key not in self._live:
            loaded = store.get(conversation_id)
            if loaded is None:
                return None
            self._live[key] = loaded
        self.board.follow(key, self._live[key])  # if its answer streams on another instance
        return self._live[key]

    def adopt(self, browser_id: str, conversation: Conversation) -> None:
        """Make a new (or imported) conversation the live copy for its id."""
        self._live[(browser_id, conversation.id)] = conversation

    def forget(self, browser_id: str, conversation_id: str) -> None:
        """The conversation was deleted."""
        self._live.pop((browser_id, conversation_id), None)

    def listen(self, browser_id: str, listener: Listener) -> None:
        self._listeners[browser_id].append(listener)

    def stop_listening(self, browser_id: str, listener: Listener) -> None:
        listeners = self._listeners.get(browser_id, [])
        if listener in listeners:
            listeners.remove(listener)
        if not listeners:
            self._listeners.pop(browser_id, None)
            self._release(browser_id)

    def announce(
        self, browser_id: str, conversation_id: str, *, messages: bool, source: Listener | None = None
    ) -> None:
        """Tell the browser's tabs (but `source`) that a conversation changed."""
        for listener in list(self._listeners.get(browser_id, [])):
            if listener != source:
                try:
                    listener(conversation_id, messages)
                except Exception:  # one broken tab must not stop the others, nor the answer's save
                    log.exception("a tab could not show a change of conversation %s", conversation_id)

    def changed_elsewhere(self, browser_id: str, conversation_id: str | None) -> None:
        """Another process changed a conversation of this browser (None: only its current one or preferences)."""
        if conversation_id is None:
            return  # what a tab shows does not depend on them
        key = (browser_id, conversation_id)
        if self.board.get(*key) is not None:
            return  # the answer streaming here grows the live copy, and saves it when it ends
        self._live.pop(key, None)
        self.announce(browser_id, conversation_id, messages=True)

    def _answer_started_elsewhere(self, key: tuple[str, str]) -> None:
        """An answer began on another instance: the tabs showing its conversation follow it."""
        if key[0] in self._listeners:
            self.announce(*key, messages=True)

    def _answer_ended(self, job: LiveAnswer) -> None:
        browser_id, conversation_id = job.key
        self.announce(browser_id, conversation_id, messages=False)  # its place in the lists changed
        if browser_id not in self._listeners:  # every tab had closed: nothing shows it any more
            self._live.pop(job.key, None)
            self.conversations.release(browser_id)

    def _release(self, browser_id: str) -> None:
        """No tab of this browser is left: drop its copies, but those a running answer still grows."""
        running = False
        for key in [k for k in self._live if k[0] == browser_id]:
            if self.board.get(*key) is None:
                del self._live[key]
            else:
                running = True
        if not running:
            self.conversations.release(browser_id)
