"""Agents' RWS long-polls, run inside the lab's client box: N agents each hold one GET of
PATH?hold=HOLD on HOST:80 and poll again when it is answered, until MAX_S have passed or the STOP
file exists. Writes "<answered> <cut>" to OUT (cut: an error or a non-200).

    python3 poll_holder.py HOST PATH N STOP OUT MAX_S HOLD
"""

import http.client
import os
import sys
import threading
import time


def main() -> None:
    host, path, agents, stop, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
    max_s, hold = float(sys.argv[6]), float(sys.argv[7])
    counts, lock, end = {"answered": 0, "cut": 0}, threading.Lock(), time.time() + max_s

    def agent(i: int) -> None:
        while time.time() < end and not os.path.exists(stop):
            try:
                connection = http.client.HTTPConnection(host, 80, timeout=hold + 10)
                connection.request("GET", f"{path}?hold={hold}&agent={i}")
                ok = connection.getresponse().status == 200
                connection.close()
            except Exception:
                ok = False
            with lock:
                counts["answered" if ok else "cut"] += 1

    threads = [threading.Thread(target=agent, args=(i,)) for i in range(agents)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with open(out, "w") as f:
        f.write(f"{counts['answered']} {counts['cut']}\n")


if __name__ == "__main__":
    main()
