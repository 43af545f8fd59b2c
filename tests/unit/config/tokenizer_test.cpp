// Tokenizer cases observed on HAProxy 2.6.12 (parser-quoting-env.txt and
// experiments recorded in docs/configuration.md).
#include "config/tokenizer.h"

#include <gtest/gtest.h>

#include <map>

namespace herd::config {
namespace {

EnvLookup test_env() {
  static const std::map<std::string, std::string> vars = {
      {"FOO", "bar"}, {"SPACEY", "p q"}, {"EMPTY", ""}, {"LOOP", "127.0.0.1"}};
  return [](const std::string& n) -> std::optional<std::string> {
    auto it = vars.find(n);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

std::vector<std::string> words(std::string_view line, int lineno = 1) {
  LineContext ctx{"q3.cfg", lineno, "f"};
  TokenizedLine t = tokenize_line(line, ctx, test_env());
  EXPECT_TRUE(t.ok()) << t.error;
  return t.words;
}

std::string one(std::string_view arg) {
  auto w = words(std::string("string ") + std::string(arg));
  EXPECT_EQ(w.size(), 2u) << arg;
  return w.size() >= 2 ? w[1] : "<none>";
}

std::string err(std::string_view line) {
  TokenizedLine t = tokenize_line(line, LineContext{"x.cfg", 1, "f"}, test_env());
  EXPECT_FALSE(t.ok()) << line;
  return t.error;
}

TEST(Tokenizer, SplitsOnSpacesAndTabs) {
  EXPECT_EQ(words("  a\tb   c  "), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_TRUE(words("   ").empty());
  EXPECT_TRUE(words("# only a comment").empty());
}

TEST(Tokenizer, CapturedQuotingCases) {
  EXPECT_EQ(one("\"dq:[$FOO]\""), "dq:[bar]");
  EXPECT_EQ(one("\"dq:[${FOO}]\""), "dq:[bar]");
  EXPECT_EQ(one("'sq:[${FOO}]'"), "sq:[${FOO}]");
  EXPECT_EQ(one("uq:[${FOO}]"), "uq:[${FOO}]");
  EXPECT_EQ(one("uq:[$FOO]"), "uq:[$FOO]");
  EXPECT_EQ(one("\"dq:[${UNDEF}]\""), "dq:[]");
  EXPECT_EQ(one("uq:[${SPACEY}]"), "uq:[${SPACEY}]");
  EXPECT_EQ(one("\"dq:[${SPACEY}]\""), "dq:[p q]");
  EXPECT_EQ(one(R"(a\ b\#c\"d\\e)"), "a b#c\"d\\e");
  EXPECT_EQ(one(R"("a b#c\"d\\e\x41\t|")"), "a b#c\"d\\eA\t|");
  EXPECT_EQ(one(R"('a b#c\"d\\e')"), R"(a b#c\"d\\e)");
  EXPECT_EQ(one(R"("x"'y'z)"), "xyz");
  EXPECT_EQ(one(R"("${FOO-dflt}")"), "bar");
  EXPECT_EQ(one(R"("${UNDEF-dflt}")"), "dflt");
  EXPECT_EQ(one(R"("x${EMPTY-dflt}y")"), "xy");
  EXPECT_EQ(one(R"("A\rB\nC")"), "A\rB\nC");
  EXPECT_EQ(one(R"("x$FOO.y")"), "xbar.y");
  EXPECT_EQ(one(R"("\$FOO")"), "$FOO");
  EXPECT_EQ(one("abc#comment-starts-mid-word"), "abc");
}

TEST(Tokenizer, PseudoVariables) {
  auto w = words(R"(x "${.LINE}|${.SECTION}|${.FILE}")", 26);
  ASSERT_EQ(w.size(), 2u);
  EXPECT_EQ(w[1], "26|f|q3.cfg");
}

TEST(Tokenizer, MoreObservedCases) {
  EXPECT_EQ(one(R"(a\qb)"), R"(a\qb)");
  EXPECT_EQ(one(R"("a\qb")"), R"(a\qb)");
  EXPECT_EQ(one(R"("a${FOO}}b")"), "abar}b");
  EXPECT_EQ(one(R"("a$FOO-x")"), "abar-x");
  EXPECT_EQ(one(R"(a\)"), R"(a\)");
  EXPECT_EQ(one(R"('a''b'""c"d")"), "abcd");
  EXPECT_EQ(one(R"(ab"c d"#x)"), "abc d");
  EXPECT_EQ(one(R"("${UNDEF-a b}|${EMPTY-c}|${UNDEF-}|")"), "a b|||");
  EXPECT_EQ(one(R"("$FOO[*]")"), "bar[*]");
  EXPECT_EQ(one(R"(a\n\r\tb)"), "a\n\r\tb");
  EXPECT_EQ(one(R"(a\x41\x4a\x4A)"), "aAJJ");
  EXPECT_EQ(one(R"("${FOO}-${FOO}")"), "bar-bar");
  EXPECT_EQ(one(R"("$F-$FOO")"), "-bar");
  EXPECT_EQ(one(R"(\"\'\\\#)"), R"("'\#)");
  EXPECT_EQ(one(R"('\')"), R"(\)");
  EXPECT_EQ(one(R"(x#\)"), "x");
  EXPECT_EQ(one(R"("\$\\")"), R"($\)");
  EXPECT_EQ(one(R"("\ \#")"), " #");
}

TEST(Tokenizer, EmptyArguments) {
  EXPECT_EQ(words(R"(a "" b)"), (std::vector<std::string>{"a", "", "b"}));
  EXPECT_EQ(words(R"(a "${EMPTY}")"), (std::vector<std::string>{"a", ""}));
}

TEST(Tokenizer, SplitExpansion) {
  EXPECT_EQ(words(R"("${SPACEY[*]}" x)"), (std::vector<std::string>{"p", "q", "x"}));
  EXPECT_EQ(words(R"("a${SPACEY[*]}b")"), (std::vector<std::string>{"ap", "qb"}));
  EXPECT_EQ(words(R"(x"${SPACEY[*]}"y)"), (std::vector<std::string>{"xp", "qy"}));
}

TEST(Tokenizer, UnmatchedQuoteMessage) {
  EXPECT_EQ(err("    http-request set-header X-A \"unterminated"),
            "unmatched quote at position 33:\n"
            "  http-request set-header X-A \"unterminated\n"
            "                              ^");
  EXPECT_EQ(err("\thttp-request set-header X-A 'un"),
            "unmatched quote at position 30:\n"
            "  http-request set-header X-A 'un\n"
            "                              ^");
}

TEST(Tokenizer, EnvNameErrors) {
  EXPECT_EQ(err("http-request set-header X-A \"$$FOO\""),
            "forbidden first char in environment variable name at position 31:\n"
            "  http-request set-header X-A \"$$FOO\"\n"
            "                                ^");
  EXPECT_EQ(err("  x\"$$FOO\""),
            "forbidden first char in environment variable name at position 6:\n"
            "  x\"$$FOO\"\n"
            "     ^");
  EXPECT_EQ(err("    \"a$ b\""),
            "forbidden first char in environment variable name at position 8:\n"
            "  \"a$ b\"\n"
            "     ^");
  EXPECT_EQ(err("    \"a${FOO\""),
            "unmatched brace in environment variable name at position 8:\n"
            "  \"a${FOO\"\n"
            "     ^");
  EXPECT_EQ(err("    \"${FOO:x}\""),
            "unmatched brace in environment variable name at position 7:\n"
            "  \"${FOO:x}\"\n"
            "    ^");
  EXPECT_NE(err("\"${1X}\"").find("forbidden first char"), std::string::npos);
  EXPECT_NE(err("\"${}\"").find("forbidden first char"), std::string::npos);
  EXPECT_NE(err("\"${.FOO}\"").find("forbidden first char"), std::string::npos);
}

TEST(Tokenizer, HexErrors) {
  EXPECT_EQ(err("    a\\x41b\\x4"),
            "truncated or invalid hexadecimal sequence at position 11:\n"
            "  a\\x41b\\x4\n"
            "        ^");
  EXPECT_NE(err("a\\x4gb").find("position 2:"), std::string::npos);
}

TEST(Tokenizer, AddressExpansion) {
  EXPECT_EQ(expand_address_vars("${LOOP}:23480", test_env()), "127.0.0.1:23480");
  EXPECT_EQ(expand_address_vars("$LOOP:23403", test_env()), "127.0.0.1:23403");
  EXPECT_EQ(expand_address_vars("${UNDEF}:3000", test_env()), ":3000");
  EXPECT_EQ(expand_address_vars("${UNDEF-10.0.0.1}:3000", test_env()), "10.0.0.1:3000");
  EXPECT_EQ(expand_address_vars("1.2.3.4:80", test_env()), "1.2.3.4:80");
  EXPECT_EQ(expand_address_vars("a$", test_env()), "a$");
}

}  // namespace
}  // namespace herd::config
