"""Keep-alive clients, run inside the lab's client box: N connections to HOST:80, each sending GET
PATH every INTERVAL s on the same connection (HTTP/1.1 keep-alive) until MAX_S have passed or the
STOP file exists; a connection the server closed is opened again. Writes JSON counts to OUT:
  ok          answered 200
  failed      a request sent that got no answer (the connection broke under it) or a non-200
  closed_idle the server closed the connection between requests (seen before the next request)
  closed_busy the server closed it while a request was on it (that request is in `failed`)

    python3 keepalive_client.py HOST PATH N INTERVAL STOP OUT MAX_S
"""

import http.client
import json
import os
import select
import sys
import threading
import time


def main() -> None:
    host, path, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    interval, stop, out, max_s = float(sys.argv[4]), sys.argv[5], sys.argv[6], float(sys.argv[7])
    counts = {"ok": 0, "failed": 0, "closed_idle": 0, "closed_busy": 0, "connections": 0}
    lock, end = threading.Lock(), time.time() + max_s

    def count(key: str) -> None:
        with lock:
            counts[key] += 1

    def client() -> None:
        connection = None
        while time.time() < end and not os.path.exists(stop):
            if connection is not None and connection.sock is not None:
                # What a pooling client checks before reusing a connection: has the server closed it?
                if select.select([connection.sock], [], [], 0)[0]:
                    count("closed_idle")
                    connection.close()
                    connection = None
            if connection is None:
                connection = http.client.HTTPConnection(host, 80, timeout=5)
                count("connections")
            try:
                connection.request("GET", path)
                answer = connection.getresponse()
                answer.read()
                count("ok" if answer.status == 200 else "failed")
                if answer.will_close:
                    count("closed_idle")  # the server said so in the answer: nothing was lost
                    connection.close()
                    connection = None
            except (http.client.HTTPException, OSError):
                count("failed")
                count("closed_busy")
                if connection is not None:
                    connection.close()
                connection = None
            time.sleep(interval)

    threads = [threading.Thread(target=client, daemon=True) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(max_s + 10)
    with open(out, "w") as f:
        json.dump(counts, f)


if __name__ == "__main__":
    main()
