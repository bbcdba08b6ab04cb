"""Runs the benchmark: `python -m bench.generations --help`."""

import argparse
import asyncio
import json
import os
import secrets
import tempfile
from collections.abc import Sequence
from pathlib import Path

import aiohttp
import uvloop

from bench import generations
from bench.common import fresh_database, machine, worker_counts
from bench.generations import PAGE_SIZE
from bench.generations.baseline import baseline_server, wait_until_ready
from bench.generations.driver import (
    REQUEST_TIMEOUT,
    Options,
    Phase,
    Target,
    check_page,
    drive,
    post,
    profile,
    sequential_p50s,
)
from bench.generations.report import describe, report
from bench.generations.seeding import Seeded, Sizes, seed
from bench.servers import TOKEN_SECRET, free_port, sselfie_env, sselfie_server, token_for


async def run(options: Options) -> None:
    print(f"machine: {machine()}")
    print(
        "note: PostgreSQL, the sselfie server, the baseline server and this load generator "
        f"share the machine's {os.cpu_count()} cores"
    )
    async with fresh_database() as database_url:
        seeded = await seed(database_url, options.sizes)
        sizes = options.sizes
        print(
            f"seeded: {len(seeded.users)} users x {sizes.generations} generations x "
            f"{sizes.images} images, plus 1 user with {sizes.big_generations} generations x "
            f"{sizes.big_images} images ({seeded.generations} generations, {seeded.images} "
            f"images in {seeded.seconds:.1f} s, then ANALYZE)"
        )
        for workers in options.workers:
            print(f"== sselfie serve --workers {workers} (same database)")
            await run_with(options, seeded, database_url, workers)


async def run_with(options: Options, seeded: Seeded, database_url: str, workers: int) -> None:
    data_dir = tempfile.TemporaryDirectory(prefix="sselfie-bench-data-")
    port = free_port()
    origin = f"http://127.0.0.1:{port}"
    env = sselfie_env(
        Path(data_dir.name),
        DATABASE_URL=database_url,
        AUTH_JWT_SECRET=TOKEN_SECRET,
        REPLICATE_API_TOKEN="unused-by-this-benchmark",  # noqa: S106
        REPLICATE_API_BASE_URL="http://127.0.0.1:9/v1",
        REPLICATE_WEBHOOK_SECRET="whsec_" + secrets.token_urlsafe(24),
        PUBLIC_BASE_URL=origin,
    )
    with data_dir, sselfie_server(env, port=port, workers=workers) as server:
        # The server made the image URL secret at start; the floor reads the same one.
        baseline_port = free_port()
        with baseline_server(database_url, baseline_port, origin) as baseline:
            await wait_until_ready(f"http://127.0.0.1:{baseline_port}/ready", baseline)
            await measure(
                options,
                seeded,
                origin,
                f"http://127.0.0.1:{baseline_port}",
                server.pid,
                baseline.pid,
            )


