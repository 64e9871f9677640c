"""Models for the server's process tests, pickled with joblib like a scikit-learn model.

`TrickModel.predict` reads its instructions from the first feature of the first row: a positive
value is seconds to sleep (a slow request that stays in flight), -1 raises RuntimeError (a bug
in the model: the server must answer 500). Every call takes at least 3 ms, so the server runs
it in a thread, never on its event loop. `ExitOnLoad` kills the process that unpickles it with
exit code 7: a worker that dies while starting.
"""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np


class TrickModel:
    n_features_in_ = 4

    def predict(self, rows: Any) -> Any:
        first = float(rows[0][0])
        if first == -1:
            raise RuntimeError("trick model: asked to fail")
        time.sleep(0.003 + (first if 0 < first < 60 else 0))
        return np.zeros(len(rows), dtype=np.int64)


class ExitOnLoad:
    def __reduce__(self) -> tuple[Any, tuple[int]]:
        return (os._exit, (7,))
