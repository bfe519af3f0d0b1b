#pragma once
// systemd readiness notification (Type=notify). A no-op when not started by
// systemd (NOTIFY_SOCKET unset).
#include <string_view>

namespace herald {
void notify_systemd(std::string_view state) noexcept;
}
