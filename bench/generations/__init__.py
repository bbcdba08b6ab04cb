"""The generation page (`me { model generations(first: 20) { … images } }`) under load.

Seeds a fresh database (1,000 users x 50 generations x 3 images, plus one user with
100,000 generations), starts one real `sselfie serve` process and, on another loopback
port, a plain Starlette + asyncpg floor that reads the same rows and returns the same
JSON. Measures both under 64 concurrent keep-alive clients, alternating rounds, then
the p50 of sequential requests for the 100,000-generation user against a 50-generation
one. Only loopback addresses are used; every request loop is bounded in count and time.

    python -m bench.generations [--users 1000] [--generations 50] [--images 3]
        [--big-generations 100000] [--big-images 3] [--concurrency 64]
        [--duration 10] [--rounds 2] [--sequential 300] [--profile FILE]
"""

PAGE_SIZE = 20
QUERY = (
    "{ me { model { status replicateVersionId } generations(first: 20) { edges { node "
    "{ id status prompt parameters { seed } images { url selected } } } } } }"
)
