// `stoker`: entry point. Dispatches to a subcommand, maps errors to exit codes (0 ok, 1 runtime
// error, 2 usage error) and prints --help.
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "pipeline/error.h"

namespace stoker::cli {
namespace {

void print_usage() {
  std::printf("stoker: stream datasets larger than RAM or VRAM from disk into training.\n\n"
              "usage: stoker <command> [flags]   (stoker <command> --help for its flags)\n\ncommands:\n");
  for (const Command& c : commands()) std::printf("  %-13s %s\n", c.name, c.summary);
}

}  // namespace

const std::vector<Command>& commands() {
  static const std::vector<Command> all = {
      {"demo", "stream synthetic images through a pipeline and print per-stage stats",
       "  --images N            images to generate (20000)\n"
       "  --size S              image side in pixels (64)\n"
       "  --batch B             batch size (256)\n"
       "  --threads T           worker threads (all cores)\n"
       "  --memory-budget-mb M  pipeline memory budget in MiB (64)\n",
       demo_command},
  };
  return all;
}

}  // namespace stoker::cli

int main(int argc, char** argv) {
  using namespace stoker::cli;
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
    print_usage();
    return args.empty() ? 2 : 0;
  }
  const Command* cmd = nullptr;
  for (const Command& c : commands()) {
    if (args[0] == c.name) cmd = &c;
  }
  if (!cmd) {
    std::fprintf(stderr, "stoker: unknown command '%s'\n\n", args[0].c_str());
    print_usage();
    return 2;
  }
  try {
    Args parsed(cmd->name, std::vector<std::string>(args.begin() + 1, args.end()));
    if (parsed.help()) {
      std::printf("usage: stoker %s [flags]\n%s\n\nflags:\n%s", cmd->name, cmd->summary, cmd->help);
      return 0;
    }
    return cmd->run(parsed);
  } catch (const UsageError& e) {
    std::fprintf(stderr, "stoker %s: %s\n", cmd->name, e.what());
    return 2;
  } catch (const stoker::Error& e) {
    std::fprintf(stderr, "stoker %s: error: %s\n", cmd->name, e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "stoker %s: error: %s\n", cmd->name, e.what());
    return 1;
  }
}
