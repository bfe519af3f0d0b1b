#pragma once
// Daemon: owns the io_context, its threads and every long-lived component,
// wires ingest → pipeline → dispatchers, and runs the signal-driven lifecycle:
// SIGHUP reloads resources (a bad reload keeps the old snapshot), SIGTERM or
// SIGINT drains (stop accepting, answer in-flight requests, deliver what is
// queued, QUIT relays) and returns 0. A second SIGTERM/SIGINT exits at once.
// At start the journal is replayed and unfinished work resumed. If the journal
// fences itself (failed fdatasync), the daemon shuts down the same way and
// returns kExitRestart: main() then re-executes itself, so the new process
// replays the journal from its last good record.
#include "core/config/settings.hpp"
#include "core/util/log.hpp"

namespace herald {

inline constexpr int kExitRestart = 75;  // EX_TEMPFAIL

class Daemon final {
 public:
  Daemon(Settings settings, Logger& log) : settings_(std::move(settings)), log_(log) {}
  // Blocks until shutdown; returns the process exit code. Throws on startup
  // errors (bind failure, unreadable resources).
  int run();

 private:
  Settings settings_;
  Logger& log_;
};

// Validates the config file and everything it references (resources,
// templates) without starting anything. Throws ConfigError.
void check_config(const Settings& settings);

}  // namespace herald
