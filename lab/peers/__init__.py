"""Other libraries' recommenders on the lab's protocol (`make peers`, in .venv-peers)."""
