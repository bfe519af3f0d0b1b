#include "core/delivery/transport.hpp"

namespace herald {

const char* to_string(DeliveryStatus s) {
  switch (s) {
    case DeliveryStatus::delivered: return "delivered";
    case DeliveryStatus::transient_failure: return "transient_failure";
    case DeliveryStatus::permanent_failure: return "permanent_failure";
    case DeliveryStatus::expired: return "expired";
  }
  return "transient_failure";
}

const char* history_status(DeliveryStatus s) {
  switch (s) {
    case DeliveryStatus::delivered: return "delivered";
    case DeliveryStatus::transient_failure: return "deferred";
    case DeliveryStatus::permanent_failure: return "failed";
    case DeliveryStatus::expired: return "expired";
  }
  return "deferred";
}

}  // namespace herald
