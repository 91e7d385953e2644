"""Run by torchrun in tests: trains through train.run(), then saves this rank's final weights."""

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from train import run  # noqa: E402

if __name__ == "__main__":
    out_dir, argv = Path(sys.argv[1]), sys.argv[2:]
    result = run(argv)
    torch.save(result.model.state_dict(), out_dir / f"rank{os.environ['RANK']}.pt")
