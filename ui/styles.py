"""The page's CSS (no JavaScript): readable answers on wide and phone-width screens."""

import re

from pygments.formatters import HtmlFormatter

from ui.live_blocks import MAX_SIZED_COLUMNS

#: Syntax colours of finished code blocks (markdown2 highlights them with Pygments), light and dark, as
#: `ui.markdown` has them; once per page here, not loaded by each block. Names, punctuation and white space
#: have no spans of their own (`ui.safe_markdown`): they take the code's own colour, set here.


def _code_css(style: str, scope: str) -> str:
    """Pygments' rules for `style` under `scope`, without its comments and line-number rules."""
    rules = HtmlFormatter(nobackground=True, style=style).get_style_defs(scope).splitlines()
    return "\n".join(re.sub(r" /\*.*\*/$", "", rule) for rule in rules if rule.startswith(scope))


CODE_CSS = (
    _code_css("default", ".codehilite")
    + "\n"
    + _code_css("github-dark", ".body--dark .codehilite")
    + "\n.body--dark .codehilite code { color: #E6EDF3; }\n"
)

#: A streamed table's column widths: the server sets --c0, --c1, ... on its container (`ui.live_blocks.TableView`).
TABLE_COLUMNS_CSS = "\n".join(
    f".answer-body .live-table tr > :nth-child({n + 1}) {{ width: var(--c{n}, auto); }}"
    for n in range(MAX_SIZED_COLUMNS)
)

