#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Train in the training image: docker/train.bash CFG [train.py overrides...]
#   docker/train.bash lcnet050_cosface_96
#   NPROC=2 CPUSET=0-15 docker/train.bash lcnet050_cosface_96 --train.batch_size 128
# Runs `torchrun --nproc_per_node=$NPROC train.py --cfg CFG ...` in the repo mounted at /code, as
# your user; runs/ and exports/ appear in the repo. Environment: see docker/common.bash.
set -euo pipefail
if [ "$#" -lt 1 ]; then
    echo "usage: $0 CFG [train.py overrides...]   (CFG: a name in configs/ or a YAML path)" >&2
    exit 2
fi
# shellcheck source=common.bash
. "$(dirname "${BASH_SOURCE[0]}")/common.bash"
cfg=$1
shift
docker_run torchrun --standalone --nproc_per_node="$NPROC" train.py --cfg "$cfg" "$@"
