#!/usr/bin/env python3
"""Generates libs/core/tests/data/rrule-vectors.json: recurrence vectors from python-dateutil.

Each case is a rule, an IANA zone, a local start (DTSTART, a wall-clock time in that zone),
whether dateutil counts the start as an occurrence, and dateutil's first occurrences: the
wall-clock times it produced ("wall", which may not exist in the zone), the local times of the
instants they mean ("local") and those instants in UTC ("utc"). libs/core's test
`rrule_vectors` checks todo-core's engine against every case without Python; the differences it
allows are named there and in libs/core/README.md.

Run from the repository root after `just python-tools` (python-dateutil is pinned in
requirements-dev.txt):

    .venv/bin/python scripts/rrule-vectors.py > libs/core/tests/data/rrule-vectors.json

The output is deterministic: the same dateutil and tz database give the same file.
"""

import json
import sys
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import dateutil
from dateutil.rrule import rrulestr

# How many occurrences each case lists (fewer when COUNT or UNTIL ends the series first).
OCCURRENCES = 6

# Zones with daylight-saving time on both hemispheres, and two without.
# For each: a start a few days before each 2026 transition, the transition day itself, and an
# ordinary winter date. 02:30 falls in Berlin's and Sydney's gap and overlap; New York's gap holds
# 02:30 and its overlap 01:30.
STARTS = {
    "Europe/Berlin": [
        "2026-03-26T02:30", "2026-03-29T02:30", "2026-10-22T02:30", "2026-10-25T02:30",
        "2026-01-30T09:00",
    ],
    "America/New_York": [
        "2026-03-05T02:30", "2026-03-08T02:30", "2026-10-29T01:30", "2026-11-01T01:30",
        "2026-01-30T09:00",
    ],
    "Australia/Sydney": [
        "2026-04-02T02:30", "2026-04-05T02:30", "2026-10-01T02:30", "2026-10-04T02:30",
        "2026-01-30T09:00",
    ],
}
PLAIN_ZONES = {"UTC": ["2026-01-31T09:00", "2024-02-29T18:45"], "Asia/Kolkata": ["2026-01-31T09:00"]}

# Rules run from every start. UNTIL is added per start below (a UTC time, as RFC 5545 requires
# with a zoned DTSTART).
RULES = [
    "FREQ=DAILY",
    "FREQ=DAILY;INTERVAL=2",
    "FREQ=DAILY;COUNT=5",
    "FREQ=DAILY;BYDAY=SA,SU",
    "FREQ=WEEKLY",
    "FREQ=WEEKLY;BYDAY=MO,WE,FR",
    "FREQ=WEEKLY;BYDAY=SU",
    "FREQ=WEEKLY;INTERVAL=2;BYDAY=TU,SU;WKST=MO",
    "FREQ=WEEKLY;INTERVAL=2;BYDAY=TU,SU;WKST=SU",
    "FREQ=WEEKLY;INTERVAL=3;BYDAY=MO,TU,WE,TH,FR;COUNT=10",
    "FREQ=MONTHLY",
    "FREQ=MONTHLY;BYDAY=2TU",
    "FREQ=MONTHLY;BYDAY=-1FR",
    "FREQ=MONTHLY;BYDAY=-1SU",
    "FREQ=MONTHLY;BYDAY=1SU",
    "FREQ=MONTHLY;BYDAY=2SU,-1SU",
    "FREQ=MONTHLY;BYDAY=5MO",
    "FREQ=MONTHLY;BYMONTHDAY=31",
    "FREQ=MONTHLY;BYMONTHDAY=-1",
    "FREQ=MONTHLY;BYMONTHDAY=-2",
    "FREQ=MONTHLY;BYMONTHDAY=1,15,-1",
    "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1",
    "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=1,-1",
    "FREQ=MONTHLY;BYDAY=SA,SU;BYSETPOS=2",
    "FREQ=MONTHLY;INTERVAL=3;BYDAY=-1FR;COUNT=4",
    "FREQ=MONTHLY;BYDAY=FR;BYMONTHDAY=13",
    "FREQ=YEARLY",
    "FREQ=YEARLY;BYMONTH=3,10;BYDAY=-1SU",
    "FREQ=YEARLY;BYMONTH=3;BYDAY=2SU",
    "FREQ=YEARLY;BYMONTH=4,10;BYDAY=1SU",
    "FREQ=YEARLY;BYMONTH=11;BYDAY=TH;BYSETPOS=4",
    "FREQ=YEARLY;BYDAY=20MO",
    "FREQ=YEARLY;BYYEARDAY=1,100,-1",
    "FREQ=YEARLY;BYWEEKNO=1;BYDAY=MO",
    "FREQ=YEARLY;BYWEEKNO=-1;BYDAY=FR;WKST=SU",
    "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29;COUNT=3",
    "FREQ=YEARLY;BYMONTH=1,7;BYMONTHDAY=31,-1",
]

# Rules that end at UNTIL, given as days after the start (the UNTIL instant is the start's
# UTC instant plus these days, so each series ends inside the listed occurrences).
UNTIL_RULES = [
    ("FREQ=DAILY", 4),
    ("FREQ=WEEKLY;BYDAY=TU,SU", 20),
    ("FREQ=MONTHLY;BYDAY=-1SU", 200),
]


def local_text(moment):
    return moment.strftime("%Y-%m-%dT%H:%M:%S")


def utc_text(moment):
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def case(rule, zone_name, start_text):
    zone = ZoneInfo(zone_name)
    # fold=0: in an overlap, the earlier instant (RFC 5545 §3.3.5); in a gap, the offset before.
    start = datetime.fromisoformat(start_text).replace(tzinfo=zone)
    occurrences = []
    for occurrence in rrulestr(rule, dtstart=start):
        occurrences.append(occurrence)
        if len(occurrences) == OCCURRENCES:
            break
    # dateutil keeps the wall-clock time even where it does not exist; the instant is what it
    # means (the offset before a gap), and its local time is that instant read in the zone.
    instants = [occurrence.astimezone(timezone.utc) for occurrence in occurrences]
    return {
        "name": f"{rule} @ {zone_name} {start_text}",
        "rule": rule,
        "zone": zone_name,
        "start": start_text + ":00",
        "start_is_occurrence": bool(occurrences) and occurrences[0] == start,
        "wall": [local_text(occurrence) for occurrence in occurrences],
        "local": [local_text(instant.astimezone(zone)) for instant in instants],
        "utc": [utc_text(instant) for instant in instants],
    }


def main():
    cases = []
    starts = {**STARTS, **PLAIN_ZONES}
    for zone_name, zone_starts in starts.items():
        for start_text in zone_starts:
            for rule in RULES:
                cases.append(case(rule, zone_name, start_text))
            start = datetime.fromisoformat(start_text).replace(tzinfo=ZoneInfo(zone_name))
            for rule, days in UNTIL_RULES:
                until = (start.astimezone(timezone.utc) + timedelta(days=days)).strftime(
                    "%Y%m%dT%H%M%SZ"
                )
                cases.append(case(f"{rule};UNTIL={until}", zone_name, start_text))
    out = sys.stdout
    out.write("{\n")
    out.write(f'  "generator": "scripts/rrule-vectors.py",\n')
    out.write(f'  "dateutil": {json.dumps(dateutil.__version__)},\n')
    out.write('  "cases": [\n')
    out.write(",\n".join("    " + json.dumps(item, separators=(",", ":")) for item in cases))
    out.write("\n  ]\n}\n")


if __name__ == "__main__":
    main()
