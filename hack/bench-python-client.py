#!/usr/bin/env python3
"""Anchor (c) of hack/bench.sh: a OneRoster client as people write it in Python.

Signs in with OAuth 2.0 client credentials, then reads each collection sequentially with
`requests` at limit=100 without a filter, parses every page with `.json()` and keeps every
record in a list, as a client that hands the roster to its caller does. `requests` asks
for gzip on its own (`Accept-Encoding: gzip, deflate`).

    bench-python-client.py BASE_URL CLIENT_ID CLIENT_SECRET [EVERY]

With EVERY > 1 only every EVERY-th page of each collection is read (for a slow server;
the caller scales the time). Prints one JSON line: pages read, pages there are, records.
"""

import json
import sys

import requests

COLLECTIONS = ["schools", "academicSessions", "courses", "classes", "users", "enrollments"]
ENVELOPES = {"schools": "orgs", "terms": "academicSessions"}
LIMIT = 100


def main() -> int:
    base, client_id, client_secret = sys.argv[1:4]
    every = int(sys.argv[4]) if len(sys.argv) > 4 else 1
    session = requests.Session()
    token = session.post(
        f"{base}/oauth2/token",
        data={"grant_type": "client_credentials"},
        auth=(client_id, client_secret),
        timeout=60,
    )
    token.raise_for_status()
    session.headers["Authorization"] = f"Bearer {token.json()['access_token']}"

    records = []
    pages_read = 0
    pages_there = 0
    for collection in COLLECTIONS:
        key = ENVELOPES.get(collection, collection)
        url = f"{base}/ims/oneroster/v1p1/{collection}"
        page = 0
        total = None
        while total is None or page * LIMIT < total:
            answer = session.get(url, params={"limit": LIMIT, "offset": page * LIMIT}, timeout=60)
            answer.raise_for_status()
            total = int(answer.headers["X-Total-Count"])
            records.extend(answer.json()[key])
            pages_read += 1
            page += every
        pages_there += max(1, -(-total // LIMIT))
    print(json.dumps({"pagesRead": pages_read, "pages": pages_there, "records": len(records)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
