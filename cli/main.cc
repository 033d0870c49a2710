// `stoker`: the command-line entry point. Everything but argv handling lives in stoker_cli
// (cli/dispatch.cc) so the tests run the same code in-process.
#include <string>
#include <vector>

#include "cli/commands.h"

int main(int argc, char** argv) {
  return stoker::cli::run(std::vector<std::string>(argv + 1, argv + argc));
}
