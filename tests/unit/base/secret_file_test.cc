#include "base/secret_file.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>

namespace rwgate {
namespace {

class SecretFileTest : public ::testing::Test {
 protected:
  std::string write(const std::string& content) {
    std::ofstream(path_, std::ios::binary | std::ios::trunc) << content;
    return path_;
  }
  void TearDown() override { std::remove(path_.c_str()); }
  std::string path_ = ::testing::TempDir() + "rwgate-secret-" + std::to_string(getpid());
};

TEST_F(SecretFileTest, TrimsSurroundingWhitespaceAsPrometheusDoes) {
  std::string s;
  ASSERT_TRUE(read_secret_file(write("s3cret\n"), s));
  EXPECT_EQ(s, "s3cret");
  ASSERT_TRUE(read_secret_file(write("  s3cret \r\n\t"), s));
  EXPECT_EQ(s, "s3cret");
  ASSERT_TRUE(read_secret_file(write("a b\nc"), s));
  EXPECT_EQ(s, "a b\nc");
}

TEST_F(SecretFileTest, EmptyOrMissingIsAnErrorWithoutTheSecret) {
  std::string s = "old";
  const Status empty = read_secret_file(write(" \n"), s);
  EXPECT_FALSE(empty);
  EXPECT_EQ(s, "");
  const Status missing = read_secret_file("/nonexistent/secret", s);
  EXPECT_FALSE(missing);
  EXPECT_NE(missing.reason().find("/nonexistent/secret"), std::string::npos);
}

TEST(TrimSpaceTest, BothEnds) {
  EXPECT_EQ(trim_space(" \t x y \v\f\r\n"), "x y");
  EXPECT_EQ(trim_space("   "), "");
  EXPECT_EQ(trim_space(""), "");
}

}  // namespace
}  // namespace rwgate
