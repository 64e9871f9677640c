"""mlstack's reference model server: one model, served over HTTP (see BRIEF's server contract).

Kept import-light: the HEALTHCHECK runs `python -m model_server.healthcheck`, which must start fast.
"""
