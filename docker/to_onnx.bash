#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Export the newest run of a config to ONNX in the training image: docker/to_onnx.bash CFG [args...]
#   docker/to_onnx.bash lcnet050_cosface_96
#   docker/to_onnx.bash lcnet050_cosface_96 --ckpt runs/my-run --out exports/my.onnx
# Runs `python export_onnx.py --cfg CFG ...` in the repo mounted at /code, as your user.
# Environment: see docker/common.bash (NPROC is not used here).
set -euo pipefail
if [ "$#" -lt 1 ]; then
    echo "usage: $0 CFG [export_onnx.py args...]   (CFG: a name in configs/ or a YAML path)" >&2
    exit 2
fi
# shellcheck source=common.bash
. "$(dirname "${BASH_SOURCE[0]}")/common.bash"
cfg=$1
shift
docker_run python export_onnx.py --cfg "$cfg" "$@"
