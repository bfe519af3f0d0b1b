#pragma once
// The ConfigError text of loading a resources directory made of `files`
// (name → TOML), or "" when it loads.
#include <string>
#include <utility>
#include <vector>

#include "core/config/toml_reader.hpp"
#include "core/resources/resource_set.hpp"
#include "tests/unit/temp_dir.hpp"

namespace herald {

inline std::string resource_load_error(const std::vector<std::pair<std::string, std::string>>& files) {
  TempDir dir;
  for (const auto& [name, content] : files) dir.write(name, content);
  try {
    load_resources(dir.path());
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

}  // namespace herald
