"""scripts/sass_loops.py finds a kernel's main loop and its local-memory traffic in SASS text."""

import importlib.util
from pathlib import Path

_spec = importlib.util.spec_from_file_location(
    "sass_loops", Path(__file__).resolve().parents[2] / "scripts" / "sass_loops.py")
sass_loops = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(sass_loops)


def _sass(instructions):
    """cuobjdump-style lines: address comment, instruction, encoding comment."""
    return "\n".join(f"        /*{8 * i:04x}*/                   {text} ;   /* 0x0 */"
                     for i, text in enumerate(instructions))


SASS = "\t\tFunction : kernel_a\n" + _sass([
    "STL [R1], R2",                  # 0x00: before any loop
    "IADD3 R2, R2, 0x1, RZ",         # 0x08: the outer loop starts here
    "LDL R3, [R1]",                  # 0x10: the inner loop starts here
    "HMMA.16816.F32.BF16 R4, R8, R10, R4",
    "HMMA.16816.F32.BF16 R4, R8, R10, R4",
    "@P0 BRA 0x10",                  # 0x28: closes the inner loop (2 MMA)
    "@!P1 STL [R1+0x4], R3",         # 0x30
    "BRA 0x8",                       # 0x38: closes the outer loop (2 MMA, longer)
    "HMMA.16816.F32.BF16 R4, R8, R10, R4",  # 0x40: after the loops
    "EXIT",
]) + "\n\t\tFunction : kernel_c\n" + _sass([
    "HMMA.16816.F32.BF16 R4, R8, R10, R4",  # 0x00: the outer loop starts here
    "HMMA.16816.F32.BF16 R4, R8, R10, R4",
    "HMMA.16816.F32.BF16 R4, R8, R10, R4",  # 0x10: the inner loop starts here
    "@P0 BRA 0x10",                  # 0x18: closes the inner loop (1 MMA)
    "BRA 0x0",                       # 0x20: closes the outer loop (3 MMA)
]) + "\n\t\tFunction : kernel_b\n" + _sass(["IADD3 R1, R1, 1, RZ", "BRA 0x0"])


def test_main_loop_is_the_innermost_with_mmas():
    functions = dict(sass_loops.functions(SASS))
    loop, mmas = sass_loops.main_loop(functions["kernel_a"])
    assert mmas == 2
    assert len(loop) == 4  # the inner loop, not the outer one around it
    assert sass_loops.count(loop, "LDL") == 1 and sass_loops.count(loop, "STL") == 0
    lines = [text for _, text in functions["kernel_a"]]
    assert sass_loops.count(lines, "STL") == 2  # the predicated store counts too


def test_an_outer_loop_with_more_mmas_is_not_the_main_loop():
    functions = dict(sass_loops.functions(SASS))
    loop, mmas = sass_loops.main_loop(functions["kernel_c"])
    assert (len(loop), mmas) == (2, 1)  # a persistent kernel's key loop inside its tile loop


def test_a_loop_without_mma_is_no_main_loop():
    functions = dict(sass_loops.functions(SASS))
    assert sass_loops.main_loop(functions["kernel_b"]) == ([], 0)
