// Flag parsing: forms of flags, switches, typed getters and the usage errors they raise.
#include "cli/args.h"

#include <gtest/gtest.h>

namespace stoker::cli {
namespace {

TEST(Args, ParsesValueFormsAndPositionals) {
  Args a("x", {"in", "--n", "5", "--size=16x8", "--flag", "--lr", "-0.5", "out"});
  EXPECT_EQ(a.get_int("n", 0), 5);
  EXPECT_EQ(a.get_size("size"), (std::pair<int, int>{16, 8}));
  EXPECT_TRUE(a.get_bool("flag"));
  EXPECT_DOUBLE_EQ(a.get_double("lr", 0), -0.5);
  EXPECT_EQ(a.positional(0, "IN"), "in");
  EXPECT_EQ(a.positional(1, "OUT"), "out");
  EXPECT_NO_THROW(a.reject_unknown(2));
  EXPECT_THROW(a.reject_unknown(1), UsageError);
  EXPECT_THROW(a.positional(2, "THIRD"), UsageError);
}

TEST(Args, SwitchesNeverTakeTheNextArgument) {
  Args a("x", {"--gray", "in", "out", "--shuffle-filter=false"}, {"gray", "shuffle-filter"});
  EXPECT_TRUE(a.get_bool("gray"));
  EXPECT_FALSE(a.get_bool("shuffle-filter"));
  ASSERT_EQ(a.positionals().size(), 2u);
  EXPECT_EQ(a.positionals()[0], "in");
}

TEST(Args, UnknownFlagIsNamed) {
  Args a("train", {"--epochs", "2", "--epoch", "3"});
  a.get_int("epochs", 1);
  try {
    a.reject_unknown();
    FAIL() << "no UsageError";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("--epoch"), std::string::npos) << e.what();
  }
}

TEST(Args, UnknownFlagsAreReportedBeforeMissingOnes) {
  Args a("train", {"--dat", "f.h5"});
  EXPECT_EQ(a.require("data"), "");
  try {
    a.reject_unknown();
    FAIL() << "no UsageError";
  } catch (const UsageError& e) {
    EXPECT_STREQ(e.what(), "unknown flag --dat");
  }
  Args b("train", {});
  b.require("data");
  EXPECT_THROW(b.reject_unknown(), UsageError);
}

TEST(Args, BadValuesAreUsageErrors) {
  Args a("x", {"--n", "abc", "--size", "0x4", "--mem", "12Q", "--c", "-3", "--dup", "1", "--p", "fp8"});
  EXPECT_THROW(a.get_int("n", 0), UsageError);
  EXPECT_THROW(a.get_size("size"), UsageError);
  EXPECT_THROW(a.get_bytes("mem", 0), UsageError);
  EXPECT_THROW(a.get_count("c", 1), UsageError);
  EXPECT_THROW(a.get_choice("p", {"float32", "mixed_float16"}, "float32"), UsageError);
  EXPECT_THROW(Args("x", {"--dup", "1", "--dup", "2"}), UsageError);
}

TEST(Args, ByteSizes) {
  EXPECT_EQ(parse_bytes("512", "m"), 512u);
  EXPECT_EQ(parse_bytes("64K", "m"), 64u << 10);
  EXPECT_EQ(parse_bytes("1.5G", "m"), 3ull << 29);
  EXPECT_THROW(parse_bytes("-1M", "m"), UsageError);
}

}  // namespace
}  // namespace stoker::cli
