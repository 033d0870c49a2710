// stoker::Error and its hand-off between threads.
#include "pipeline/error.h"

#include <gtest/gtest.h>

#include <new>

namespace stoker {
namespace {

// What a stage hands to another thread is a new object with the same code, message and context,
// so the thread that threw may keep (and later release) its own reference without sharing it.
TEST(ErrorHandoff, IsACopyThatCarriesCodeMessageAndContext) {
  std::exception_ptr original, handed;
  try {
    throw Error(ErrorCode::kDataLoss, "torn record", {"hdf5", "a.h5", 12});
  } catch (...) {
    original = std::current_exception();
    handed = current_error_for_handoff();
  }
  const Error* a = nullptr;
  const Error* b = nullptr;
  try { std::rethrow_exception(original); } catch (const Error& e) { a = &e; }
  try { std::rethrow_exception(handed); } catch (const Error& e) { b = &e; }
  ASSERT_TRUE(a && b);
  EXPECT_NE(a, b);
  EXPECT_EQ(b->code(), ErrorCode::kDataLoss);
  EXPECT_EQ(b->context().source, "a.h5");
  EXPECT_EQ(b->context().record, 12);
  EXPECT_STREQ(b->what(), a->what());
}

TEST(ErrorHandoff, KeepsOutOfMemoryAndForeignExceptionsTheirType) {
  std::exception_ptr handed;
  try { throw std::bad_alloc(); } catch (...) { handed = current_error_for_handoff(); }
  EXPECT_THROW(std::rethrow_exception(handed), std::bad_alloc);
  try { throw 7; } catch (...) { handed = current_error_for_handoff(); }
  EXPECT_THROW(std::rethrow_exception(handed), int);
}

}  // namespace
}  // namespace stoker
