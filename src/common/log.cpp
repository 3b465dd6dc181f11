#include "common/log.h"

#include <cstdio>
#include <cstdlib>
#include <string>

namespace flashattn {
namespace {

bool debug_log_enabled() {
  static const bool enabled = [] {
    const char* level = std::getenv("FLASHATTN_LOG");
    return level != nullptr && std::string(level) == "debug";
  }();
  return enabled;
}

}  // namespace

void log_debug(std::string_view message) {
  if (!debug_log_enabled()) return;
  std::fprintf(stderr, "flashattn: debug: %.*s\n", static_cast<int>(message.size()),
               message.data());
}

}  // namespace flashattn
