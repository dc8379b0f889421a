import sys
from pathlib import Path

# Shared reference implementations (tests/riffusion_reference.py) import as plain modules.
sys.path.insert(0, str(Path(__file__).parent))
