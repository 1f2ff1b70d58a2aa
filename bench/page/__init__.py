"""Browser benchmark (issues 5 and 13): Rivulet's chat page vs. a naive NiceGUI page, in headless Chromium.

For each workload, both apps are started fresh on free 127.0.0.1 ports (Rivulet:
`main.py --model py:bench.bench_model:model_from_env`; the naive page: `python -m bench.naive_page`),
Debian's Chromium is driven through Playwright's async API (never downloaded: /usr/bin/chromium), a prompt
is typed and Enter pressed, and per answer we measure:

  t_first   submit (Enter keydown in the page) -> first answer text in the DOM
  t_done    submit -> the answer's last word (ENDMARK) in the DOM
  model     the model's own first -> last chunk (bench_model logs wall-clock times)
  lag       the browser showing the last chunk minus the model emitting it (clock offset corrected)
  ws bytes  WebSocket payload the page received from submit to done + tail, and as a multiple of the answer
  CPU       server process tree and Chromium process tree, user+sys seconds over the same window
  max gap   the largest time between two visible updates of the answer text (MutationObserver)
  RSS       server resident memory before / after the answer
  long task the longest main-thread long task of the page (PerformanceObserver 'longtask'), submit -> done
  bottom    px left below the view in the answer's scroll container at the end (0 = scrolled to the bottom)

Workloads: W1 = 5,000 word chunks as fast as possible; W2 = 2,000 chunks at 200 chunks/s; W3 = 8 tabs
streaming W2 at once; CODE2K/CODE4K = one fenced Python block of 2,000/4,000 lines and TAB500/TAB1K = one
table of 500/1,000 rows (issue 13, as fast as possible; bench/long_blocks.py); EMB = the embedded SmolLM2
model (`--model local`, temperature 0, 256 tokens) through the page vs. the raw engine on the same prompt;
MEM = 50 W1 answers in one tab, then 50 tabs opened and closed, and (`--mem-shape code`) 20 CODE4K answers,
each in a tab closed after it (Rivulet only). Every answer has a timeout; an unfinished one is a DNF with the
share shown.

    .venv/bin/python -m bench.page               # everything, about 13 minutes on 2 cores
    .venv/bin/python -m bench.page --quick       # 1 rep, short timeouts, small memory checks (~5-7 min)
    .venv/bin/python -m bench.page --only W1,W2 --reps 5 --apps rivulet

Results: bench/results/page_bench.jsonl (one JSON line per record), bench/results/summary.md (tables),
bench/results/raw/page/<run>/ (server logs, model logs, DOM events, WebSocket frame samples; git-ignored).

Modules: __main__ (the command line), run (the order of the runs), workloads (W1-W3, CODE*, TAB*), embedded
(EMB), memory (MEM), memory_long (MEM of long answers), apps (starting Rivulet and the naive page), browser
(Chromium and its pages), instrument.js (what the page under test measures), measure (one answer, one or more
tabs), frames (what the WebSocket frames carried), figures (medians per workload, growth), targets (issues 5
and 13), report (summary.md).
"""

from bench import RESULTS

#: Per run: server and model logs, DOM event traces, WebSocket frame samples (git-ignored).
RAW = RESULTS / "raw" / "page"
