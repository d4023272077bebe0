#!/usr/bin/env python3
"""Compares deploy/monitoring/metrics/services.txt with a fresh scrape of a running suite
(GRPCURL_SMOKE_METRICS_OUT of scripts/grpcurl-smoke.sh), or rewrites it from one.

    live_metrics.py --check SCRAPE    exit 1, naming each family, unless they agree
    live_metrics.py --update SCRAPE   rewrite services.txt from SCRAPE
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from metric_names import SERVICES_LIST, format_services_list, parse_scrape, read_services_list  # noqa: E402


def main(argv: list[str]) -> int:
    if len(argv) != 3 or argv[1] not in ("--check", "--update"):
        print(__doc__, file=sys.stderr)
        return 2
    scraped = parse_scrape(Path(argv[2]).read_text())
    if not scraped:
        print(f"live_metrics: no metric family in {argv[2]}", file=sys.stderr)
        return 1
    if argv[1] == "--update":
        SERVICES_LIST.write_text(format_services_list(scraped))
        print(f"live_metrics: wrote {len(scraped)} families to {SERVICES_LIST}")
        return 0
    listed = read_services_list()
    problems = []
    for name in sorted(set(listed) - set(scraped)):
        problems.append(f"listed but not exported by the running suite: {name} ({listed[name].kind})")
    for name in sorted(set(scraped) - set(listed)):
        problems.append(f"exported but not listed: {name} ({scraped[name].kind}, by {','.join(sorted(scraped[name].apps))})")
    for name in sorted(set(listed) & set(scraped)):
        if (listed[name].kind, listed[name].apps) != (scraped[name].kind, scraped[name].apps):
            problems.append(
                f"{name}: listed as {listed[name].kind} by {sorted(listed[name].apps)}, "
                f"exported as {scraped[name].kind} by {sorted(scraped[name].apps)}"
            )
    if problems:
        print("live_metrics: deploy/monitoring/metrics/services.txt does not match the running suite:", file=sys.stderr)
        for problem in problems:
            print(f"  - {problem}", file=sys.stderr)
        print(f"  (refresh: deploy/tests/live_metrics.py --update {argv[2]}; then check the dashboard and rules)", file=sys.stderr)
        return 1
    print(f"live_metrics: ok, {len(listed)} families as listed")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
