"""Issue 13's long single blocks through the shared peer harness: Gradio, Streamlit, the naive NiceGUI peer and
Rivulet (the harness's `target` slot), each streaming the same one-block answers as `bench.page`'s CODE2K, CODE4K,
TAB500 and TAB1K (the text of bench/long_blocks.py).

    .venv/bin/python -m bench.peers_long --setup          # copy /work/shared/peers to /tmp/peers, its venv
    .venv/bin/python -m bench.peers_long                  # 4 workloads x 4 apps, 1 rep (~25 min on 2 cores)
    .venv/bin/python -m bench.peers_long --apps gradio_chat --only TAB500 --reps 1
    .venv/bin/python -m bench.peers_long --summary-only   # the tables again from the saved JSON lines

The shared harness (read-only) is copied to `--peers` (/tmp/peers); this script copies bench/long_blocks.py beside
its fakemodel.py and appends a hook to the copy's fakemodel.py: with BENCH_SHAPE=code|table and BENCH_SIZE=lines|rows
in the environment it streams that block instead of its own text. The harness itself is unchanged: it runs once per
workload with that environment (`--workload NAME:CHUNKS:0`). An app that did not finish the smaller workload of a
pair is not given the larger one. Results: bench/results/long_blocks_peers.jsonl (the harness's records) and
bench/results/long_blocks.md (its table, growth ratios, and bench.page's Rivulet figures from `--page-results`).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import BENCH_DIR, RESULTS, ROOT
from bench.tables import fmt, machine_info, median, stamp, table

SHARED = Path("/work/shared/peers")
#: bench.page's issue 13 workloads: name -> (shape, size).
LONG = {"CODE2K": ("code", 2000), "CODE4K": ("code", 4000), "TAB500": ("table", 500), "TAB1K": ("table", 1000)}
PAIRS = (("CODE2K", "CODE4K"), ("TAB500", "TAB1K"))
APPS = "target,nicegui_naive,gradio_chat,streamlit_chat"
MARK = "# --- issue 13 shapes (added by Rivulet's bench.peers_long)"
HOOK = f'''

{MARK}: the text is bench/long_blocks.py's ---
_plain_make_chunks = make_chunks


def make_chunks(n: int) -> list[str]:  # noqa: F811 - replaces the plain text when BENCH_SHAPE is set
    """BENCH_SHAPE=code|table with BENCH_SIZE=lines|rows: one long block and ENDMARK; else the harness's text."""
    shape = os.environ.get('BENCH_SHAPE')
    if shape:
        from long_blocks import shape_chunks

        return shape_chunks(shape, int(os.environ.get('BENCH_SIZE', '2000')))
    return _plain_make_chunks(n)
