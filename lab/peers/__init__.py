"""Other libraries' recommenders on the lab's protocol (`make peers`, in .venv-peers).

:mod:`lab.models` is imported first: where the peers' libraries are installed it imports
:mod:`lab.peers.models` itself to register :data:`lab.peers.models.PEERS`, which must not
happen while this module is half-imported (``import lab.peers.models`` first would
otherwise meet a partially initialized module).
"""

import lab.models  # noqa: F401  (see above)
