#!/usr/bin/env bash
# The GPU check, in one call of a lent machine (about 8 minutes on one H200):
#   1. `processes` against the machine's GPUs: `auto` is one per GPU, more than the GPUs is refused with a
#      ConfigError before anything is spawned, and with two GPUs or more, data-parallel training over NCCL;
#   2. the digits experiment end to end (`kedro run --experiment digits --env test`), then its candidates;
#   3. benchmarks/gpu_throughput.py, in the time left of CHECK_LIMIT seconds: every family fp32 against bf16
#      and compiled against eager, and on the ResNet ForgeML's loop against a bare loop and Lightning's Trainer.
# Reports and logs go to $OUT when set (the device tool's folder), else benchmarks/reports/.
#
# On the lent machine, from the project root, after `../shared/tools/gpu_bundle.sh` here:
#   source .gpu/env.sh && bash benchmarks/gpu_check.sh          (carry [".gpu"])
# On a GPU machine with the project installed: make gpu-check
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-benchmarks/reports}
mkdir -p "$out"
python=${PYTHON:-python3}
status=0
checked=$(date +%s)
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$out/gpu.txt"

echo "== 1. processes against the GPUs"
timeout 120 "$python" - <<'PY' 2>&1 | tee "$out/processes.log" || status=1
import torch
from torch import nn

from forgeml.errors import ConfigError
from forgeml.training import TensorBatches, TrainConfig, fit
from forgeml.training.distributed import resolve_processes

gpus = torch.cuda.device_count()
cuda = torch.device("cuda")
print(f"GPUs: {gpus}; processes: auto -> {resolve_processes('auto', cuda)}")
try:
    fit(nn.Linear(4, 2), [], [], TrainConfig(device="cuda", processes=gpus + 1, progress=False))
    raise SystemExit(f"processes: {gpus + 1} on {gpus} GPU(s) was not refused")
except ConfigError as error:
    print(f"processes: {gpus + 1} refused before spawning: {error}")
if gpus >= 2:
    x = torch.randn(512, 4)
    y = (x[:, 0] > 0).long()
    result = fit(nn.Linear(4, 2), TensorBatches(x, y, 64, shuffle=True), TensorBatches(x, y, 512),
                 TrainConfig(epochs=3, device="cuda", processes=gpus, progress=False))
    print(f"processes: {gpus} over NCCL trained: val accuracy {result.history['val_accuracy'][-1]:.3f}")
PY

echo "== 2. the digits experiment end to end"
began=$(date +%s)
timeout "${DIGITS_LIMIT:-280}" "$python" -m kedro run --experiment digits --env test >"$out/digits.log" 2>&1
rc=$?
[ $rc = 0 ] || status=1
echo "digits: exit $rc after $(( $(date +%s) - began )) s" | tee -a "$out/digits.log"
"$python" -c "from forgeml.console import main; main()" report --experiment digits 2>&1 | tee -a "$out/digits.log"
echo "matplotlib figure or cloudpickle warnings: $(grep -ciE "More than 20 figures|cloudpickle" "$out/digits.log")"
tail -3 "$out/digits.log"

echo "== 3. training throughput (what is left of ${CHECK_LIMIT:-560} s; the report keeps every finished figure)"
left=$(( ${CHECK_LIMIT:-560} - ( $(date +%s) - checked ) ))
timeout "$(( left > 60 ? left : 60 ))" "$python" benchmarks/gpu_throughput.py --out "$out" 2>&1 | grep -v "^💡" \
  | tee "$out/gpu_throughput.log" || status=1
exit $status