'''
ANSWER_JS = (
    "() => { const a = document.querySelectorAll('.answer-body'); return a.length ? a[a.length - 1].textContent : ''; }"
)


def prepare(peers: Path) -> None:
    """Copy the shared harness to `peers` (once), put long_blocks.py beside fakemodel.py, hook the shapes in."""
    if not (peers / "bench.py").exists():
        shutil.copytree(SHARED, peers, dirs_exist_ok=True)
        for path in [peers, *peers.rglob("*")]:
            path.chmod(path.stat().st_mode | 0o200)
    shutil.copy(BENCH_DIR / "long_blocks.py", peers / "long_blocks.py")
    model = peers / "fakemodel.py"
    text = model.read_text()
    if MARK not in text:  # before the `__main__` block, so `python fakemodel.py N` prints the shape too
        head, main_block, tail = text.partition("\nif __name__ == '__main__':")
        model.write_text(head.rstrip("\n") + "\n" + HOOK + "\n" + main_block + tail)


def setup(peers: Path) -> None:
    """prepare() and the harness's own venv (pip from PyPI, as its README says)."""
    prepare(peers)
    venv = peers / ".venv"
    if not (venv / "bin" / "python").exists():
        subprocess.run([shutil.which("python3") or sys.executable, "-m", "venv", str(venv)], check=True)
    pkgs = ["playwright", "nicegui", "gradio", "streamlit", "langchain-core", "psutil"]
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", *pkgs], check=True)


def run_harness(peers: Path, apps: str, name: str, reps: int, args: argparse.Namespace, out: Path) -> None:
    """The harness's bench.py for one workload and `apps` (its own files in `peers`/results), its records then
    appended to `out`; on a timeout it is ended by PID (its signal handler ends what it started)."""
    from bench.long_blocks import shape_chunks

    shape, size = LONG[name]
    chunks = len(shape_chunks(shape, size))
    argv = [str(peers / ".venv" / "bin" / "python"), "bench.py", "--apps", apps, "--workloads", name]
    own = peers / "results" / f"long_{name}.jsonl"  # the harness's summary and raw/ stay beside it in /tmp/peers
    argv += ["--workload", f"{name}:{chunks}:0", "--reps", str(reps), "--out", str(own)]
    hard = args.answer_timeout + args.hard_extra
    argv += ["--answer-timeout", str(args.answer_timeout), "--hard-timeout", str(hard)]
    with tempfile.TemporaryDirectory(prefix="peers-rivulet-data-") as data:
        env = {
            **os.environ,
            "BENCH_SHAPE": shape,
            "BENCH_SIZE": str(size),
            "RIVULET_DATA_DIR": data,
            "BENCH_TARGET_MAIN": str(Path(args.target_main).resolve()),
            "BENCH_TARGET_PYTHON": args.target_python,
            "BENCH_TARGET_MODEL_ENV": "RIVULET_MODEL=py:fakemodel:model_from_env",
            "BENCH_TARGET_INPUT": "textarea",
            "BENCH_TARGET_ANSWER_JS": ANSWER_JS,
        }
        proc = subprocess.Popen(argv, cwd=peers, env=env, start_new_session=True)
        budget = len(apps.split(",")) * reps * (hard + 30)
        try:
            proc.wait(timeout=budget)
        except subprocess.TimeoutExpired:
            print(f"    {name}: the harness ran over {budget:.0f} s: ended", flush=True)
            proc.send_signal(signal.SIGTERM)  # its handler ends the servers and browsers it started, by PID
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    with out.open("a") as f:
        for rec in load(own):
            f.write(json.dumps(rec) + "\n")


def load(path: Path) -> list[dict[str, Any]]:
    """The harness's run records in `path` (without our meta line)."""
    return [r for r in _lines(path) if "app" in r]


def _lines(path: Path) -> list[dict[str, Any]]:
    out = []
    for line in path.read_text().splitlines() if path.exists() else []:
        with contextlib.suppress(ValueError):
            out.append(json.loads(line))
    return out


def _metas(path: Path) -> list[dict[str, Any]]:
    """The meta line of each invocation that wrote `path` (several with --append)."""
    return [r for r in _lines(path) if r.get("kind") == "meta"]


def _fig(records: list[dict[str, Any]], app: str, wl: str) -> dict[str, Any] | None:
    """Medians of the harness's records of (app, workload): over finished runs, else over the DNFs."""
    rs = [r for r in records if r["app"] == app and r["workload"] == wl]
    if not rs:
        return None
    ok = [r for r in rs if r.get("ok")]
    use = ok or rs
    chars = len("".join(_text(wl)))
    # a DNF's share: its text length over a finished run's (this app's, else another app's: rendered text
    # lengths differ a little between apps, so that share is approximate and capped at 100)
    finals = [r["final_len"] for r in rs if r.get("ok") and r.get("final_len")]
    finals = finals or [r["final_len"] for r in records if r["workload"] == wl and r.get("ok") and r.get("final_len")]
    ref = median(finals)
    shown = [
        100.0 if r.get("ok") else (min(100.0, 100.0 * r["last_len"] / ref) if ref and r.get("last_len") else None)
        for r in rs
    ]
    frozen = all(str(r.get("error") or "").startswith("hard timeout") for r in rs)
    return {
        "n": len(rs),
        "ok": len(ok),
        "frozen": frozen,
        "model_pct": median(
            100.0 * r["model_emitted_at_timeout"] / r["chunks"] if r.get("model_emitted_at_timeout") else None
            for r in rs
        ),
        "shown_pct": median(shown),
        "t_done_s": median(r.get("t_done_s") for r in ok) if ok else None,
        "server_cpu_s": median(r.get("server_cpu_s") for r in use),
        "browser_cpu_s": median(r.get("browser_cpu_s") for r in use),
        "rx_x": median((r["rx_bytes"] / chars) if r.get("rx_bytes") is not None else None for r in use),
        "max_gap_s": median(r.get("max_gap_s") for r in use),
        "rss_mb": median(r.get("server_rss_mb") for r in use),
        "rx_mb": median((r.get("rx_bytes") or 0) / 1e6 for r in use),
    }


def _text(wl: str) -> str:
    from bench.long_blocks import shape_text

    return shape_text(*LONG[wl])


def _git(where: Path) -> str | None:
    """`where`'s commit, "+ changes" when its work tree has uncommitted ones (bench/ and results aside)."""
    try:
        head = subprocess.run(["git", "-C", str(where), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
        dirty = subprocess.run(
            ["git", "-C", str(where), "status", "--porcelain", "-uno", "--", ".", ":!bench"],
            capture_output=True,
            text=True,
        )
    except OSError:
        return None
    return head.stdout.strip() + (" + uncommitted changes" if dirty.stdout.strip() else "")


def _name(app: str) -> str:
    return "rivulet (target)" if app == "target" else app


def _rel(path: Path) -> str:
    with contextlib.suppress(ValueError):
        return str(path.resolve().relative_to(ROOT))
    return str(path)


def _ratio(a: float | None, b: float | None) -> float | None:
    return b / a if a and b is not None else None


def peers_table(records: list[dict[str, Any]]) -> str:
    """The harness's figures: one row per (workload, app)."""
    rows = []
    apps = list(dict.fromkeys(r["app"] for r in records))
    for wl in LONG:
        for app in apps:
            f = _fig(records, app, wl)
            if not f:
                continue
            done = fmt(f["t_done_s"], "{:.2f}") if f["ok"] else f"DNF (model at {fmt(f['model_pct'], '{:.0f}')}%)"
            if f["frozen"]:
                done = "DNF: page froze, no figures"
            rows.append(
                [
                    wl,
                    _name(app),
                    f"{f['ok']}/{f['n']}",
                    done,
                    fmt(f["server_cpu_s"], "{:.2f}"),
                    fmt(f["rx_x"], "{:.2f}"),
                    fmt(f["browser_cpu_s"], "{:.2f}"),
                    fmt(f["max_gap_s"], "{:.2f}"),
                    fmt(f["rss_mb"], "{:.0f}"),
                ]
            )
    head = ["workload", "app", "ok", "shown after s", "server CPU s", "rx bytes / answer"]
    return table([*head, "browser CPU s", "max gap s", "server RSS MB"], rows)


def peers_growth(records: list[dict[str, Any]]) -> str:
    """Twice the size over the smaller, per app: server CPU, bytes received, shown after."""
    rows = []
    apps = list(dict.fromkeys(r["app"] for r in records))
    for small, big in PAIRS:
        for app in apps:
            a, b = _fig(records, app, small), _fig(records, app, big)
            if not a:
                continue
            if not b:
                if not a["ok"]:
                    rows.append([f"{big} / {small}", _name(app), f"{big} not run: DNF on {small}", "", ""])
                continue
            dnf = not (a["ok"] and b["ok"])
            rows.append(
                [
                    f"{big} / {small}",
                    _name(app),
                    fmt(_ratio(a["server_cpu_s"], b["server_cpu_s"]), "{:.2f}x") + (" (DNF)" if dnf else ""),
                    fmt(_ratio(a["rx_mb"], b["rx_mb"]), "{:.2f}x") + (" (DNF)" if dnf else ""),
                    "DNF" if dnf else fmt(_ratio(a["t_done_s"], b["t_done_s"]), "{:.2f}x"),
                ]
            )
    return table(["growth", "app", "server CPU", "rx bytes", "shown after"], rows)


def page_rows(path: Path) -> str:
    """bench.page's figures of the same workloads (Rivulet and the naive page) from its JSON lines `path`."""
    from bench.page.figures import workload_figures

    records = load(path)
    rows = []
    for wl in LONG:
        for app in ("rivulet", "naive"):
            f = workload_figures(records, app, wl)
            if not f:
                continue
            done = "DNF" if f["dnf"] else fmt(f["t_done_s"], "{:.2f}")
            rows.append(
                [
                    wl,
                    app,
                    done,
                    fmt(f["server_cpu_s"], "{:.2f}"),
                    fmt(f["bytes_x"], "{:.2f}"),
                    fmt(f["longest_task_max_ms"], "{:.0f}"),
                    fmt(f["scroll_gap_max_px"], "{:.0f}"),
                    fmt(f["browser_cpu_s"], "{:.2f}"),
                ]
            )
    head = ["workload", "app", "shown after s", "server CPU s", "ws bytes / answer", "longest task ms"]
    return table([*head, "px from bottom", "browser CPU s"], rows) if rows else ""


def write_report(
    records: list[dict[str, Any]],
    out_md: Path,
    page_results: Path,
    args: argparse.Namespace,
    metas: list[dict[str, Any]],
) -> str:
    """bench/results/long_blocks.md: the harness's table and growth, then bench.page's figures."""
    meta = metas[0] if metas else {}
    head = f"{meta.get('when', stamp())} · {os.cpu_count()} cores · Rivulet at git {meta.get('target_git')}"
    commands = "; then ".join(
        "`.venv/bin/python -m bench.peers_long " + " ".join(m.get("argv", [])) + "`" for m in metas
    )
    parts = [
        "# Long single blocks (issue 13): Rivulet beside Gradio, Streamlit and the naive NiceGUI peer",
        "",
        f"{head} · Rivulet (`target`): `{meta.get('target_main', args.target_main)}` · "
        f"command{'s' if len(metas) > 1 else ''}: {commands or 'n/a'}",
        "",
        "Every app streams the same text (bench/long_blocks.py through the harness's fakemodel.py, as fast as the "
        "model yields, one word or line fragment per chunk, ENDMARK after the block); every run is a fresh server "
        "and browser (the shared peer harness, /work/shared/peers, copied to /tmp/peers). rx bytes = WebSocket + "
        "SSE + HTTP bodies received from submit to done + 0.5 s (lazily loaded front-end assets included), over "
        "the answer's Markdown length. The harness does not measure long tasks or the scroll position. A DNF did "
        'not show ENDMARK within the answer timeout; its figures cover the timeout window, and "model at" is how '
        "much of the answer the app had pulled from the model by then (the stream is pulled: a slow page slows the "
        'model). "page froze": the page stopped answering the '
        "harness's polling until the run's hard limit ended it, so nothing was recorded.",
        "",
        "## The shared harness",
        "",
        peers_table(records),
        "",
    ]
    grow = peers_growth(records)
    if "/" in grow.split("\n")[-1]:
        parts += ["### Growth: twice the size", "", grow, ""]
    page = page_rows(page_results)
    if page:
        parts += [
            f"## bench.page's figures of the same workloads (`{_rel(page_results)}`)",
            "",
            page,
            "",
        ]
    text = "\n".join(parts)
    out_md.write_text(text + "\n")
    return text


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.peers_long", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--peers", default="/tmp/peers", help="the copy of the shared harness")
    parser.add_argument("--setup", action="store_true", help="copy the harness and create its venv, then exit")
    parser.add_argument("--apps", default=APPS, help=f"comma list of the harness's apps ({APPS})")
    parser.add_argument("--only", default=",".join(LONG), help="comma list of " + ",".join(LONG))
    parser.add_argument("--reps", type=int, default=1)
    parser.add_argument("--answer-timeout", type=float, default=90.0, help="seconds from submit, per answer")
    parser.add_argument(
        "--hard-extra",
        type=float,
        default=60.0,
        help="the harness's hard limit per run is the answer timeout plus this (a frozen page blocks its polling)",
    )
    parser.add_argument("--append", action="store_true", help="add to --out instead of starting it afresh")
    parser.add_argument("--target-main", default=str(ROOT / "main.py"), help="Rivulet's main.py for `target`")
    parser.add_argument("--target-python", default=sys.executable, help="the Python that runs it")
    parser.add_argument(
        "--page-results",
        default=str(RESULTS / "page_bench.jsonl"),
        help="bench.page JSON lines whose CODE/TAB figures go beside the harness's",
    )
    parser.add_argument("--out", default=str(RESULTS / "long_blocks_peers.jsonl"))
    parser.add_argument("--summary-only", action="store_true", help="only the tables, from --out")
    args = parser.parse_args(argv)
    peers, out = Path(args.peers), Path(args.out)
    md = out.parent / "long_blocks.md"
    if args.setup:
        setup(peers)
        return
    if not args.summary_only:
        if not (peers / ".venv" / "bin" / "python").exists():
            raise SystemExit(f"no harness venv in {peers}: run `.venv/bin/python -m bench.peers_long --setup` first")
        prepare(peers)
        out.parent.mkdir(parents=True, exist_ok=True)
        meta = {"kind": "meta", "when": stamp(), "machine": machine_info(), "target_main": args.target_main}
        meta["argv"], meta["target_git"] = sys.argv[1:], _git(Path(args.target_main).resolve().parent)
        if not (args.append and out.exists()):
            out.write_text("")
        with out.open("a") as f:
            f.write(json.dumps(meta) + "\n")
        only = [w for w in LONG if w in {x.strip().upper() for x in args.only.split(",")}]
        t0 = time.time()
        for wl in only:
            small = next((a for a, b in PAIRS if b == wl), None)
            done = load(out)
            apps = [
                a
                for a in args.apps.split(",")
                if not small
                or any(r["app"] == a and r["workload"] == small and r.get("ok") for r in done)
                or not any(r["app"] == a and r["workload"] == small for r in done)
            ]
            print(f"[{time.time() - t0:6.0f}s] {wl}: {','.join(apps) or '(no app left)'}", flush=True)
            if apps:
                run_harness(peers, ",".join(apps), wl, args.reps, args, out)
    text = write_report(load(out), md, Path(args.page_results), args, _metas(out))
    print("\n" + text + f"\nresults: {out}, {md}")


if __name__ == "__main__":
    main()
