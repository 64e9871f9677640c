"""Driving a model server with load: run its image locally under a size's limits
(container.py) and offer it a fixed request rate (openloop.py). Used by `mlstack plan --measure`,
benchmarks/serve.py and the engine test that checks a plan against the real engine."""
