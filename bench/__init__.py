"""Benchmarks and reproductions of the paper's experiments (``make bench``).

Importing the package asks OpenMP to sleep rather than spin while it waits
(``OMP_WAIT_POLICY=PASSIVE``, unless set already). It must happen before torch is
imported, which ``python -m bench`` and ``python -m bench.<module>`` guarantee. On a
machine shared with other jobs, spinning torch threads slowed a MobileNetV2 step up to
15x here; the policy costs a few per cent on an idle machine.
"""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
