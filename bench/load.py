"""A bounded load run against a served cper (loopback only): N clients, each with its own
keep-alive connection, request the given paths in turn for a fixed time; the run reports the
requests per second, the median and p95 latency and every answer that was not a 200.

    python -m bench.load --base http://127.0.0.1:8765 --clients 20 --seconds 20 \
        /contrats/hauts-de-france-2021-2027/tableau-de-bord/ /api/v1/contracts

It never leaves the machine: the base must be a loopback address.
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import threading
import time
import urllib.parse
from collections import Counter
from dataclasses import dataclass, field


@dataclass
class LoadResult:
    clients: int
    seconds: float
    latencies_ms: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)

    @property
    def requests(self) -> int:
        return len(self.latencies_ms)

    @property
    def errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status != 200) + len(self.failures)

    def summary(self) -> dict[str, float | int]:
        ordered = sorted(self.latencies_ms) or [0.0]
        return {
            "clients": self.clients,
            "requests": self.requests,
            "per_second": round(self.requests / self.seconds, 1),
            "median_ms": round(statistics.median(ordered), 1),
            "p95_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))], 1),
            "errors": self.errors,
        }


def run(
    base: str,
    paths: list[str],
    *,
    clients: int = 20,
    seconds: float = 20.0,
    headers: dict[str, str] | None = None,
) -> LoadResult:
    """`headers` are sent with every request (e.g. an API token: `Authorization`)."""
    parsed = urllib.parse.urlsplit(base)
    if parsed.hostname not in {"127.0.0.1", "localhost", "::1"}:
        raise ValueError("la charge ne se lance que sur la boucle locale")
    result = LoadResult(clients=clients, seconds=seconds)
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def client(index: int) -> None:
        conn = http.client.HTTPConnection(parsed.hostname, parsed.port or 80, timeout=60)
        i = index
        while time.monotonic() < deadline:
            path = paths[i % len(paths)]
            i += 1
            started = time.perf_counter()
            try:
                conn.request("GET", path, headers={"Accept-Encoding": "gzip", **(headers or {})})
                response = conn.getresponse()
                response.read()
                status = response.status
            except (OSError, http.client.HTTPException) as exc:
                with lock:
                    result.failures.append(f"{path}: {exc}")
                conn.close()
                conn = http.client.HTTPConnection(parsed.hostname, parsed.port or 80, timeout=60)
                continue
            elapsed = (time.perf_counter() - started) * 1000
            with lock:
                result.latencies_ms.append(elapsed)
                result.statuses[status] += 1
        conn.close()

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--base", required=True)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("paths", nargs="+")
    args = parser.parse_args()
    result = run(args.base, args.paths, clients=args.clients, seconds=args.seconds)
    print(json.dumps({**result.summary(), "statuses": dict(result.statuses)}, indent=2))
    for failure in result.failures[:10]:
        print("échec :", failure)


if __name__ == "__main__":
    main()
