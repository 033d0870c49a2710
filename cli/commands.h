// The subcommands of `stoker` and the dispatcher. Each command returns the process exit code:
// 0 ok, 1 runtime error (a stoker::Error: missing file, corrupt data, ...), 130 interrupted
// (train after Ctrl-C); usage errors are thrown as UsageError and become exit code 2 in run().
#pragma once

#include <string>
#include <vector>

#include "cli/args.h"

namespace stoker::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitRuntimeError = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitInterrupted = 130;  // 128 + SIGINT, as shells report it

struct Command {
  const char* name;
  const char* summary;
  const char* usage;  // the synopsis after "stoker <name>"
  const char* help;   // flags, one per line, then examples
  int (*run)(const Args& args);
};

const std::vector<Command>& commands();

// Runs `stoker args...` (args[0] is the command) and returns its exit code; messages go to
// stdout (results) and stderr (errors, "stoker <cmd>: ..." with a hint).
int run(const std::vector<std::string>& args);

int train_command(const Args& args);
int bench_command(const Args& args);
int convert_command(const Args& args);
int inspect_command(const Args& args);
int make_dataset_command(const Args& args);
int demo_command(const Args& args);

}  // namespace stoker::cli
