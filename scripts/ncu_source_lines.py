"""Attributes an ncu source page's executed instructions and stall samples to CUDA source lines,
through the line table of a -lineinfo build of the same code (ncu's own run may lack it: a build
with the same compiler and flags plus -lineinfo gives the same SASS, which this checks opcode by
opcode). Make the inputs:
  ncu ... -o report python scripts/profile_case.py flashattn-sm80 fwd 256 1024   (GPU machine)
  ncu -i report.ncu-rep --page source --csv --print-source sass > source.csv
  nvcc -cubin -lineinfo <the kernel's flags> -o kernel.cubin build/.../sm80_forward_hdim256.cu
  nvdisasm --print-line-info kernel.cubin > kernel.sass
then: python scripts/ncu_source_lines.py source.csv kernel.sass FUNCTION_SUBSTRING [DIVISOR]
FUNCTION_SUBSTRING picks the kernel in kernel.sass (e.g. 'ForwardConfigILi256EEE13__nv_bfloat16');
counts are divided by DIVISOR (e.g. warps x key blocks, for per-warp-step figures)."""

import collections
import csv
import re
import sys

INTEGER_OPCODES = {"IMAD", "IADD3", "LOP3", "LEA", "ISETP", "SHF", "VIADD", "SEL", "MOV", "IABS"}


def number(text: str) -> float:
    try:
        return float(text.replace(",", ""))
    except ValueError:
        return 0.0


def opcode(instruction: str) -> str:
    """The opcode without its predicate guard or modifiers: '@!P0 IMAD.WIDE R2, ...' -> IMAD."""
    return re.sub(r"^@!?U?P\w+\s+", "", instruction.strip()).split(" ")[0].split(".")[0]


def line_table(path: str, function: str) -> dict[int, tuple[str, str]]:
    """Offset in the function -> (file:line, instruction) from nvdisasm --print-line-info."""
    table, location, inside = {}, None, False
    for text in open(path):
        if text.startswith(".text.") and text.rstrip().endswith(":"):
            inside = function in text
            continue
        if not inside:
            continue
        found = re.search(r'//## File "([^"]+)", line (\d+)', text)
        if found:
            location = f"{found.group(1).split('/')[-1]}:{found.group(2)}"
            continue
        found = re.search(r"/\*([0-9a-f]{4,})\*/\s+(.*?);", text)
        if found:
            table[int(found.group(1), 16)] = (location, found.group(2))
    return table


def main() -> None:
    source_csv, sass_path, function = sys.argv[1:4]
    divisor = float(sys.argv[4]) if len(sys.argv) > 4 else 1.0
    rows = list(csv.reader(open(source_csv, newline="")))
    header, instructions = rows[1], rows[2:]  # row 0 names the kernel
    column = {name: index for index, name in enumerate(header)}
    table = line_table(sass_path, function)
    first = int(instructions[0][column["Address"]], 16)
    executed = collections.Counter()
    integer = collections.Counter()
    samples = collections.Counter()
    mismatches = 0
    for row in instructions:
        entry = table.get(int(row[column["Address"]], 16) - first)
        if entry is None or opcode(entry[1]) != opcode(row[column["Source"]]):
            mismatches += 1
            continue
        count = number(row[column["Instructions Executed"]])
        executed[entry[0]] += count
        samples[entry[0]] += number(row[column["Warp Stall Sampling (All Samples)"]])
        if opcode(entry[1]) in INTEGER_OPCODES:
            integer[entry[0]] += count
    if mismatches:
        print(f"{mismatches} of {len(instructions)} instructions do not match the line table: "
              "not the same build", file=sys.stderr)
        sys.exit(1)
    total_samples = sum(samples.values())
    print(f"per source line (executed / {divisor:g}; integer ops of them; share of samples):")
    for location, count in executed.most_common(40):
        print(f"{count / divisor:9.1f} {integer[location] / divisor:8.1f} "
              f"{samples[location] / total_samples:6.1%}  {location}")


if __name__ == "__main__":
    main()
