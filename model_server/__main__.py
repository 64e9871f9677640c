"""`python -m model_server`: serve the model named by MODEL_PATH on $PORT."""

from model_server.main import main

main()
