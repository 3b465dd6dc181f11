"""Summarises an ncu source page: where a kernel's warps spend their samples, per SASS
instruction. Make the CSV on the GPU machine from a saved report:
  ncu -k regex:backward_kernel --launch-skip 1 --launch-count 1 --section SourceCounters \\
      --section WarpStateStats -o report python scripts/profile_case.py flashattn bwd 128 4096
  ncu -i report.ncu-rep --page source --csv --print-source sass > source.csv
then: python scripts/ncu_hot_instructions.py source.csv "title line" [count]"""

import csv
import sys

SAMPLES = "Warp Stall Sampling (All Samples)"


def number(text: str) -> float:
    try:
        return float(text.replace(",", ""))
    except ValueError:
        return 0.0


def main() -> None:
    path, title = sys.argv[1], sys.argv[2]
    count = int(sys.argv[3]) if len(sys.argv) > 3 else 30
    with open(path, newline="") as source:
        rows = list(csv.reader(source))
    header, instructions = rows[1], rows[2:]  # row 0 names the kernel
    column = {name: index for index, name in enumerate(header)}
    reasons = [name for name in header if name.startswith("stall_") and "Not Issued" not in name]
    total = sum(number(row[column[SAMPLES]]) for row in instructions)
    by_reason = {name: sum(number(row[column[name]]) for row in instructions) for name in reasons}
    print(title)
    print(f"{int(total)} warp-state samples over {len(instructions)} SASS instructions; share by reason:")
    ranked = sorted(by_reason.items(), key=lambda item: -item[1])[:10]
    print("  " + ", ".join(f"{name[6:]} {value / total:.1%}" for name, value in ranked))
    print(f"The {count} instructions with the most samples (samples, top reasons):")
    for row in sorted(instructions, key=lambda row: -number(row[column[SAMPLES]]))[:count]:
        top = sorted(((number(row[column[name]]), name[6:]) for name in reasons), reverse=True)[:3]
        stalls = " ".join(f"{name}:{int(value)}" for value, name in top if value > 0)
        print(f"{int(number(row[column[SAMPLES]])):7d}  {row[1].strip()[:64]:64}  {stalls}")


if __name__ == "__main__":
    main()
