"""The native time_* methods of asv's bench_sched under process_time (median of R runs, setup
excluded), as one JSON object: run it on two builds one after the other (e.g. with PYTHONPATH
pointing at the other build's src) to compare them side by side on a loaded machine, where
process time varies far less than asv's wall time.

    python benchmarks/scripts/sched_bench_process_time.py [R]
"""

from __future__ import annotations

import itertools
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from benchmarks import bench_sched as b  # noqa: E402
R = int(sys.argv[1]) if len(sys.argv) > 1 else 3
out: dict[str, float] = {}
for cls in [b.CpuBoundHost, b.BurstyHost, b.SchedulerChurn, b.ReservedHeavyHost]:
    params = cls.params if isinstance(cls.params[0], list) else [cls.params]
    for combo in itertools.product(*params):
        if "reference" in combo:
            continue
        for name in [m for m in dir(cls) if m.startswith("time_")]:
            ts = []
            for _ in range(R):
                obj = cls()
                try:
                    obj.setup(*combo)
                except NotImplementedError:
                    break
                start = time.process_time()
                getattr(obj, name)(*combo)
                ts.append(time.process_time() - start)
            if ts:
                out[f"{cls.__name__}.{name}{combo}"] = statistics.median(ts)
print(json.dumps(out))
