"""The checks learners run after each "your turn" exercise: ``check_xxx(your_function)`` prints one
line when the function is right, and raises AssertionError with a hint naming the mistake when not.

One module per lesson (the shared machinery is in _core.py); everything is importable from here,
e.g. ``from utils.checks import check_clip_loss``.
"""
from .lesson01 import *  # noqa: F401,F403
from .lesson02 import *  # noqa: F401,F403
from .lesson03 import *  # noqa: F401,F403
from .lesson04 import *  # noqa: F401,F403
from .lesson05 import *  # noqa: F401,F403
from .lesson06 import *  # noqa: F401,F403
from .lesson07 import *  # noqa: F401,F403
from .lesson08 import *  # noqa: F401,F403
