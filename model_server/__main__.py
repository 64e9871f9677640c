"""`python -m model_server`: serve the model named by MODEL_PATH on $PORT."""

from .main import main

main()
