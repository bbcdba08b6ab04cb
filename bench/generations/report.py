"""What a run found, against its aims."""

import statistics

from bench.common import machine, percentile
from bench.generations.driver import Options, Phase
from bench.generations.seeding import Seeded

AIM_THROUGHPUT_RATIO = 0.5
AIM_P99_SECONDS = 0.050
AIM_SCALING_RATIO = 1.3


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def describe(phase: Phase) -> str:
    latencies = phase.latencies
    return (
        f"{phase.throughput:7.0f} req/s  ({len(latencies)} in {phase.elapsed:.1f} s)  "
        f"p50 {ms(percentile(latencies, 0.5))}  p99 {ms(percentile(latencies, 0.99))}  "
        f"mean {ms(statistics.fmean(latencies)) if latencies else '-'}  "
        f"server CPU {ms(phase.cpu_per_request)}/req "
        f"({phase.cpu_seconds / phase.elapsed:.0%} of a core)"
    )


def report(
    options: Options,
    seeded: Seeded,
    graphql: Phase,
    baseline: Phase,
    scaling: dict[str, list[float]],
) -> None:
    ratio = graphql.throughput / baseline.throughput
    p99 = percentile(graphql.latencies, 0.99)
    big, small = (scaling[seeded.big_user], scaling[seeded.users[0]])
    big_p50, small_p50 = percentile(big, 0.5), percentile(small, 0.5)
    scaling_ratio = big_p50 / small_p50

    def verdict(met: bool) -> str:
        return "met" if met else "MISSED"

    print()
    print(f"machine: {machine()}")
    print(f"graphql  {describe(graphql)}")
    print(f"baseline {describe(baseline)}")
    print(
        f"throughput graphql/baseline: {ratio:.2f} "
        f"(aim >= {AIM_THROUGHPUT_RATIO}: {verdict(ratio >= AIM_THROUGHPUT_RATIO)})"
    )
    print(
        f"graphql p99 at {options.concurrency} concurrent: {ms(p99)} "
        f"(aim <= {ms(AIM_P99_SECONDS)}: {verdict(p99 <= AIM_P99_SECONDS)})"
    )
    print(
        f"sequential graphql p50, {len(big)} requests each: "
        f"{options.sizes.big_generations} generations {ms(big_p50)}, "
        f"{options.sizes.generations} generations {ms(small_p50)}; "
        f"ratio {scaling_ratio:.2f} (aim <= {AIM_SCALING_RATIO}: "
        f"{verdict(scaling_ratio <= AIM_SCALING_RATIO)})"
    )
