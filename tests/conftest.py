import sys
from pathlib import Path

import sparsemcu.tf  # noqa: E402,F401  (TensorFlow environment, before any test imports TensorFlow)

sys.path.insert(0, str(Path(__file__).parent))
