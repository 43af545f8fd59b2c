// Serf's -keyring-file (keyring.h): JSON form, load/save round trip, errors,
// and the settings that select it.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "membership/keyring.h"
#include "membership/settings.h"

namespace herd::membership {
namespace {

std::string temp_path(const char* name) {
  return ::testing::TempDir() + "/herd-" + std::to_string(::getpid()) + "-" + name;
}

void write(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

TEST(KeyringFile, JsonIsSerfsIndentedArrayPrimaryFirst) {
  auto kr = Keyring::create({Bytes(16, 1), Bytes(32, 2)});
  ASSERT_TRUE(kr.ok());
  const std::string a = base64_encode(Bytes(16, 1)), b = base64_encode(Bytes(32, 2));
  EXPECT_EQ(keyring_json(*kr), "[\n  \"" + a + "\",\n  \"" + b + "\"\n]");
  ASSERT_FALSE(kr->use_key(Bytes(32, 2)));
  auto keys = parse_keyring_json(keyring_json(*kr));
  ASSERT_TRUE(keys.ok());
  EXPECT_EQ(*keys, (std::vector<std::string>{b, a}));
}

TEST(KeyringFile, ParsesCompactAndEscapedJsonAndRejectsGarbage) {
  auto k = parse_keyring_json(" [\"YWJj\\/ZA==\" ,\"eA==\"]\n");
  ASSERT_TRUE(k.ok());
  EXPECT_EQ(*k, (std::vector<std::string>{"YWJj/ZA==", "eA=="}));
  EXPECT_TRUE(parse_keyring_json("[]").ok());
  for (const char* bad : {"", "{}", "[", "[\"a\"", "[\"a\",]", "[1]", "[\"a\"] x", "[\"\\u0041\"]"})
    EXPECT_FALSE(parse_keyring_json(bad).ok()) << bad;
}

TEST(KeyringFile, SaveThenLoadRoundTripsWithMode0600) {
  const std::string path = temp_path("ring.json");
  auto kr = Keyring::create({Bytes(16, 7), Bytes(24, 8)});
  ASSERT_TRUE(kr.ok());
  ASSERT_EQ(save_keyring_file(path, *kr), "");
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto back = load_keyring_file(path);
  ASSERT_TRUE(back.ok()) << back.error().detail;
  EXPECT_EQ(back->keys(), kr->keys());
  std::remove(path.c_str());
}

TEST(KeyringFile, LoadErrors) {
  EXPECT_FALSE(load_keyring_file(temp_path("absent.json")).ok());
  const std::string path = temp_path("bad.json");
  write(path, "[]");
  auto r = load_keyring_file(path);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().detail.find("no keys present in keyring file"), std::string::npos);
  write(path, "[\"" + base64_encode(Bytes(10, 1)) + "\"]");
  EXPECT_FALSE(load_keyring_file(path).ok());  // bad key size
  write(path, "[\"!!\"]");
  EXPECT_FALSE(load_keyring_file(path).ok());  // bad base64
  std::remove(path.c_str());
  EXPECT_NE(save_keyring_file("/nonexistent-dir/ring.json", *Keyring::create({Bytes(16, 1)})), "");
}

TEST(KeyringFile, SettingsFlagYamlAndSerfsExclusionOfEncrypt) {
  MembershipSettings s;
  std::vector<std::string> errors;
  ASSERT_TRUE(parse_flags({"-keyring-file", "/x/ring.json"}, s, errors));
  EXPECT_EQ(s.keyring_file, "/x/ring.json");
  MembershipSettings y;
  ASSERT_TRUE(parse_yaml("keyring_file: /y/ring.json\n", "m.yaml", y, errors));
  EXPECT_EQ(y.keyring_file, "/y/ring.json");
  EXPECT_TRUE(finalize(y, nullptr, errors));
  y.encrypt = base64_encode(Bytes(16, 1));
  EXPECT_FALSE(finalize(y, nullptr, errors));
  ASSERT_FALSE(errors.empty());
  EXPECT_NE(errors.back().find("Encryption key not allowed while using a keyring"),
            std::string::npos);
}

}  // namespace
}  // namespace herd::membership
