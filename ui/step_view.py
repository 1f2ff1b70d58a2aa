"""A tool call of an agent's run, as a compact card inside the answer: name, arguments, result or error, time.

The card is open while the tool runs and closes once when it ends (a user who opens it again keeps it
open). Its texts are plain text elements (a tool's output is never rendered as Markdown or HTML).
"""

from __future__ import annotations

from nicegui import ui
from nicegui.elements.mixins.text_element import TextElement

from llm.steps import Step, took_text

ICONS = {"running": "hourglass_top", "done": "build", "error": "error_outline"}


def step_caption(step: Step) -> str:
    """'city_facts · 0.21 s', 'city_facts · running…', 'city_facts · failed · 0.20 s'."""
    took = f" · {took_text(step.duration_s)}" if step.duration_s is not None else ""
    if step.status == "running":
        return f"{step.name} · running…"
    return f"{step.name}{' · failed' if step.status == 'error' else ''}{took}"


class StepCard:
    """One step's card; `update` shows the step as it is now."""

    def __init__(self, step: Step) -> None:
        self.step = step
        running = step.status == "running"
        with (
            ui.expansion(step_caption(step), icon=ICONS[step.status], value=running)
            .classes("w-full step-card")
            .props("dense header-class=step-header")
            .mark("step") as self.root,
            ui.element("div").classes("step-body"),
        ):
            ui.label("Input").classes("text-xs text-grey-7")
            TextElement(tag="div", text=step.input or "(none)").classes("step-text").mark("step-input")
            self.result_label = ui.label("").classes("text-xs text-grey-7")
            self.result = TextElement(tag="div", text="").classes("step-text").mark("step-output")
        self._closed_once = not running
        self._show_result(step)

    def _show_result(self, step: Step) -> None:
        ended = step.status != "running"
        self.result_label.set_text("Error" if step.status == "error" else "Result")
        self.result.set_text((step.error or "") if step.status == "error" else step.output)
        self.result_label.set_visibility(ended)
        self.result.set_visibility(ended)
        if step.status == "error":
            self.root.classes(add="step-failed")

    def update(self, step: Step) -> None:
        """Show `step` (the same call, later): its result, its time; close the card once it ends."""
        self.step = step
        self.root.set_text(step_caption(step))
        self.root.props(f"icon={ICONS[step.status]}")
        self._show_result(step)
        if step.status != "running" and not self._closed_once:
            self._closed_once = True
            self.root.close()
