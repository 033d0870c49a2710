// Args: the flags of one `stoker` subcommand. `--name value`, `--name=value`, or a bare `--name`
// (value "true"); anything else is a positional. Switches (boolean flags) never take the next
// argument, so `--gray in out` keeps both positionals. Every getter marks its flag as known, so
// reject_unknown() after reading all flags turns a typo into a usage error (exit code 2).
#pragma once

#include <array>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <utility>
#include <string>
#include <vector>

namespace stoker::cli {

// A mistake in how the command was called: printed with a hint, exit code 2.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class Args {
 public:
  // `switches`: flags that never take the next argument as their value (--gray, not --gray x);
  // they still accept --name=false.
  Args(std::string command, const std::vector<std::string>& argv, const std::set<std::string>& switches = {});

  const std::string& command() const { return command_; }
  bool help() const { return help_; }
  const std::vector<std::string>& positionals() const { return positionals_; }

  bool has(const std::string& name) const;
  std::optional<std::string> get(const std::string& name) const;
  std::string get(const std::string& name, const std::string& fallback) const;
  // The flag's value; when absent, "" and reject_unknown() reports it (after unknown flags), so
  // call reject_unknown() before using the value.
  std::string require(const std::string& name) const;
  std::int64_t get_int(const std::string& name, std::int64_t fallback) const;
  double get_double(const std::string& name, double fallback) const;
  bool get_bool(const std::string& name) const;
  // Byte sizes: "512", "64K", "256M", "2G" (powers of 1024).
  std::uint64_t get_bytes(const std::string& name, std::uint64_t fallback) const;
  // One of `choices`.
  std::string get_choice(const std::string& name, const std::vector<std::string>& choices,
                         const std::string& fallback) const;
  // A comma-separated list.
  std::vector<std::string> get_list(const std::string& name, const std::vector<std::string>& fallback) const;

  // Image sizes: "HxW" or a single number for a square; {0, 0} when absent.
  std::pair<int, int> get_size(const std::string& name, std::pair<int, int> fallback = {0, 0}) const;
  // A positive integer (or 0 when allow_zero), at most `max`.
  std::int64_t get_count(const std::string& name, std::int64_t fallback, bool allow_zero = false,
                         std::int64_t max = std::numeric_limits<std::int64_t>::max()) const;

  // Positional `index` (named `what` in the message) or a UsageError.
  const std::string& positional(std::size_t index, const std::string& what) const;

  // Throws UsageError for a flag no getter asked for, or more than `max_positionals` positionals.
  void reject_unknown(std::size_t max_positionals = 0) const;

 private:
  std::string command_;
  std::map<std::string, std::string> flags_;
  std::vector<std::string> positionals_;
  bool help_ = false;
  mutable std::set<std::string> known_;
  mutable std::string missing_;  // first required flag that was absent
};

std::uint64_t parse_bytes(const std::string& text, const std::string& flag);
// "HxWxC" (e.g. 28x28x1), each part 1..65535; a UsageError naming `flag` otherwise.
std::array<std::int64_t, 3> parse_hwc(const std::string& text, const std::string& flag);

// Upper bounds of the flags several commands share: past them a value is a typo, not a request.
inline constexpr std::int64_t kMaxThreads = 1024;        // worker threads of one process
inline constexpr std::int64_t kMaxEpochs = 1'000'000;
inline constexpr std::int64_t kMaxBatch = 1 << 24;       // rows; the memory budget bounds it further
inline constexpr std::int64_t kMaxClasses = 1 << 20;

}  // namespace stoker::cli
