// The subcommands of `stoker`. Each returns the process exit code: 0 ok, 1 runtime error;
// usage errors are thrown as UsageError and become exit code 2 in main.
#pragma once

#include <string>
#include <vector>

#include "cli/args.h"

namespace stoker::cli {

struct Command {
  const char* name;
  const char* summary;
  const char* help;  // flags, one per line
  int (*run)(const Args& args);
};

const std::vector<Command>& commands();

int demo_command(const Args& args);

}  // namespace stoker::cli
