"""Other libraries' recommenders as models of the lab (`make peers`, in .venv-peers)."""