async def measure(
    options: Options,
    seeded: Seeded,
    origin: str,
    baseline_origin: str,
    server_pid: int,
    baseline_pid: int,
) -> None:
    users = seeded.users
    everyone = [*users, seeded.big_user]
    graphql = Target(
        "graphql",
        f"{origin}/graphql",
        {
            user: {"Authorization": f"Bearer {token_for(user)}", "Content-Type": "application/json"}
            for user in everyone
        },
        server_pid,
    )
    baseline = Target(
        "baseline",
        f"{baseline_origin}/page",
        {user: {"X-User-Id": user, "Content-Type": "application/json"} for user in everyone},
        baseline_pid,
    )
    concurrency = options.concurrency
    connector = aiohttp.TCPConnector(limit=concurrency * 2)
    async with aiohttp.ClientSession(connector=connector, timeout=REQUEST_TIMEOUT) as client:
        for target in (graphql, baseline):
            warm = await drive(
                client, target, everyone, concurrency=concurrency, seconds=None, count=len(everyone)
            )
            if warm.failures:
                raise SystemExit(f"{target.name} warm-up failed: {warm.failures[:3]}")
            print(
                f"warm-up {target.name:8}: each of the {len(everyone)} users once "
                f"({warm.elapsed:.1f} s)"
                + (
                    "; the server's in-process sign-in cache is now warm"
                    if target is graphql
                    else ""
                )
            )
        await check_same_json(client, graphql, baseline, [*users[:10], seeded.big_user])

        totals = {graphql.name: Phase(), baseline.name: Phase()}
        print(
            f"load: {concurrency} concurrent keep-alive clients, users round-robin, "
            f"{options.rounds} alternating rounds of {options.duration:.0f} s per target"
        )
        for number in range(1, options.rounds + 1):
            for target in (graphql, baseline):
                phase = await drive(
                    client,
                    target,
                    users,
                    concurrency=concurrency,
                    seconds=options.duration,
                    count=None,
                )
                print(f"  round {number} {target.name:8} {describe(phase)}")
                totals[target.name].add(phase)

        failures = 0
        for name, phase in totals.items():
            wrong = [
                (user, problem)
                for user, body in phase.samples
                if (problem := check_page(body, options.sizes.images)) is not None
            ]
            failures += len(phase.failures) + len(wrong)
            print(
                f"checked {name}: {len(phase.failures)} failed requests; "
                f"{len(phase.samples) - len(wrong)}/{len(phase.samples)} sampled pages correct "
                f"(20 edges, {options.sizes.images} images each, signed URLs)"
                + (f" — {phase.failures[:2]} {wrong[:2]}" if phase.failures or wrong else "")
            )

        scaling = await sequential_p50s(
            client, graphql, [seeded.big_user, users[0]], options.sequential
        )
        big_body = (await post(client, graphql, seeded.big_user))[1]
        if (problem := check_page(big_body, options.sizes.big_images)) is not None:
            failures += 1
            print(f"the big user's page is wrong: {problem}")

        if options.profile:
            seconds = max(3.0, min(10.0, options.duration))
            spy = await profile(server_pid, options.profile, seconds)
            await drive(
                client, graphql, users, concurrency=concurrency, seconds=seconds + 1, count=None
            )
            await asyncio.wait_for(spy.wait(), 60)
            print(f"profile (extra, unmeasured load): {options.profile}")

    report(options, seeded, totals[graphql.name], totals[baseline.name], scaling)
    if failures:
        raise SystemExit(f"{failures} failures")


async def check_same_json(
    client: aiohttp.ClientSession, graphql: Target, baseline: Target, users: Sequence[str]
) -> None:
    """The floor must answer exactly what the server answers (else it is no floor)."""
    for user in users:
        for _ in range(2):  # a second try, should an URL signing window end in between
            mine = json.loads((await post(client, graphql, user))[1])
            theirs = json.loads((await post(client, baseline, user))[1])
            if mine == theirs:
                break
        else:
            raise SystemExit(f"graphql and baseline differ for {user}:\n{mine}\n{theirs}")
    print(f"same JSON from graphql and baseline for {len(users)} users (big user included)")


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.generations", description=generations.__doc__
    )
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--generations", type=int, default=50, help="per user")
    parser.add_argument("--images", type=int, default=3, help="per generation")
    parser.add_argument("--big-generations", type=int, default=100_000)
    parser.add_argument("--big-images", type=int, default=3, help="per big-user generation")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per round")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--sequential", type=int, default=300, help="requests per user")
    parser.add_argument("--profile", metavar="FILE", help="py-spy raw profile of extra load")
    parser.add_argument(
        "--workers",
        type=worker_counts,
        default=[1, 2],
        help="server processes, one measurement each on the same data, e.g. 1,2",
    )
    args = parser.parse_args()
    if args.generations < PAGE_SIZE or args.big_generations < PAGE_SIZE or args.users < 1:
        parser.error(f"every user needs at least {PAGE_SIZE} generations")
    options = Options(
        Sizes(args.users, args.generations, args.images, args.big_generations, args.big_images),
        args.concurrency,
        args.duration,
        args.rounds,
        args.sequential,
        args.profile,
        args.workers,
    )
    uvloop.run(run(options))


if __name__ == "__main__":
    main()
