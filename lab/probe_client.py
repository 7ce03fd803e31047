"""The lab's HTTP prober, run inside the client box: one GET to HOST:80 PATH every INTERVAL s, each
on a new connection, until MAX_S have passed or the STOP file exists. Appends one line per finished
request to OUT: "<sent at, epoch s> <status, 0 for an error or a timeout> <latency s> <via>", where
via is the address of the lab node that proxied the request (the fake member's "via"), or "-".

    python3 probe_client.py HOST PATH OUT STOP MAX_S INTERVAL TIMEOUT
"""

import http.client
import json
import os
import sys
import threading
import time

MAX_IN_FLIGHT = 20


def main() -> None:
    host, path, out, stop = sys.argv[1:5]
    max_s, interval, timeout = map(float, sys.argv[5:8])
    lock, in_flight = threading.Lock(), threading.BoundedSemaphore(MAX_IN_FLIGHT)
    rows = open(out, "w", buffering=1)

    def probe(sent_at: float) -> None:
        try:
            connection = http.client.HTTPConnection(host, 80, timeout=timeout)
            connection.request("GET", path, headers={"Connection": "close"})
            answer = connection.getresponse()
            status, body = answer.status, answer.read()
            connection.close()
            via = json.loads(body).get("via", "-") if status == 200 else "-"
        except Exception:
            status, via = 0, "-"
        with lock:
            rows.write(f"{sent_at:.3f} {status} {time.time() - sent_at:.4f} {via}\n")
        in_flight.release()

    start, sent = time.time(), 0
    while time.time() - start < max_s and sent < max_s / interval + 1 and not os.path.exists(stop):
        delay = start + sent * interval - time.time()
        if delay > 0:
            time.sleep(delay)
        if in_flight.acquire(timeout=2):
            threading.Thread(target=probe, args=(time.time(),), daemon=True).start()
            sent += 1
    time.sleep(timeout + 0.2)  # let the last requests finish or time out


if __name__ == "__main__":
    main()
