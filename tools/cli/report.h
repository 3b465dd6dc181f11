// What `flashattn run` prints: a short text report, or one JSON object with --json.
#pragma once

#include <ostream>
#include <vector>

#include "check.h"
#include "flags.h"
#include "run.h"

namespace flashattn::cli {

struct RunSummary {
  RunConfig config;
  Backend backend = Backend::cpu;  // cpu or cuda
  std::vector<Timing> timings;
  CheckReport check;
};

void print_text(std::ostream& stream, const RunSummary& summary);
void print_json(std::ostream& stream, const RunSummary& summary);

}  // namespace flashattn::cli
