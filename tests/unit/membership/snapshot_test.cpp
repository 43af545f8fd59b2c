// Serf's snapshot file and tags file (snapshot.h), the settings that select
// them (-snapshot, -rejoin, -tags-file), -profile and Go durations.
#include "membership/snapshot.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "membership/settings.h"

namespace herd::membership {
namespace {

std::string temp_path(const char* name) {
  return ::testing::TempDir() + "/herd-snap-" + std::to_string(::getpid()) + "-" + name;
}

std::string read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

TEST(SnapshotReplay, SerfLinesGiveMembersAndClocks) {
  std::vector<std::string> warnings;
  auto s = replay_snapshot(
      "# comment\n"
      "alive: a 10.0.0.1:7946\n"
      "alive: b c 10.0.0.2:7946\n"  // names may hold spaces: the address is after the last
      "alive: v6 [fd00::1]:7946\n"
      "clock: 7\n"
      "event-clock: 3\n"
      "query-clock: 2\n"
      "coordinate: {\"Vec\":[0]}\n"
      "not-alive: a\n"
      "alive: a 10.0.0.9:8000\n"
      "not-alive: v6\n"
      "clock: 9\n"
      "bogus\n"
      "clock: x\n"
      "alive: noaddress\n"
      "alive: partial 1.2.3.4:5",  // no newline: ignored, as serf does
      false, &warnings);
  EXPECT_EQ(s.alive,
            (std::map<std::string, std::string>{{"a", "10.0.0.9:8000"}, {"b c", "10.0.0.2:7946"}}));
  EXPECT_EQ(s.clock, 9u);
  EXPECT_EQ(s.event_clock, 3u);
  EXPECT_EQ(s.query_clock, 2u);
  ASSERT_EQ(warnings.size(), 3u);
  EXPECT_NE(warnings[0].find("Unrecognized snapshot line: bogus"), std::string::npos);
}

TEST(SnapshotReplay, LeaveForgetsEverythingUnlessRejoin) {
  const std::string text =
      "alive: a 10.0.0.1:7946\nclock: 5\nevent-clock: 4\nquery-clock: 3\nleave\n";
  auto s = replay_snapshot(text, false);
  EXPECT_TRUE(s.alive.empty());
  EXPECT_EQ(s.clock, 0u);
  EXPECT_EQ(s.event_clock, 0u);
  EXPECT_EQ(s.query_clock, 0u);
  auto r = replay_snapshot(text, true);
  EXPECT_EQ(r.alive.size(), 1u);
  EXPECT_EQ(r.event_clock, 4u);
  // Lines after the leave (a later run) count again.
  auto later = replay_snapshot(text + "alive: b 10.0.0.2:7946\nevent-clock: 8\n", false);
  EXPECT_EQ(later.alive.size(), 1u);
  EXPECT_EQ(later.event_clock, 8u);
}

TEST(SnapshotReplay, HandoverTextRoundTrips) {
  SnapshotState st;
  st.alive = {{"herd-lb", "10.0.0.1:7946"}, {"web1", "[fd00::1]:7946"}};
  st.clock = 41;
  st.event_clock = 7;
  st.query_clock = 3;
  st.incarnation = 5;
  std::vector<std::string> warnings;
  SnapshotState back = replay_snapshot(handover_text(st), false, &warnings);
  EXPECT_TRUE(warnings.empty());
  EXPECT_EQ(back.alive, st.alive);
  EXPECT_EQ(back.clock, 41u);
  EXPECT_EQ(back.event_clock, 7u);
  EXPECT_EQ(back.query_clock, 3u);
  EXPECT_EQ(back.incarnation, 5u);
  // A bad value is a warning, as other unreadable lines.
  replay_snapshot("incarnation: x\n", false, &warnings);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_EQ(warnings[0], "Failed to convert incarnation: incarnation: x");
}

TEST(SnapshotReplay, HandoverTextCarriesTheKeyringAndTheCoordinate) {
  SnapshotState st;
  st.incarnation = 2;
  st.keys = {"QUJDREVGR0hJSktMTU5PUA==", "cHJpbWFyeTJwcmltYXJ5Mg=="};
  st.coordinate_adjustment = -0.000125;
  st.coordinate_error = 0.4312345678901234;
  st.coordinate_height = 1.5e-5;
  st.coordinate_vec = {0.001, -0.0025, 1.0 / 3.0, 0, 0, 0, 0, 7e-9};
  std::vector<std::string> warnings;
  SnapshotState back = replay_snapshot(handover_text(st), false, &warnings);
  EXPECT_TRUE(warnings.empty());
  EXPECT_EQ(back.keys, st.keys);                                    // primary first
  EXPECT_EQ(back.coordinate_adjustment, st.coordinate_adjustment);  // exact: 17 digits
  EXPECT_EQ(back.coordinate_error, st.coordinate_error);
  EXPECT_EQ(back.coordinate_height, st.coordinate_height);
  EXPECT_EQ(back.coordinate_vec, st.coordinate_vec);
  // Without keys or coordinate: no such lines.
  std::string plain = handover_text(SnapshotState{});
  EXPECT_EQ(plain.find("keyring:"), std::string::npos);
  EXPECT_EQ(plain.find("self-coordinate:"), std::string::npos);
  // Unreadable coordinates are warnings and leave none.
  for (const char* bad :
       {"self-coordinate: 1 2\n", "self-coordinate: 1 2 3 x\n", "self-coordinate: 1 2 3 nan\n"}) {
    warnings.clear();
    EXPECT_TRUE(replay_snapshot(bad, false, &warnings).coordinate_vec.empty()) << bad;
    EXPECT_EQ(warnings.size(), 1u) << bad;
  }
}

TEST(SnapshotReplay, AddressFormat) {
  EXPECT_EQ(snapshot_address("10.0.0.1", 7946), "10.0.0.1:7946");
  EXPECT_EQ(snapshot_address("fd00::1", 7946), "[fd00::1]:7946");
}

TEST(Snapshotter, WritesSerfLinesAndRestoresThem) {
  const std::string path = temp_path("rw");
  ::unlink(path.c_str());
  {
    Snapshotter s;
    ASSERT_EQ(s.open(path, false), "");
    EXPECT_TRUE(s.state().alive.empty());
    s.alive("herd", "127.0.0.1:7946");
    s.alive("web1", "127.0.0.2:7946");
    s.clock(5);  // writes 4: the last time seen
    s.clock(5);  // unchanged: nothing
    s.event_clock(3);
    s.event_clock(2);  // older: nothing
    s.query_clock(6);
    s.alive("web2", "127.0.0.3:7946");
    s.not_alive("web2");
  }
  EXPECT_EQ(read(path),
            "alive: herd 127.0.0.1:7946\nalive: web1 127.0.0.2:7946\nclock: 4\n"
            "event-clock: 3\nquery-clock: 6\nalive: web2 127.0.0.3:7946\nnot-alive: web2\n");
  Snapshotter again;
  ASSERT_EQ(again.open(path, false), "");
  EXPECT_EQ(again.state().alive.size(), 2u);
  EXPECT_EQ(again.state().clock, 4u);
  EXPECT_EQ(again.state().event_clock, 3u);
  EXPECT_EQ(again.state().query_clock, 6u);
  auto prev = again.previous("herd", 1);
  ASSERT_EQ(prev.size(), 1u);  // ourselves left out
  EXPECT_EQ(prev[0], (std::pair<std::string, std::string>{"web1", "127.0.0.2:7946"}));
  // Appends after what was there.
  again.event_clock(10);
  again.close();
  EXPECT_NE(read(path).find("not-alive: web2\nevent-clock: 10\n"), std::string::npos);
  ::unlink(path.c_str());
}

TEST(Snapshotter, LeaveIsWrittenAndLaterEventsIgnored) {
  const std::string path = temp_path("leave");
  ::unlink(path.c_str());
  {
    Snapshotter s;
    ASSERT_EQ(s.open(path, false), "");
    s.alive("web1", "127.0.0.2:7946");
    s.event_clock(4);
    s.leave();
    EXPECT_TRUE(s.state().alive.empty());
    s.alive("web3", "127.0.0.4:7946");  // after the leave: not recorded
    s.event_clock(9);
  }
  EXPECT_EQ(read(path), "alive: web1 127.0.0.2:7946\nevent-clock: 4\nleave\n");
  Snapshotter plain, rejoin;
  ASSERT_EQ(plain.open(path, false), "");
  EXPECT_TRUE(plain.previous("herd", 1).empty());
  EXPECT_EQ(plain.state().event_clock, 0u);
  plain.close();
  ASSERT_EQ(rejoin.open(path, true), "");
  EXPECT_EQ(rejoin.previous("herd", 1).size(), 1u);
  EXPECT_EQ(rejoin.state().event_clock, 4u);
  ::unlink(path.c_str());
}

TEST(Snapshotter, CompactsPastTheSizeLimit) {
  const std::string path = temp_path("compact");
  ::unlink(path.c_str());
  Snapshotter s;
  ASSERT_EQ(s.open(path, false, nullptr, 1024), "");
  for (int i = 0; i < 200; ++i) {
    s.alive("m" + std::to_string(i % 3), "10.0.0." + std::to_string(i % 3) + ":7946");
    s.not_alive("m2");
    s.clock(static_cast<uint64_t>(i) + 2);
  }
  s.event_clock(77);
  EXPECT_GT(s.compactions(), 0u);
  EXPECT_EQ(s.error(), "");
  s.close();
  const std::string text = read(path);
  EXPECT_LE(text.size(), 1024u + 64u);
  auto st = replay_snapshot(text, false);
  EXPECT_EQ(st.alive,
            (std::map<std::string, std::string>{{"m0", "10.0.0.0:7946"}, {"m1", "10.0.0.1:7946"}}));
  EXPECT_EQ(st.clock, 200u);
  EXPECT_EQ(st.event_clock, 77u);
  struct stat sb {};
  EXPECT_NE(::stat((path + ".compact").c_str(), &sb), 0);  // renamed into place
  ::unlink(path.c_str());
}

TEST(Snapshotter, UnopenableFileIsAnError) {
  Snapshotter s;
  EXPECT_NE(s.open("/nonexistent-dir/x/snap", false), "");
  EXPECT_FALSE(s.is_open());
  s.alive("a", "1.2.3.4:5");  // harmless when closed
}

TEST(TagsFile, GoJsonFormAndRoundTrip) {
  EXPECT_EQ(tags_json({}), "{}");
  EXPECT_EQ(tags_json({{"role", "web"}, {"dc", "a<b>&\"\\\n"}}),
            "{\n  \"dc\": \"a\\u003cb\\u003e\\u0026\\\"\\\\\\n\",\n  \"role\": \"web\"\n}");
  std::map<std::string, std::string> tags{{"role", "web"}, {"port", "8080"}, {"x", "é\t<>"}};
  std::string err;
  auto back = parse_tags_json(tags_json(tags), &err);
  ASSERT_TRUE(back) << err;
  EXPECT_EQ(*back, tags);
  auto esc = parse_tags_json(R"({"a":"\u00e9\ud83d\ude00\/","b":""})", &err);
  ASSERT_TRUE(esc) << err;
  EXPECT_EQ(esc->at("a"), "\xc3\xa9\xf0\x9f\x98\x80/");
  EXPECT_TRUE(parse_tags_json("null", &err));
  for (const char* bad : {"[]", "{\"a\":1}", "{\"a\":\"b\"", "{\"a\":\"b\"} x", "{a:\"b\"}"})
    EXPECT_FALSE(parse_tags_json(bad, &err)) << bad;
}

TEST(TagsFile, LoadSaveAndSettings) {
  const std::string path = temp_path("tags.json");
  ::unlink(path.c_str());
  std::map<std::string, std::string> tags;
  EXPECT_EQ(load_tags_file(path, tags), "");  // missing: no tags
  EXPECT_TRUE(tags.empty());
  ASSERT_EQ(save_tags_file(path, {{"role", "lb"}}), "");
  struct stat sb {};
  ASSERT_EQ(::stat(path.c_str(), &sb), 0);
  EXPECT_EQ(sb.st_mode & 0777, 0600u);
  EXPECT_EQ(load_tags_file(path, tags), "");
  EXPECT_EQ(tags, (std::map<std::string, std::string>{{"role", "lb"}}));

  MembershipSettings s;
  std::vector<std::string> errors;
  ASSERT_TRUE(parse_flags({"-tags-file", path, "-node", "n"}, s, errors));
  ASSERT_TRUE(finalize(s, nullptr, errors)) << errors.front();
  EXPECT_EQ(s.tags.at("role"), "lb");
  // Serf: tags and a tags file together are refused.
  MembershipSettings both;
  ASSERT_TRUE(parse_flags({"-tags-file", path, "-tag", "a=b"}, both, errors));
  EXPECT_FALSE(finalize(both, nullptr, errors));
  EXPECT_NE(errors.back().find("Tags config not allowed while using tag files"), std::string::npos);
  write(path, "{not json");
  MembershipSettings broken;
  ASSERT_TRUE(parse_flags({"-tags-file", path}, broken, errors));
  EXPECT_FALSE(finalize(broken, nullptr, errors));
  EXPECT_NE(errors.back().find("Failed to decode tags file"), std::string::npos);
  ::unlink(path.c_str());
}

TEST(SnapshotSettings, FlagsAndYaml) {
  MembershipSettings s;
  std::vector<std::string> errors;
  ASSERT_TRUE(parse_flags({"-snapshot", "/var/lib/herd/snap", "-rejoin"}, s, errors));
  EXPECT_EQ(s.snapshot, "/var/lib/herd/snap");
  EXPECT_TRUE(s.rejoin);
  MembershipSettings y;
  ASSERT_TRUE(
      parse_yaml("snapshot: /tmp/s\nrejoin_after_leave: true\ntags_file: /tmp/t\n"
                 "profile: wan\n",
                 "m.yaml", y, errors))
      << errors.front();
  EXPECT_EQ(y.snapshot, "/tmp/s");
  EXPECT_TRUE(y.rejoin);
  EXPECT_EQ(y.tags_file, "/tmp/t");
  EXPECT_EQ(y.profile, "wan");
  EXPECT_EQ(y.timing.probe_interval, std::chrono::milliseconds(5000));
}

TEST(Profile, MemberlistDefaults) {
  using std::chrono::milliseconds;
  GossipTiming lan, wan, local;
  ASSERT_TRUE(profile_timing("lan", lan));
  ASSERT_TRUE(profile_timing("wan", wan));
  ASSERT_TRUE(profile_timing("local", local));
  EXPECT_EQ(lan, GossipTiming{});
  EXPECT_EQ(lan.probe_interval, milliseconds(1000));
  EXPECT_EQ(lan.probe_timeout, milliseconds(500));
  EXPECT_EQ(lan.push_pull_interval, milliseconds(30000));
  EXPECT_EQ(wan.probe_timeout, milliseconds(3000));
  EXPECT_EQ(wan.suspicion_mult, 6);
  EXPECT_EQ(wan.gossip_nodes, 4);
  EXPECT_EQ(wan.push_pull_interval, milliseconds(60000));
  EXPECT_EQ(wan.tcp_timeout, milliseconds(30000));
  EXPECT_EQ(local.probe_timeout, milliseconds(200));
  EXPECT_EQ(local.indirect_checks, 1);
  EXPECT_EQ(local.retransmit_mult, 2);
  EXPECT_EQ(local.suspicion_mult, 3);
  EXPECT_EQ(local.gossip_interval, milliseconds(100));
  EXPECT_EQ(local.tcp_timeout, milliseconds(1000));
  GossipTiming x;
  EXPECT_FALSE(profile_timing("fast", x));
  MembershipSettings s;
  std::vector<std::string> errors;
  EXPECT_FALSE(parse_flags({"-profile", "fast"}, s, errors));
  EXPECT_NE(errors.back().find("Unknown profile: fast"), std::string::npos);
  ASSERT_TRUE(parse_flags({"-profile=local"}, s, errors));
  EXPECT_EQ(s.timing, local);
}

TEST(GoDuration, AsTimeParseDuration) {
  using std::chrono::milliseconds;
  auto d = [](std::string_view t) {
    milliseconds out{-1};
    return parse_go_duration(t, out) ? out.count() : -1;
  };
  EXPECT_EQ(d("1.5s"), 1500);
  EXPECT_EQ(d("100ms"), 100);
  EXPECT_EQ(d("1m30s"), 90000);
  EXPECT_EQ(d("2h"), 7200000);
  EXPECT_EQ(d("1h2m3.5s"), 3723500);
  EXPECT_EQ(d(".5s"), 500);
  EXPECT_EQ(d("1.s"), 1000);
  EXPECT_EQ(d("+3s"), 3000);
  EXPECT_EQ(d("1500us"), 1);
  EXPECT_EQ(d("1500\xc2\xb5s"), 1);
  EXPECT_EQ(d("2000000ns"), 2);
  EXPECT_EQ(d("0.25m"), 15000);
  EXPECT_EQ(d("30"), 30000);  // a bare number: seconds
  EXPECT_EQ(d("0"), 0);
  for (const char* bad : {"", "s", "1x", "-1s", "1s2", ".s", "1 s", "3d", "9999999999h"})
    EXPECT_EQ(d(bad), -1) << bad;
  EXPECT_EQ(d("1.5"), 1500);  // bare number with a fraction: seconds too
  // Everywhere the settings take a duration.
  MembershipSettings s;
  std::vector<std::string> errors;
  ASSERT_TRUE(
      parse_yaml("retry_interval: 1.5s\nreconnect_interval: 1m30s\ncoalesce_period: "
                 "100ms\nquiescent_period: 0.5s\ntombstone_timeout: 2h\n",
                 "m.yaml", s, errors))
      << errors.front();
  EXPECT_EQ(s.retry_interval, milliseconds(1500));
  EXPECT_EQ(s.reconnect_interval, milliseconds(90000));
  EXPECT_EQ(s.coalesce_period, milliseconds(100));
  EXPECT_EQ(s.quiescent_period, milliseconds(500));
  EXPECT_EQ(s.tombstone_timeout, milliseconds(7200000));
  ASSERT_TRUE(parse_flags({"-reconnect-timeout=2.5m", "-retry-interval", "250ms"}, s, errors));
  EXPECT_EQ(s.reconnect_timeout, milliseconds(150000));
  EXPECT_EQ(s.retry_interval, milliseconds(250));
}

}  // namespace
}  // namespace herd::membership
