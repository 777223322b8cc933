"""``python -m course_utils.grading``: see :mod:`course_utils.grading.cli`."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
