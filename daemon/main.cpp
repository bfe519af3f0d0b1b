// heraldd: the herald notification daemon.
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>

#include "core/config/settings.hpp"
#include "core/config/toml_reader.hpp"
#include "daemon/daemon.hpp"

#ifndef HERALD_VERSION
#define HERALD_VERSION "0.0.0"
#endif

namespace {

void usage(std::FILE* out) {
  std::fprintf(out,
               "usage: heraldd [--config FILE] [--check-config] [--version]\n"
               "  --config FILE    configuration file (default: config/heraldd.toml)\n"
               "  --check-config   validate the configuration and resources, then exit 0 (ok) or 1\n"
               "  --version        print the version and exit\n");
}

}  // namespace

int main(int argc, char** argv) {
  std::string config = "config/heraldd.toml";
  bool check_only = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--version") {
      std::printf("heraldd %s\n", HERALD_VERSION);
      return 0;
    } else if (arg == "--help" || arg == "-h") {
      usage(stdout);
      return 0;
    } else if (arg == "--check-config") {
      check_only = true;
    } else if (arg == "--config" && i + 1 < argc) {
      config = argv[++i];
    } else if (arg.starts_with("--config=")) {
      config = arg.substr(9);
    } else {
      std::fprintf(stderr, "heraldd: unknown argument '%s'\n", arg.c_str());
      usage(stderr);
      return 2;
    }
  }

  herald::Logger log(stdout);
  try {
    herald::Settings settings = herald::load_settings(config);
    if (check_only) {
      herald::check_config(settings);
      std::printf("heraldd: configuration OK (%s)\n", settings.config_file.c_str());
      return 0;
    }
    log.set_level(settings.log_level);
    log.info("starting", {{"version", HERALD_VERSION}, {"config", settings.config_file.string()}});
    int rc = herald::Daemon(std::move(settings), log).run();
    if (rc == herald::kExitRestart) {
      // Replay from disk in a fresh process (PostgreSQL's answer to a failed
      // fsync): nothing in this process's memory is trusted any more.
      log.warn("re-executing to replay the journal");
      std::fflush(stdout);
      ::execv("/proc/self/exe", argv);
      log.error("re-exec failed; exiting for the supervisor to restart", {{"error", std::strerror(errno)}});
    }
    return rc;
  } catch (const herald::ConfigError& e) {
    if (check_only) {
      std::fprintf(stderr, "heraldd: configuration error: %s\n", e.what());
    } else {
      log.error("configuration error", {{"error", e.what()}});
    }
    return 1;
  } catch (const std::exception& e) {
    if (check_only) std::fprintf(stderr, "heraldd: %s\n", e.what());
    else log.error("fatal", {{"error", e.what()}});
    return 1;
  }
}
