"""``python -m crossdeploy_emulator`` (with ``PYTHONPATH=tests/emulator``)."""

import os
import sys

# IAM enforcement from the very first request. moto reads this variable when
# ``moto.settings`` is first imported, so it must be set before anything imports moto.
os.environ["INITIAL_NO_AUTH_ACTION_COUNT"] = "0"

from .server import main  # noqa: E402  (import after the environment is set)

sys.exit(main())
