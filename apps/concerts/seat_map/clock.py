"""The seat map's clock: epoch seconds (the tests move it to the moment a hold ends)."""

import time

now = time.time
