// Value-parameterized tests over case structs with a `name` member: instances are named after
// it ("Cases/InvalidInput.IsRejectedBeforeAnyWrite/q_rank_3", not ".../0") and failure
// messages print it instead of the struct's bytes.
#pragma once

#include <gtest/gtest.h>

#include <ostream>
#include <string>
#include <string_view>

namespace flashattn::testing {

struct CaseName {
  template <typename Case>
  std::string operator()(const ::testing::TestParamInfo<Case>& param_info) const {
    return param_info.param.name;
  }
};

// Files that define their cases in an unnamed namespace add `using flashattn::testing::PrintTo;`
// there, since argument-dependent lookup searches only that namespace.
template <typename Case>
requires requires(const Case& test_case) {
  std::string_view(test_case.name);
}
void PrintTo(const Case& test_case, std::ostream* stream) {
  *stream << test_case.name;
}

}  // namespace flashattn::testing
