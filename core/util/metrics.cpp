#include "core/util/metrics.hpp"

#include <cstdio>
#include <stdexcept>

namespace herald {
namespace {

std::string render_labels(const Labels& labels) {
  if (labels.empty()) return {};
  std::string out = "{";
  bool first = true;
  for (const auto& [k, v] : labels) {
    if (!first) out += ',';
    first = false;
    out += k;
    out += "=\"";
    for (char c : v) {
      if (c == '\\' || c == '"') {
        out += '\\';
        out += c;
      } else if (c == '\n') {
        out += "\\n";
      } else {
        out += c;
      }
    }
    out += '"';
  }
  out += '}';
  return out;
}

// Inserts an extra label (le="...") into an already rendered label string.
std::string with_le(const std::string& labels, const char* le) {
  std::string extra = std::string("le=\"") + le + "\"";
  if (labels.empty()) return "{" + extra + "}";
  return labels.substr(0, labels.size() - 1) + "," + extra + "}";
}

void append_double(std::string& out, double v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  out += buf;
}

}  // namespace

const std::array<double, Histogram::kBuckets>& Histogram::bounds() noexcept {
  static const std::array<double, kBuckets> kBounds = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                       0.05,   0.1,     0.25,   0.5,   1,      2.5,   10,   100};
  return kBounds;
}

void Histogram::observe(double seconds) noexcept {
  const auto& b = bounds();
  for (size_t i = 0; i < kBuckets; ++i) {
    if (seconds <= b[i]) {
      buckets_[i].fetch_add(1, std::memory_order_relaxed);
      break;
    }
  }
  count_.fetch_add(1, std::memory_order_relaxed);
  if (seconds > 0) sum_micros_.fetch_add(static_cast<uint64_t>(seconds * 1e6), std::memory_order_relaxed);
}

MetricsRegistry::Family& MetricsRegistry::family(const std::string& name, const std::string& help, Kind kind) {
  auto [it, inserted] = families_.try_emplace(name);
  if (inserted) {
    it->second.kind = kind;
    it->second.help = help;
  } else if (it->second.kind != kind) {
    throw std::logic_error("metric " + name + " registered with two kinds");
  }
  return it->second;
}

Counter& MetricsRegistry::counter(const std::string& name, const std::string& help, const Labels& labels) {
  std::lock_guard lock(mutex_);
  auto& slot = family(name, help, Kind::counter).counters[render_labels(labels)];
  if (!slot) slot = std::make_unique<Counter>();
  return *slot;
}

Gauge& MetricsRegistry::gauge(const std::string& name, const std::string& help, const Labels& labels) {
  std::lock_guard lock(mutex_);
  auto& slot = family(name, help, Kind::gauge).gauges[render_labels(labels)];
  if (!slot) slot = std::make_unique<Gauge>();
  return *slot;
}

Histogram& MetricsRegistry::histogram(const std::string& name, const std::string& help, const Labels& labels) {
  std::lock_guard lock(mutex_);
  auto& slot = family(name, help, Kind::histogram).histograms[render_labels(labels)];
  if (!slot) slot = std::make_unique<Histogram>();
  return *slot;
}

std::string MetricsRegistry::render() const {
  std::lock_guard lock(mutex_);
  std::string out;
  out.reserve(4096);
  for (const auto& [name, fam] : families_) {
    out += "# HELP " + name + " " + fam.help + "\n";
    switch (fam.kind) {
      case Kind::counter:
        out += "# TYPE " + name + " counter\n";
        for (const auto& [labels, c] : fam.counters) out += name + labels + " " + std::to_string(c->value()) + "\n";
        break;
      case Kind::gauge:
        out += "# TYPE " + name + " gauge\n";
        for (const auto& [labels, g] : fam.gauges) out += name + labels + " " + std::to_string(g->value()) + "\n";
        break;
      case Kind::histogram: {
        out += "# TYPE " + name + " histogram\n";
        for (const auto& [labels, h] : fam.histograms) {
          uint64_t cumulative = 0;
          const auto& b = Histogram::bounds();
          for (size_t i = 0; i < Histogram::kBuckets; ++i) {
            cumulative += h->bucket(i);
            char le[32];
            std::snprintf(le, sizeof le, "%g", b[i]);
            out += name + "_bucket" + with_le(labels, le) + " " + std::to_string(cumulative) + "\n";
          }
          out += name + "_bucket" + with_le(labels, "+Inf") + " " + std::to_string(h->count()) + "\n";
          out += name + "_sum" + labels + " ";
          append_double(out, h->sum());
          out += "\n" + name + "_count" + labels + " " + std::to_string(h->count()) + "\n";
        }
        break;
      }
    }
  }
  return out;
}

}  // namespace herald
