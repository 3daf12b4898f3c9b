"""Start the app as a ZeroGPU Space starts it (`python app.py` with SPACES_ZERO_GPU=true), on a
machine whose torch has no CUDA, against `device_api.py` (patches: `cpu_torch.py`).

    SPACES_ZERO_GPU=true SPACES_ZERO_DEVICE_API_URL=http://127.0.0.1:PORT \\
    ZEROGPU_PROC_SELF_CGROUP_PATH=FILE GRADIO_SERVER_PORT=N python tests/space/run_as_space.py
"""

import os
import runpy
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cpu_torch import patch_cpu_torch  # noqa: E402

patch_cpu_torch()
root = os.getcwd()
sys.path.insert(0, root)
sys.argv = ["app.py"]
runpy.run_path(os.path.join(root, "app.py"), run_name="__main__")
