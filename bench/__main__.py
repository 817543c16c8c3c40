"""``make bench`` (``python -m bench [--part PART[,PART…]]``): the benchmark on the bench's own embedded
stack; prints a table and writes ``bench/results.json`` (a run of some parts updates only those).

Counts come from ``BENCH_*`` variables (``bench/config.py``): ``BENCH_SETUPS`` (250),
``BENCH_INTAKE_REQUESTS`` (2000), ``BENCH_OPEN`` (500),
``BENCH_OUTAGE`` (250), ``BENCH_TIMERS`` (300), …
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
import time
from pathlib import Path

from rich.console import Console

from bench.config import PARTS, STACKLESS, BenchSettings
from devstack import exit_now


def parse_parts(text: str) -> list[str]:
    wanted = [p.strip() for p in text.split(",") if p.strip()]
    if not wanted or wanted == ["all"]:
        return list(PARTS)
    unknown = [p for p in wanted if p not in PARTS]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown part {', '.join(unknown)}; parts: all, {', '.join(PARTS)}")
    return [p for p in PARTS if p in wanted]  # always in the order "all" runs them


async def run(settings: BenchSettings, parts: list[str], console: Console) -> int:
    from bench.parts import PARTS as RUNNERS
    from bench.parts import Context
    from bench.report import load_results, machine, print_table, save_part
    from bench.stack import BenchError, BenchStack

    task = asyncio.current_task()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, task.cancel if task else (lambda: None))
    info = machine()
    previous = load_results(settings.results)
    stack = BenchStack(settings.data_dir)
    console.print(
        f"[bold]make bench[/]: {', '.join(parts)} on {info['cpus']} CPUs, Python {info['python']}, "
        f"Temporal CLI {info['temporal_cli']}; data and logs in {settings.data_dir}"
    )
    code, done = 0, []
    try:
        if set(parts) - STACKLESS:
            await stack.start()
            console.print(
                f"  stack up: Temporal {stack.settings.temporal_address} "
                f"(Web UI http://127.0.0.1:{stack.settings.temporal_ui_port}), "
                f"gateway {stack.settings.gateway_addr}, sandbox {stack.settings.sandbox_addr}"
            )
        ctx = Context(
            stack=stack, settings=settings, say=lambda text: console.print(f"    {text}"), previous=previous
        )
        for part in parts:
            console.print(f"[bold]{part}[/] …")
            began = time.monotonic()
            figures = await RUNNERS[part](ctx)
            elapsed = time.monotonic() - began
            save_part(settings.results, part, figures, elapsed, info)
            done.append(part)
            console.print(f"  {part} done in {elapsed:.0f} s")
    except BenchError as exc:
        console.print(f"make bench: {exc}", style="bold red", markup=False, highlight=False)
        code = 1
    except asyncio.CancelledError:
        console.print("make bench: interrupted", style="yellow")
        code = 130
    finally:
        with contextlib.suppress(asyncio.CancelledError):
            await stack.stop()
    if done:
        print_table(console, load_results(settings.results), done)
    console.print(f"results: {settings.results}")
    return code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--part",
        type=parse_parts,
        default=list(PARTS),
        help=f"all (default), or one or more of {', '.join(PARTS)}, comma-separated",
    )
    parser.add_argument("--results", type=Path, help="results file (default: bench/results.json)")
    parser.add_argument(
        "--data-dir", type=Path, help="the bench's data dir, emptied first (default: var/bench)"
    )
    args = parser.parse_args(argv)
    settings = BenchSettings()
    if args.results:
        settings.results = args.results
    if args.data_dir:
        settings.data_dir = args.data_dir
    console = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 140)
    return asyncio.run(run(settings, args.part, console))


if __name__ == "__main__":
    exit_now(main())
