#!/bin/bash
# ncu of the sm90 forward d128 (three consumers, no band) at S = 2k and 16k against cuDNN's.
set -u
source /opt/torch/.venv/bin/activate
export PATH=/usr/local/cuda/bin:$PATH
d=/tmp/ncu-build
cmake -S . -B $d -G Ninja -DCMAKE_BUILD_TYPE=Release -DFLASHATTN_CUDA_ARCHS=90a -DFLASHATTN_HEAD_DIMS=128 \
  -DFLASHATTN_BUILD_PYTHON=ON -DFLASHATTN_BUILD_TESTS=OFF -DFLASHATTN_BUILD_CLI=OFF -DPython_EXECUTABLE=$(command -v python) > $OUT/build.log 2>&1 &&
  cmake --build $d -j 16 >> $OUT/build.log 2>&1 || { tail -20 $OUT/build.log; exit 1; }
mkdir -p $d/pythonpath && cp -r python/flashattn $d/pythonpath/ && cp $d/python/_C*.so $d/pythonpath/flashattn/
export PYTHONPATH=$d/pythonpath
sections="--section SpeedOfLight --section ComputeWorkloadAnalysis --section WarpStateStats --section InstructionStats --section SchedulerStats --section Occupancy"
for s in 2048 16384; do
  for impl in flashattn sdpa-cudnn; do
    timeout 100 ncu --clock-control none -k regex:"forward_kernel|sdpa|fprop" --launch-skip 1 --launch-count 1 $sections \
      python scripts/profile_case.py $impl fwd 128 $s > $OUT/ncu-d128-s$s-$impl.txt 2>&1
  done
done
timeout 100 ncu --clock-control none -k regex:forward_kernel --launch-skip 1 --launch-count 1 --section SourceCounters --section WarpStateStats \
  -o /tmp/ours16k python scripts/profile_case.py flashattn fwd 128 16384 > /dev/null 2>&1
ncu -i /tmp/ours16k.ncu-rep --page source --csv --print-source sass > /tmp/source.csv 2>/dev/null
python scripts/ncu_hot_instructions.py /tmp/source.csv "sm90 fwd d128 16k, three consumers" 40 > $OUT/ncu-d128-s16k-hot.txt 2>&1
grep -h -E "Duration|Compute \(SM\) Throughput|Issue Slots Busy|Executed Ipc A|Warp Cycles Per Issued|No Eligible" $OUT/ncu-d128-*.txt | head -40
