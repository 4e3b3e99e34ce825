"""Which exact search for similar items: faiss-cpu `IndexFlatIP` on normalised vectors, or
scikit-learn's brute-force `NearestNeighbors` (cosine), as the service uses them: one index
per class, built once, queried with one embedding for k = 5.

    pip install faiss-cpu==1.15.1     # only for this bench; the service does not need it
    python bench/catalog_search.py [--items 10000 100000] [--dim 32 128] [--queries 2000]

Vectors are random (Gaussian, normalised): an exact search's time depends on the sizes, not
on the values. Each class holds a tenth of the items, as Fashion-MNIST's ten classes would.
Both are checked to find the same neighbours. One thread each (the service's forward passes
want the other core).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import faiss  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.neighbors import NearestNeighbors  # noqa: E402

K = 5


def timed(search, queries: np.ndarray) -> tuple[list[float], list[np.ndarray]]:
    times, found = [], []
    for q in queries:
        t0 = time.perf_counter()
        found.append(search(q[np.newaxis]))
        times.append((time.perf_counter() - t0) * 1000)
    return times, found


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--dim", type=int, nargs="+", default=[32, 128])
    parser.add_argument("--queries", type=int, default=2000)
    args = parser.parse_args()
    faiss.omp_set_num_threads(1)
    rng = np.random.default_rng(0)
    rows = []
    for items in args.items:
        for dim in args.dim:
            per_class = items // 10
            vectors = rng.normal(size=(per_class, dim)).astype(np.float32)
            queries = rng.normal(size=(args.queries, dim)).astype(np.float32)

            t0 = time.perf_counter()
            sk = NearestNeighbors(metric="cosine", algorithm="brute").fit(vectors)
            sk_build = (time.perf_counter() - t0) * 1000
            sk_times, sk_found = timed(lambda q, sk=sk: sk.kneighbors(q, K)[1][0], queries)

            t0 = time.perf_counter()
            unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
            index = faiss.IndexFlatIP(dim)
            index.add(unit)
            fa_build = (time.perf_counter() - t0) * 1000

            def fa_search(q: np.ndarray, index: faiss.IndexFlatIP = index) -> np.ndarray:
                q = q / np.linalg.norm(q, axis=1, keepdims=True)
                return index.search(q, K)[1][0]

            fa_times, fa_found = timed(fa_search, queries)
            same = np.mean([set(a) == set(b) for a, b in zip(sk_found, fa_found, strict=True)])
            for name, build, times in (
                ("scikit-learn NearestNeighbors(brute, cosine)", sk_build, sk_times),
                ("faiss IndexFlatIP (normalised)", fa_build, fa_times),
            ):
                times.sort()
                row = {
                    "library": name,
                    "items": items,
                    "per_class": per_class,
                    "dim": dim,
                    "build_ms": round(build, 1),
                    "p50_ms": round(statistics.median(times), 3),
                    "p99_ms": round(times[int(0.99 * len(times))], 3),
                    "same_neighbours": float(same),
                }
                rows.append(row)
                print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
