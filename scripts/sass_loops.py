"""The main loop of every kernel in CUDA objects, from their SASS: per function, of the loops
(backward branches) with tensor-core instructions (HMMA or HGMMA) and no such loop inside them,
the one with the most, with its instruction count and its local-memory traffic (LDL / STL)
against the whole function's. In a persistent kernel that is the key-block loop, not the tile
loop around it.
Usage: python scripts/sass_loops.py OBJECT... (needs cuobjdump on PATH)."""

import re
import subprocess
import sys

ADDRESS = re.compile(r"/\*([0-9a-f]{4,})\*/")
BACKWARD_BRANCH = re.compile(r"\bBRA\b[^;]*?(0x[0-9a-f]+)")
MMA = re.compile(r"\b(HMMA|HGMMA)\b")


def opcode(line):
    """The instruction's opcode without predicate and modifiers (`@!P0 LDL.LU R2` -> LDL)."""
    text = line.split("*/", 1)[1].strip()
    text = re.sub(r"^@!?U?P\w+\s+", "", text)
    return text.split(" ")[0].split(".")[0]


def functions(sass):
    """(name, [(address, line)]) per function of cuobjdump's output."""
    for chunk in sass.split("Function : ")[1:]:
        lines = chunk.splitlines()
        body = [(int(m.group(1), 16), line) for line in lines[1:] if (m := ADDRESS.search(line))]
        yield lines[0].strip(), body


def main_loop(body):
    """The innermost loop body (lines) with the most MMAs: ([], 0) when no loop has one."""
    loops = []  # (start, end, lines, MMAs) of every loop with MMAs
    for address, line in body:
        branch = BACKWARD_BRANCH.search(line.split("*/", 1)[1])
        if not branch or int(branch.group(1), 16) >= address:
            continue
        start = int(branch.group(1), 16)
        lines = [text for at, text in body if start <= at <= address]
        mmas = sum(1 for text in lines if MMA.search(text))
        if mmas:
            loops.append((start, address, lines, mmas))
    innermost = [loop for loop in loops
                 if not any(other is not loop and loop[0] <= other[0] and other[1] <= loop[1]
                            for other in loops)]
    if not innermost:
        return [], 0
    _, _, lines, mmas = max(innermost, key=lambda loop: loop[3])
    return lines, mmas


def count(lines, name):
    return sum(1 for line in lines if opcode(line) == name)


def report(path):
    sass = subprocess.run(["cuobjdump", "-sass", path], capture_output=True, text=True,
                          check=True).stdout
    for name, body in functions(sass):
        loop, mmas = main_loop(body)
        if not mmas:
            continue
        lines = [text for _, text in body]
        print(f"{name}: loop {len(loop)} instructions, {mmas} MMA, "
              f"LDL {count(loop, 'LDL')} STL {count(loop, 'STL')} "
              f"(function LDL {count(lines, 'LDL')} STL {count(lines, 'STL')})")


if __name__ == "__main__":
    for object_path in sys.argv[1:]:
        print(f"== {object_path}")
        report(object_path)
