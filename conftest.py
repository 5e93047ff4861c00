"""pytest settings for the whole repository (unit tests and notebooks under nbval).

Set here, before nbval starts any notebook kernel, so the kernels inherit them.
"""
import os

# Tests run the course in tiny mode unless told otherwise: no downloads, the same numbers everywhere.
os.environ.setdefault("COURSE_MODE", "tiny")

# nbval reads a cell's messages only after the cell has finished. A progress bar that redraws
# ten times a second for minutes (tqdm's default) overflows the kernel's message queue (ZeroMQ
# drops messages past its high-water mark), the cell's final message is lost, and nbval fails
# the cell with "Timeout of 5 seconds exceeded waiting for output". One redraw every 2 s keeps
# a 10-minute cell well under the limit. tqdm reads TQDM_* variables as its defaults.
os.environ.setdefault("TQDM_MININTERVAL", "2")
