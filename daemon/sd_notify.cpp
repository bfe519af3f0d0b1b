#include "daemon/sd_notify.hpp"

#include <systemd/sd-daemon.h>

#include <string>

namespace herald {
void notify_systemd(std::string_view state) noexcept { sd_notify(0, std::string(state).c_str()); }
}  // namespace herald
