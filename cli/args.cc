// Flag parsing and validation for the `stoker` subcommands.
#include "cli/args.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>

namespace stoker::cli {

Args::Args(std::string command, const std::vector<std::string>& argv, const std::set<std::string>& switches)
    : command_(std::move(command)) {
  for (std::size_t i = 0; i < argv.size(); ++i) {
    const std::string& a = argv[i];
    if (a == "-h" || a == "--help") {
      help_ = true;
    } else if (a.rfind("--", 0) == 0 && a.size() > 2) {
      std::string name = a.substr(2), value = "true";
      if (auto eq = name.find('='); eq != std::string::npos) {
        value = name.substr(eq + 1);
        name = name.substr(0, eq);
      } else if (!switches.count(name) && i + 1 < argv.size() && argv[i + 1].rfind("--", 0) != 0) {
        value = argv[++i];
      }
      if (flags_.count(name)) throw UsageError("--" + name + " given twice");
      flags_[name] = value;
    } else {
      positionals_.push_back(a);
    }
  }
}

bool Args::has(const std::string& name) const {
  known_.insert(name);
  return flags_.count(name) > 0;
}

std::optional<std::string> Args::get(const std::string& name) const {
  known_.insert(name);
  auto it = flags_.find(name);
  if (it == flags_.end()) return std::nullopt;
  return it->second;
}

std::string Args::get(const std::string& name, const std::string& fallback) const {
  return get(name).value_or(fallback);
}

std::string Args::require(const std::string& name) const {
  auto v = get(name);
  if (!v || v->empty() || *v == "true") {
    // Reported by reject_unknown(), after unknown flags: a typo (--dat) explains a missing --data.
    if (missing_.empty()) missing_ = name;
    return "";
  }
  return *v;
}

std::int64_t Args::get_int(const std::string& name, std::int64_t fallback) const {
  auto v = get(name);
  if (!v) return fallback;
  errno = 0;
  char* end = nullptr;
  long long x = std::strtoll(v->c_str(), &end, 10);
  if (errno || end == v->c_str() || *end) throw UsageError("--" + name + " expects an integer, got '" + *v + "'");
  return x;
}

double Args::get_double(const std::string& name, double fallback) const {
  auto v = get(name);
  if (!v) return fallback;
  errno = 0;
  char* end = nullptr;
  double x = std::strtod(v->c_str(), &end);
  if (errno || end == v->c_str() || *end || !std::isfinite(x)) {
    throw UsageError("--" + name + " expects a finite number, got '" + *v + "'");
  }
  return x;
}

bool Args::get_bool(const std::string& name) const {
  auto v = get(name);
  if (!v) return false;
  if (*v == "true" || *v == "1" || *v == "yes") return true;
  if (*v == "false" || *v == "0" || *v == "no") return false;
  throw UsageError("--" + name + " expects true or false, got '" + *v + "'");
}

std::uint64_t parse_bytes(const std::string& text, const std::string& flag) {
  errno = 0;
  char* end = nullptr;
  double x = std::strtod(text.c_str(), &end);
  std::string unit = end ? std::string(end) : "";
  double scale = 1;
  if (unit == "" || unit == "B") scale = 1;
  else if (unit == "K" || unit == "KB" || unit == "KiB") scale = 1024.0;
  else if (unit == "M" || unit == "MB" || unit == "MiB") scale = 1024.0 * 1024;
  else if (unit == "G" || unit == "GB" || unit == "GiB") scale = 1024.0 * 1024 * 1024;
  else if (unit == "T" || unit == "TB" || unit == "TiB") scale = 1024.0 * 1024 * 1024 * 1024;
  else throw UsageError("--" + flag + " expects a size like 512M or 2G, got '" + text + "'");
  // NaN and infinity parse as numbers; a size must be finite and fit in 63 bits.
  if (errno || end == text.c_str() || !std::isfinite(x) || x < 0 || x * scale >= 0x1p63) {
    throw UsageError("--" + flag + " expects a size like 512M or 2G, got '" + text + "'");
  }
  return static_cast<std::uint64_t>(x * scale);
}

std::array<std::int64_t, 3> parse_hwc(const std::string& text, const std::string& flag) {
  std::array<std::int64_t, 3> out{};
  std::size_t start = 0;
  for (int k = 0; k < 3; ++k) {
    const std::size_t x = k < 2 ? text.find_first_of("xX", start) : text.size();
    const std::string part = x == std::string::npos ? "" : text.substr(start, x - start);
    errno = 0;
    char* end = nullptr;
    const long v = std::strtol(part.c_str(), &end, 10);
    if (part.empty() || errno || *end || v < 1 || v > 65535) {
      throw UsageError("--" + flag + " expects HxWxC (e.g. 28x28x1), got '" + text + "'");
    }
    out[static_cast<std::size_t>(k)] = v;
    start = x + 1;
  }
  return out;
}

std::uint64_t Args::get_bytes(const std::string& name, std::uint64_t fallback) const {
  auto v = get(name);
  return v ? parse_bytes(*v, name) : fallback;
}

std::string Args::get_choice(const std::string& name, const std::vector<std::string>& choices,
                             const std::string& fallback) const {
  std::string v = get(name, fallback);
  for (const std::string& c : choices) {
    if (c == v) return v;
  }
  std::string all;
  for (const std::string& c : choices) {
    if (!all.empty()) all += '|';
    all += c;
  }
  throw UsageError("--" + name + " expects one of " + all + ", got '" + v + "'");
}

std::vector<std::string> Args::get_list(const std::string& name, const std::vector<std::string>& fallback) const {
  auto v = get(name);
  if (!v) return fallback;
  std::vector<std::string> out;
  std::size_t start = 0;
  for (;;) {
    std::size_t comma = v->find(',', start);
    std::string item = v->substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (!item.empty()) out.push_back(item);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  if (out.empty()) throw UsageError("--" + name + " expects a comma-separated list");
  return out;
}

std::pair<int, int> Args::get_size(const std::string& name, std::pair<int, int> fallback) const {
  auto v = get(name);
  if (!v) return fallback;
  const std::string bad = "--" + name + " expects HxW (e.g. 128x128) or one number, got '" + *v + "'";
  auto parse = [&](const std::string& s) {
    errno = 0;
    char* end = nullptr;
    long x = std::strtol(s.c_str(), &end, 10);
    if (errno || s.empty() || end == s.c_str() || *end || x <= 0 || x > 65535) throw UsageError(bad);
    return static_cast<int>(x);
  };
  const std::size_t x = v->find_first_of("xX");
  if (x == std::string::npos) {
    int s = parse(*v);
    return {s, s};
  }
  return {parse(v->substr(0, x)), parse(v->substr(x + 1))};
}

std::int64_t Args::get_count(const std::string& name, std::int64_t fallback, bool allow_zero, std::int64_t max) const {
  const std::int64_t x = get_int(name, fallback);
  if (x < 0 || (x == 0 && !allow_zero)) {
    throw UsageError("--" + name + " expects a " + (allow_zero ? "non-negative" : "positive") + " integer, got " +
                     std::to_string(x));
  }
  if (x > max) throw UsageError("--" + name + " expects at most " + std::to_string(max) + ", got " + std::to_string(x));
  return x;
}

const std::string& Args::positional(std::size_t index, const std::string& what) const {
  if (index >= positionals_.size()) throw UsageError("missing " + what);
  return positionals_[index];
}

void Args::reject_unknown(std::size_t max_positionals) const {
  for (const auto& [name, value] : flags_) {
    if (!known_.count(name)) throw UsageError("unknown flag --" + name);
  }
  if (!missing_.empty()) throw UsageError("missing --" + missing_);
  if (positionals_.size() > max_positionals) {
    throw UsageError("unexpected argument '" + positionals_[max_positionals] + "'");
  }
}

}  // namespace stoker::cli
