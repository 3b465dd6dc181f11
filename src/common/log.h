// Debug messages for choices the library makes silently (a kernel path it falls back from):
// written to stderr when the environment has FLASHATTN_LOG=debug, read once.
#pragma once

#include <string_view>

namespace flashattn {

void log_debug(std::string_view message);

}  // namespace flashattn
