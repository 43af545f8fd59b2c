// membership/snapshot.h — Serf 0.8's on-disk agent state, without sockets or
// timers: the snapshot file (-snapshot) and the tags file (-tags-file).
//
// Snapshot file: an append-only text log in serf's line format
//   alive: <name> <ip:port>      (IPv6 as [ip]:port)
//   not-alive: <name>
//   clock: N  event-clock: N  query-clock: N
//   leave
// plus `coordinate: ...` lines (ignored, as serf ignores them) and `#`
// comments. Replaying it gives the members last known alive (to rejoin
// without -join) and the three Lamport clocks (so old user events and
// queries are not delivered again). A `leave` line (graceful leave) forgets
// members and clocks unless rejoin_after_leave (serf's -rejoin). When the
// file grows past max(min_compact_size, 2 × 128 bytes per alive member) it
// is rewritten compactly (alive lines and the three clocks) through
// `<path>.compact` and a rename, as serf does. Every line is written to the
// kernel at once (a killed herd loses nothing it had recorded); leave() and
// close() also fsync.
//
// Tags file: Serf's JSON object of tag -> value, read at start and
// rewritten (0600, via a temporary file and rename) when the tags change.
//
// Thread rules: a Snapshotter belongs to the thread that opened it (the
// control thread for the agent); the free functions are pure or touch only
// the named file.
#pragma once

#include <cstdint>
#include <cstdio>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace herd::membership {

struct SnapshotState {
  std::map<std::string, std::string> alive;  // name -> "ip:port"
  uint64_t clock = 0, event_clock = 0, query_clock = 0;
  uint32_t incarnation = 0;  // `incarnation: N`, only in handover_text()'s
  // Also only in handover_text()'s: `keyring: <base64>...` (primary first),
  // the keys in use now (key queries may have rotated them since start),
  // and `self-coordinate: <adjustment> <error> <height> <v>...`, the
  // member's network coordinate (empty `coordinate_vec`: none).
  std::vector<std::string> keys;
  double coordinate_adjustment = 0, coordinate_error = 0, coordinate_height = 0;
  std::vector<double> coordinate_vec;
};

// Serf's replay of a snapshot file's text. Lines that cannot be read are
// skipped and described in `warnings` (when given); a last line without a
// newline is ignored, as serf does.
SnapshotState replay_snapshot(std::string_view text, bool rejoin_after_leave,
                              std::vector<std::string>* warnings = nullptr);

// Reloads (app/handover.h): a running member's state for the process that
// takes its sockets, in the snapshot format (alive lines, the three clocks)
// plus `incarnation: N`, `keyring: ...` and `self-coordinate: ...`, which
// replay_snapshot() reads back.
std::string handover_text(const SnapshotState& s);

// "ip:port", or "[ip]:port" for IPv6 (Go's net.TCPAddr.String()).
std::string snapshot_address(const std::string& ip, uint16_t port);

class Snapshotter {
 public:
  Snapshotter() = default;
  ~Snapshotter();
  Snapshotter(const Snapshotter&) = delete;
  Snapshotter& operator=(const Snapshotter&) = delete;

  // Opens (creating it if missing) and replays `path`. Returns "" or the
  // error text. Warnings about unreadable lines go to `warnings`.
  std::string open(const std::string& path, bool rejoin_after_leave,
                   std::vector<std::string>* warnings = nullptr,
                   std::size_t min_compact_size = 128 * 1024);
  bool is_open() const { return fh_ != nullptr; }
  // What was restored at open(), kept current by the calls below.
  const SnapshotState& state() const { return state_; }
  // The members to try at start, self excluded, in random order (serf
  // shuffles them too); each "ip:port".
  std::vector<std::pair<std::string, std::string>> previous(const std::string& self,
                                                            uint64_t seed) const;

  // A member-join: `addr` as snapshot_address().
  void alive(const std::string& name, const std::string& addr);
  // A member-leave or member-failed.
  void not_alive(const std::string& name);
  // The member clock's current time: "clock: time-1" is written when it
  // moved past the last value written (serf's updateClock).
  void clock(uint64_t current_time);
  // A user event / user query delivered with this LTime (kept when newer).
  void event_clock(uint64_t ltime);
  void query_clock(uint64_t ltime);
  // Graceful leave: writes `leave` and ignores everything after it; without
  // rejoin_after_leave the alive members are forgotten.
  void leave();
  // Flushes, fsyncs and closes.
  void close();

  // The last write error ("" when none) and how often the file was compacted.
  const std::string& error() const { return error_; }
  uint64_t compactions() const { return compactions_; }

 private:
  void append(const std::string& line);
  std::string compact();

  std::string path_;
  std::FILE* fh_ = nullptr;
  SnapshotState state_;
  bool rejoin_after_leave_ = false;
  bool leaving_ = false;
  std::size_t min_compact_size_ = 0;
  std::size_t offset_ = 0;
  uint64_t compactions_ = 0;
  std::string error_;
};

// Writes `text` to `path` through `path`.tmp (created with `mode`), fsync
// and rename, so a reader sees the old or the new file whole. "" or the
// error text naming the file (the keyring file uses it too).
std::string write_file_atomic(const std::string& path, const std::string& text, unsigned mode);

// ---- tags file -----------------------------------------------------------------

// Go's json.MarshalIndent(tags, "", "  "): keys sorted, <>& escaped.
std::string tags_json(const std::map<std::string, std::string>& tags);
// A JSON object of strings; nullopt with `error` set otherwise.
std::optional<std::map<std::string, std::string>> parse_tags_json(std::string_view text,
                                                                  std::string* error);
// Reads `path` into `tags` (a missing file is not an error: serf starts with
// no tags then). Returns "" or the error text.
std::string load_tags_file(const std::string& path, std::map<std::string, std::string>& tags);
// Writes `tags` to `path` (mode 0600, temporary file + rename). "" or error.
std::string save_tags_file(const std::string& path, const std::map<std::string, std::string>& tags);

}  // namespace herd::membership