PAGE_CSS = """
.q-scrollarea__content { width: 100%; }
.answer-body, .answer-body > * { min-width: 0; max-width: 100%; }
.user-message { background: var(--q-primary); color: white; border-radius: 1.1rem 1.1rem 0.3rem 1.1rem;
  padding: 0.5rem 0.9rem; max-width: 80%; white-space: pre-wrap; overflow-wrap: anywhere; }
.user-actions { opacity: 0; transition: opacity 0.2s; }
.user-row:hover .user-actions, .user-row:focus-within .user-actions { opacity: 1; }
.answer-body { overflow-wrap: anywhere; line-height: 1.55; max-width: 100%; }
.answer-body h1 { font-size: 1.5rem; line-height: 2rem; font-weight: 600; margin: 0.6rem 0 0.3rem; }
.answer-body h2 { font-size: 1.25rem; line-height: 1.7rem; font-weight: 600; margin: 0.6rem 0 0.3rem; }
.answer-body h3, .answer-body h4 { font-size: 1.05rem; font-weight: 600; margin: 0.5rem 0 0.2rem; }
.answer-body p { margin: 0.35rem 0; }
.answer-body pre { overflow-x: auto; padding: 0.6rem 0.8rem; border-radius: 0.5rem;
  background: rgba(127, 127, 127, 0.12); }
.answer-body code { font-size: 0.9em; }
.answer-body .nicegui-code { width: 100%; }
.answer-body table { border-collapse: collapse; margin: 0.4rem 0; display: block; overflow-x: auto; }
.answer-body th, .answer-body td { border: 1px solid rgba(127, 127, 127, 0.35); padding: 0.25rem 0.6rem; }
/* Table columns aligned with `:--`, `:-:`, `--:` (ui/safe_markdown.py names them al, ac, ar). */
.answer-body .al { text-align: left; }
.answer-body .ac { text-align: center; }
.answer-body .ar { text-align: right; }
/* A streamed table: its row groups are small tables of fixed layout, each laid out alone, whose columns line up
   because all take the widths the server gave the container (--c0, --c1, ...: ui/live_blocks.py). */
.answer-body .live-table-scroll { overflow-x: auto; margin: 0.4rem 0; }
.answer-body .live-table table { display: table; table-layout: fixed; width: 100%; min-width: var(--table-min, 0);
  margin: 0; overflow: visible; }
.answer-body .live-table > div + div table { margin-top: -1px; }  /* one border between two groups, not two */
/* A group out of view costs the browser no style or layout work (each update of a 1,000-row table restyled all
   its rows before: 6,900 elements, 130-220 ms), so a burst of rows costs about a screenful. Until it is first
   drawn a group counts as 16 rows of one line (ROWS_PER_GROUP; a row is about 2.2em), then as the height it had. */
.answer-body .live-table > div { content-visibility: auto; contain-intrinsic-size: auto 35em; }
/* A long paragraph's or list's pieces in groups (ui/live_text.py): laid out as if they were not grouped. */
.answer-body .piece-group { display: contents; }
.answer-body blockquote { border-left: 3px solid var(--q-primary); margin: 0.4rem 0; padding-left: 0.8rem;
  opacity: 0.85; }
.answer-body img { max-width: 100%; }
/* The reasoning above an answer: plain text as the model wrote it, quieter than the answer. */
.thinking-body { white-space: pre-wrap; overflow-wrap: anywhere; font-size: 0.875rem; line-height: 1.5;
  opacity: 0.75; padding: 0.2rem 0.8rem 0.5rem; border-left: 3px solid rgba(127, 127, 127, 0.35); }
/* An agent's tool call inside the answer: a quiet card; its input and output as the tool gave them. */
.step-card { border: 1px solid rgba(127, 127, 127, 0.3); border-radius: 0.5rem; margin: 0.4rem 0; }
.step-card.step-failed { border-color: var(--q-negative); }
.step-body { padding: 0.1rem 0.8rem 0.5rem; }
.step-text { white-space: pre-wrap; overflow-wrap: anywhere; font-family: ui-monospace, monospace;
  font-size: 0.8rem; max-height: 16rem; overflow-y: auto; }
.conversation-item.current { background: rgba(127, 127, 127, 0.15); border-radius: 0.4rem; }
.code-block .code-copy { opacity: 0.45; }
.code-block:hover .code-copy, .code-block .code-copy:focus-visible { opacity: 1; }
.code-block pre { padding-right: 2.6rem; }
/* Touch screens and phones have no hover: the prompt's buttons stay visible there. */
@media (hover: none), (max-width: 600px) { .user-actions { opacity: 1; } }
.answer-actions { flex-wrap: nowrap; }
.answer-status { font-size: 0.75rem; line-height: 1rem; min-width: 0; overflow: hidden; text-overflow: ellipsis;
  white-space: nowrap; }
/* A huge paste scrolls inside the input instead of pushing the conversation away. */
.prompt textarea { max-height: 40vh; overflow-y: auto !important; }
.session-line { min-height: 1.25rem; }  /* the same height empty or not: the input does not jump */
/* Before a file is chosen the uploader's header would say "0.0B / 0.00%". */
.import-file .q-uploader__subtitle { display: none; }
.conversation-item .q-btn__content { overflow: hidden; text-overflow: ellipsis; white-space: nowrap;
  display: block; }
@media (hover: none), (max-width: 600px) {
  .code-block { padding-top: 2rem; }  /* the copy button sits above the code, not on it */
  .code-block .code-copy { opacity: 1; }
}
/* Quasar's utility classes are !important inside a cascade layer; these must win over them. */
@layer overrides {
  .answer-status.incomplete { color: #b45309 !important; font-weight: 600; }
  .body--dark .answer-status.incomplete { color: #fbbf24 !important; }
  .answer-status.failed { color: var(--q-negative) !important; font-weight: 600; }
  .body--dark .app-header { background: #1f2937 !important; }
  .answer-status, .session-line, .empty-hint { color: #616161 !important; }
  .body--dark .answer-status:not(.incomplete):not(.failed), .body--dark .session-line,
  .body--dark .empty-hint { color: #bdbdbd !important; }
  :focus-visible { outline: 2px solid var(--q-primary) !important; outline-offset: 2px; }
  .body--dark :focus-visible { outline-color: #93c5fd !important; }
}
"""
