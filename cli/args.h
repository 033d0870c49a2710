// Args: the flags of one `stoker` subcommand. `--name value`, `--name=value`, or a bare `--name`
// (value "true"); anything else is a positional. Every getter marks its flag as known, so
// reject_unknown() after reading all flags turns a typo into a usage error (exit code 2).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>
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
  Args(std::string command, const std::vector<std::string>& argv);

  const std::string& command() const { return command_; }
  bool help() const { return help_; }
  const std::vector<std::string>& positionals() const { return positionals_; }

  bool has(const std::string& name) const;
  std::optional<std::string> get(const std::string& name) const;
  std::string get(const std::string& name, const std::string& fallback) const;
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

  void reject_unknown() const;

 private:
  std::string command_;
  std::map<std::string, std::string> flags_;
  std::vector<std::string> positionals_;
  bool help_ = false;
  mutable std::set<std::string> known_;
};

std::uint64_t parse_bytes(const std::string& text, const std::string& flag);

}  // namespace stoker::cli
