"""Suite-wide settings.

One torch thread: the test models are tiny, and on a 2-core machine intra-op threads cost more in
synchronisation than they give (up to 20x slower under load). Benchmarks set their own threads.
"""

import torch

torch.set_num_threads(1)
